// Package sqlqueuetest holds the tests that every dialect of sqlqueue
// runs beyond the backends' conformance suite: what the SQL design
// promises of itself (a lost lease loses to the next claimer, handles on
// one database share the work, an oversized row never leaves the
// database, tables created once by processes opening together, Destroy
// keeping other queues).
package sqlqueuetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/backendtest"
)

// Database is one fresh database (a scratch PostgreSQL database, a new
// SQLite file) for one test.
type Database struct {
	// Open opens a new, independent handle on queue cfg.Queue of this
	// database (it fills in cfg.URL). It may be called from several
	// goroutines at once; the test closes what it opens.
	Open func(cfg backends.Config) (backends.Queue, error)
	// InjectRaw inserts a row with plain SQL, as a stranger would: queue
	// and body only.
	InjectRaw func(t *testing.T, queue string, body []byte)
	// Plain is a handle on the database of the caller's own, as the store
	// has (transactional enqueue, tx.go).
	Plain *sql.DB
}

// Kit tells the tests how to get a fresh database.
type Kit struct {
	NewDatabase func(t *testing.T) Database
	// Lease is the visibility timeout the tests open queues with.
	Lease time.Duration
}

// Run runs the tests against k.
func Run(t *testing.T, k Kit) {
	tests := []struct {
		name string
		fn   func(*testing.T, Kit)
	}{
		{"ExpiredLeaseLosesToTheNextClaimer", testLeaseLost},
		{"TwoHandlesShareTheWork", testTwoHandles},
		{"OversizedRowIsDeadLetteredAtClaim", testOversizedRow},
		{"ConcurrentOpensCreateTheTablesOnce", testConcurrentOpens},
		{"DestroyKeepsOtherQueues", testDestroy},
		{"IdleConsumersDoNotSpin", testIdle},
		{"SameDatabaseTellsItsOwnFromAnother", testSameDatabase},
		{"PublishTxCommitsWithTheCallersTransaction", testPublishTx},
		{"AckTxCommitsWithTheCallersTransaction", testAckTx},
		{"DeadLetterTxCommitsWithTheCallersTransaction", testDeadLetterTx},
		{"AckTxOfALostLeaseSaysSo", testAckTxLeaseLost},
		{"PlainSettlementAfterARolledBackTx", testPlainAfterRollback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, k) })
	}
}

func open(t *testing.T, db Database, cfg backends.Config) backends.Queue {
	t.Helper()
	q, err := db.Open(cfg)
	backendtest.Must(t, "Open "+cfg.Queue, err)
	t.Cleanup(func() { q.Close() })
	return q
}

// A consumer that kept a delivery past its lease without extending it
// loses it to the next claimer: its Extend and its settlement change
// nothing and say ErrLeaseLost, and the next claimer's ack stands.
func testLeaseLost(t *testing.T, k Kit) {
	db := k.NewDatabase(t)
	name := backendtest.QueueName(t)
	q := open(t, db, backends.Config{Queue: name, Lease: k.Lease})
	backendtest.Must(t, "Publish", q.Publish(backendtest.Context(t), backends.Message{ID: "m", Body: []byte("b")}))
	slow := backendtest.Receive(t, backendtest.Subscribe(t, q, "slow", 1), 5*time.Second)

	// The next claimer may take it once the lease has run out.
	next := backendtest.Receive(t, backendtest.Subscribe(t, open(t, db, backends.Config{Queue: name, Lease: k.Lease}), "next", 1), 5*k.Lease+5*time.Second)
	if got := next.Received(); got.ID != "m" || !got.Redelivered || got.Deliveries != 2 {
		t.Fatalf("next claimer got %s redelivered=%v deliveries=%d, want m redelivered, 2 deliveries", got.ID, got.Redelivered, got.Deliveries)
	}
	if err := slow.Extend(backendtest.Context(t)); !errors.Is(err, backends.ErrLeaseLost) {
		t.Errorf("Extend by the slow consumer: %v, want ErrLeaseLost", err)
	}
	if err := slow.Ack(backendtest.Context(t)); !errors.Is(err, backends.ErrLeaseLost) {
		t.Errorf("Ack by the slow consumer: %v, want ErrLeaseLost", err)
	}
	s, err := q.Stats(backendtest.Context(t))
	backendtest.Must(t, "Stats", err)
	if s.InFlight != 1 {
		t.Errorf("after the slow consumer's ack: %+v, want the next claimer's delivery still in flight", s)
	}
	backendtest.Must(t, "Ack by the next claimer", next.Ack(backendtest.Context(t)))
	s, err = q.Stats(backendtest.Context(t))
	backendtest.Must(t, "Stats", err)
	if s != (backends.Stats{}) {
		t.Errorf("after both acks: %+v, want an empty queue", s)
	}
}

// Two handles on one database (as two processes would have), each
// publishing and each consuming with two callers, share the work: every
// message is received once, none lost.
func testTwoHandles(t *testing.T, k Kit) {
	db := k.NewDatabase(t)
	name := backendtest.QueueName(t)
	const perHandle = 100
	handles := []backends.Queue{
		open(t, db, backends.Config{Queue: name, Lease: 5 * time.Second}),
		open(t, db, backends.Config{Queue: name, Lease: 5 * time.Second}),
	}
	var mu sync.Mutex
	seen := map[string]int{}
	// All received: the consumers stop waiting.
	all, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for h, q := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perHandle {
				m := backends.Message{ID: fmt.Sprintf("h%d-%03d", h, i), Body: []byte("x")}
				if err := q.Publish(context.Background(), m); err != nil {
					t.Errorf("Publish %s: %v", m.ID, err)
					return
				}
			}
		}()
		c := backendtest.Subscribe(t, q, fmt.Sprintf("h%d", h), 4)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					d, err := c.Receive(all)
					if err != nil {
						return // all received, or stuck: counted below
					}
					mu.Lock()
					seen[d.Received().ID]++
					if len(seen) == 2*perHandle {
						cancel()
					}
					mu.Unlock()
					if err := d.Ack(context.Background()); err != nil {
						t.Errorf("Ack %s: %v", d.Received().ID, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	if len(seen) != 2*perHandle {
		t.Errorf("received %d distinct messages, want %d", len(seen), 2*perHandle)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s received %d times, want once", id, n)
		}
	}
	s, err := handles[0].Stats(backendtest.Context(t))
	backendtest.Must(t, "Stats", err)
	if s != (backends.Stats{}) {
		t.Errorf("after the work: %+v, want an empty queue", s)
	}
}

