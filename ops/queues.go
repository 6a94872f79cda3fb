package ops

import (
	"time"

	"github.com/palantir-lab/palantir/store"
)

// Queue is a queue as `palantir queue list -o json` prints it.
type Queue struct {
	Backend    string     `json:"backend"`
	Queue      string     `json:"queue"`
	Paused     bool       `json:"paused"`
	PausedAt   *time.Time `json:"paused_at"`
	Total      int        `json:"total"`      // missions launched on it
	Unfinished int        `json:"unfinished"` // of those, not ended
	LastLaunch *time.Time `json:"last_launch"`
}

// Queues are the store's queues as objects.
func Queues(qs []store.QueueInfo) []Queue {
	out := make([]Queue, len(qs))
	for i, q := range qs {
		out[i] = Queue{Backend: q.Backend, Queue: q.Queue, Paused: q.Paused, PausedAt: timePtr(q.PausedAt),
			Total: q.Total, Unfinished: q.Unfinished, LastLaunch: timePtr(q.LastLaunch)}
	}
	return out
}
