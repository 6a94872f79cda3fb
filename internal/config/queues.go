package config

import (
	"fmt"
	"strconv"
	"strings"
)

// QueueWeight is one queue of `worker --queue a,b` (or a=3,b=1): its
// name, and its weight (0 when the list gives none: strict priority by
// order).
type QueueWeight struct {
	Name   string
	Weight int
}

// MaxQueueWeight bounds a queue's weight: a share, not a count.
const MaxQueueWeight = 1000

// Queues parses the queue setting: one name, or for a worker several,
// separated by commas, in priority order or each with a weight
// (name=weight, 1 to MaxQueueWeight; a name without one weighs 1).
func (c Config) Queues() ([]QueueWeight, error) {
	var out []QueueWeight
	weighted := strings.Contains(c.Queue, "=")
	seen := map[string]bool{}
	for part := range strings.SplitSeq(c.Queue, ",") {
		name, weight, hasWeight := strings.Cut(strings.TrimSpace(part), "=")
		q := QueueWeight{Name: name}
		if !queueName.MatchString(name) {
			return nil, fmt.Errorf("%q: use letters, digits, '.', '_' and '-', starting with a letter or digit (several queues: a,b or a=3,b=1)", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%q is listed twice", name)
		}
		seen[name] = true
		if weighted {
			q.Weight = 1
		}
		if hasWeight {
			n, err := strconv.Atoi(weight)
			if err != nil || n < 1 || n > MaxQueueWeight {
				return nil, fmt.Errorf("%s: the weight must be a whole number from 1 to %d, got %q", name, MaxQueueWeight, weight)
			}
			q.Weight = n
		}
		out = append(out, q)
	}
	return out, nil
}