// A row whose body is over the size limit (a stranger's) is moved to the
// dead letters inside the database, with the reason, and never handed
// out; the next message is.
func testOversizedRow(t *testing.T, k Kit) {
	db := k.NewDatabase(t)
	name := backendtest.QueueName(t)
	const limit = 1024
	q := open(t, db, backends.Config{Queue: name, Lease: k.Lease, MaxMessageBytes: limit})
	db.InjectRaw(t, name, make([]byte, limit+1))
	backendtest.Must(t, "Publish", q.Publish(backendtest.Context(t), backends.Message{ID: "fits", Body: make([]byte, limit)}))
	d := backendtest.Receive(t, backendtest.Subscribe(t, q, "c", 10), 5*time.Second)
	if got := d.Received(); got.ID != "fits" || len(got.Body) != limit {
		t.Fatalf("received %s of %d bytes, want fits of %d", got.ID, len(got.Body), limit)
	}
	backendtest.Must(t, "Ack", d.Ack(backendtest.Context(t)))
	dead, err := q.DeadLetters(backendtest.Context(t), 0)
	backendtest.Must(t, "DeadLetters", err)
	if len(dead) != 1 || len(dead[0].Body) != limit+1 || !strings.Contains(dead[0].Reason, "over the limit of 1024") {
		t.Errorf("dead letters %+v, want the oversized row with its body and the reason", dead)
	}
}

// Processes opening a fresh database at once create the tables once,
// without failing each other.
func testConcurrentOpens(t *testing.T, k Kit) {
	db := k.NewDatabase(t)
	name := backendtest.QueueName(t)
	var wg sync.WaitGroup
	qs := make([]backends.Queue, 4)
	for i := range qs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q, err := db.Open(backends.Config{Queue: name, Lease: k.Lease})
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			t.Cleanup(func() { q.Close() })
			qs[i] = q
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	backendtest.Must(t, "Publish", qs[0].Publish(backendtest.Context(t), backends.Message{ID: "m", Body: []byte("b")}))
	d := backendtest.Receive(t, backendtest.Subscribe(t, qs[3], "c", 1), 5*time.Second)
	backendtest.Must(t, "Ack", d.Ack(backendtest.Context(t)))
}

// Destroy deletes the queue's rows, in flight and dead too, and leaves
// the other queues of the database alone.
func testDestroy(t *testing.T, k Kit) {
	db := k.NewDatabase(t)
	name := backendtest.QueueName(t)
	q := open(t, db, backends.Config{Queue: name, Lease: 5 * time.Second})
	other := open(t, db, backends.Config{Queue: name + "-other", Lease: 5 * time.Second})
	backendtest.Must(t, "Publish", q.Publish(backendtest.Context(t), backends.Message{ID: "a", Body: []byte("a")}, backends.Message{ID: "b", Body: []byte("b")},
		backends.Message{ID: "c", Body: []byte("c")}))
	backendtest.Must(t, "Publish other", other.Publish(backendtest.Context(t), backends.Message{ID: "o", Body: []byte("o")}))
	c := backendtest.Subscribe(t, q, "c", 1)
	backendtest.Must(t, "DeadLetter", backendtest.Receive(t, c, 5*time.Second).DeadLetter(backendtest.Context(t), "gone"))
	backendtest.Receive(t, c, 5*time.Second) // in flight
	d, ok := q.(backends.Destroyer)
	if !ok {
		t.Fatalf("%T is not a backends.Destroyer", q)
	}
	backendtest.Must(t, "Destroy", d.Destroy(backendtest.Context(t)))
	probe := open(t, db, backends.Config{Queue: name})
	if s, err := probe.Stats(backendtest.Context(t)); err != nil || s != (backends.Stats{}) {
		t.Errorf("after Destroy: %+v (%v), want nothing left", s, err)
	}
	if s, err := other.Stats(backendtest.Context(t)); err != nil || s.Ready != 1 {
		t.Errorf("the other queue after Destroy: %+v (%v), want its message still ready", s, err)
	}
}

// cpuTime is the CPU time this process has used so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Consumers waiting on an empty queue wait (for a wakeup, the next poll)
// instead of spinning: over two seconds, eight of them use a small
// fraction of one CPU.
func testIdle(t *testing.T, k Kit) {
	db := k.NewDatabase(t)
	name := backendtest.QueueName(t)
	q := open(t, db, backends.Config{Queue: name, Lease: k.Lease})
	idle, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	before := cpuTime(t)
	for i := range 8 {
		c := backendtest.Subscribe(t, q, fmt.Sprintf("c%d", i), 4)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Receive(idle); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Receive on an empty queue: %v, want the deadline", err)
			}
		}()
	}
	wg.Wait()
	if used := cpuTime(t) - before; used > 400*time.Millisecond {
		t.Errorf("8 idle consumers used %v of CPU in 2s, want well under 400ms (a poll loop spinning?)", used)
	}
}
