package nats

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// Names are the JetStream objects of one palantir queue. For the queue
// "missions" they are the streams PALANTIR_MISSIONS,
// PALANTIR_MISSIONS_DELAYED and PALANTIR_MISSIONS_DEAD on the subjects
// palantir.MISSIONS, palantir.MISSIONS.delayed and
// palantir.MISSIONS.dead, and the durable consumers palantir (on the work
// stream) and palantir-mover (on the delayed stream).
type Names struct {
	// Key is the queue name as it appears in every other name: upper-cased,
	// with what NATS forbids replaced (see NamesFor).
	Key string

	Work, Delayed, Dead                      string // streams
	WorkSubject, DelayedSubject, DeadSubject string

	Consumer string // the durable pull consumer every worker shares
	Mover    string // the durable consumer that moves due retries
}

// maxKey bounds the key, so that stream names (which the server also
// uses as directory names) stay short.
const maxKey = 64

// NamesFor returns the names of queue. Stream names may not hold '.', '*',
// '>', white space or path separators, and subject tokens may not hold
// the first four, so the key keeps letters (upper-cased), digits and '-'
// and turns anything else into '-'. Two queue names must never share a
// key: a name with anything but lower-case letters, digits and '-' (one
// that upper-casing or replacing changed beyond recovery) gets a hash of
// itself appended, and a name too long is cut and hashed too. The key
// never holds '_', which separates it from the suffixes _DELAYED and
// _DEAD.
func NamesFor(queue string) Names {
	var b strings.Builder
	plain := true
	for _, r := range queue {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r)
			plain = false
		default:
			b.WriteByte('-')
			plain = false
		}
	}
	key := b.String()
	if !plain || len(key) > maxKey {
		h := fnv.New32a()
		h.Write([]byte(queue))
		key = fmt.Sprintf("%s-%08X", key[:min(len(key), maxKey-9)], h.Sum32())
	}
	return Names{
		Key:            key,
		Work:           "PALANTIR_" + key,
		Delayed:        "PALANTIR_" + key + "_DELAYED",
		Dead:           "PALANTIR_" + key + "_DEAD",
		WorkSubject:    "palantir." + key,
		DelayedSubject: "palantir." + key + ".delayed",
		DeadSubject:    "palantir." + key + ".dead",
		Consumer:       "palantir",
		Mover:          "palantir-mover",
	}
}
