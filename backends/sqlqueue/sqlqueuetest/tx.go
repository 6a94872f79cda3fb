package sqlqueuetest

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/backendtest"
)

// Transactional enqueue: a caller's transaction on the queue's database
// publishes and settles, and its commit or rollback decides.

func txQueue(t *testing.T, db Database, name string, lease time.Duration) backends.TxQueue {
	t.Helper()
	q, ok := open(t, db, backends.Config{Queue: name, Lease: lease}).(backends.TxQueue)
	if !ok {
		t.Fatal("the queue is not a backends.TxQueue")
	}
	return q
}

// inTx runs fn in a transaction of db's and commits it, or rolls it back
// when commit is false.
func inTx(t *testing.T, db *sql.DB, commit bool, fn func(*sql.Tx) error) {
	t.Helper()
	tx, err := db.BeginTx(backendtest.Context(t), nil)
	backendtest.Must(t, "BeginTx", err)
	if err := fn(tx); err != nil {
		tx.Rollback()
		t.Fatalf("in the transaction: %v", err)
	}
	if commit {
		backendtest.Must(t, "Commit", tx.Commit())
	} else {
		backendtest.Must(t, "Rollback", tx.Rollback())
	}
}

func stats(t *testing.T, q backends.Admin) backends.Stats {
	t.Helper()
	s, err := q.Stats(backendtest.Context(t))
	backendtest.Must(t, "Stats", err)
	return s
}

// The queue knows the caller's handle on its own database, and not a
// handle on another database of the same server or directory.
func testSameDatabase(t *testing.T, k Kit) {
	db := k.NewDatabase(t)
	q := txQueue(t, db, backendtest.QueueName(t), k.Lease)
	same, err := q.SameDatabase(backendtest.Context(t), db.Plain)
	backendtest.Must(t, "SameDatabase(own)", err)
	if !same {
		t.Error("SameDatabase(a handle on the queue's database) = false")
	}
	other := k.NewDatabase(t)
	same, err = q.SameDatabase(backendtest.Context(t), other.Plain)
	backendtest.Must(t, "SameDatabase(other)", err)
	if same {
		t.Error("SameDatabase(a handle on another database) = true")
	}
}

// A message published in a transaction that rolls back never existed;
// one whose transaction commits is received.
func testPublishTx(t *testing.T, k Kit) {
	db := k.NewDatabase(t)
	q := txQueue(t, db, backendtest.QueueName(t), k.Lease)
	inTx(t, db.Plain, false, func(tx *sql.Tx) error {
		return q.PublishTx(backendtest.Context(t), tx, backends.Message{ID: "gone", Body: []byte("b")})
	})
	if s := stats(t, q); s != (backends.Stats{}) {
		t.Fatalf("after a rolled-back PublishTx: %+v, want an empty queue", s)
	}
	inTx(t, db.Plain, true, func(tx *sql.Tx) error {
		return q.PublishTx(backendtest.Context(t), tx, backends.Message{ID: "kept", Body: []byte("b")})
	})
	q.Published()
	d := backendtest.Receive(t, backendtest.Subscribe(t, q, "c", 1), 5*time.Second)
	if got := d.Received(); got.ID != "kept" || got.Attempt != 1 {
		t.Fatalf("received %s attempt %d, want kept attempt 1", got.ID, got.Attempt)
	}
	backendtest.Must(t, "Ack", d.Ack(backendtest.Context(t)))
}

// An AckTx whose transaction rolls back leaves the delivery unsettled,
// to be settled again; one whose transaction commits is confirmed by Ack
// without a statement, and the message is gone for good.
func testAckTx(t *testing.T, k Kit) {
	db := k.NewDatabase(t)
	q := txQueue(t, db, backendtest.QueueName(t), k.Lease)
	backendtest.Must(t, "Publish", q.Publish(backendtest.Context(t), backends.Message{ID: "a", Body: []byte("b")}, backends.Message{ID: "b", Body: []byte("b")}))
	c := backendtest.Subscribe(t, q, "c", 1)

	first := backendtest.Receive(t, c, 5*time.Second)
	td := first.(backends.TxDelivery)
	inTx(t, db.Plain, false, func(tx *sql.Tx) error { return td.AckTx(backendtest.Context(t), tx) })
	if s := stats(t, q); s.InFlight != 1 || s.Ready != 1 {
		t.Fatalf("after a rolled-back AckTx: %+v, want 1 in flight and 1 ready", s)
	}
	// Still ours and unsettled: settled in a new transaction.
	inTx(t, db.Plain, true, func(tx *sql.Tx) error { return td.AckTx(backendtest.Context(t), tx) })
	if s := stats(t, q); s.InFlight != 0 || s.Ready != 1 {
		t.Fatalf("after a committed AckTx: %+v, want nothing in flight and 1 ready", s)
	}
	backendtest.Must(t, "Ack confirming the AckTx", first.Ack(backendtest.Context(t)))
	if err := first.Ack(backendtest.Context(t)); !errors.Is(err, backends.ErrSettled) {
		t.Errorf("a second Ack: %v, want ErrSettled", err)
	}

	// A rolled-back AckTx, then a plain settlement.
	second := backendtest.Receive(t, c, 5*time.Second)
	inTx(t, db.Plain, false, func(tx *sql.Tx) error { return second.(backends.TxDelivery).AckTx(backendtest.Context(t), tx) })
	backendtest.Must(t, "Release after a rolled-back AckTx", second.Release(backendtest.Context(t)))
	again := backendtest.Receive(t, c, 5*time.Second)
	if again.Received().ID != "b" {
		t.Fatalf("after Release got %s, want b again", again.Received().ID)
	}
	backendtest.Must(t, "Ack", again.Ack(backendtest.Context(t)))
	if s := stats(t, q); s != (backends.Stats{}) {
		t.Fatalf("at the end: %+v, want an empty queue", s)
	}
	// Nothing comes back after the lease: the committed ack was real.
	rc, cancel := context.WithTimeout(context.Background(), 2*k.Lease+500*time.Millisecond)
	defer cancel()
	if d, err := c.Receive(rc); err == nil {
		t.Fatalf("%s was delivered again after its ack committed", d.Received().ID)
	}
}

// A DeadLetterTx that commits moves the message to the dead letters, with
// its reason; DeadLetter confirms it.
func testDeadLetterTx(t *testing.T, k Kit) {
	db := k.NewDatabase(t)
	q := txQueue(t, db, backendtest.QueueName(t), k.Lease)
	backendtest.Must(t, "Publish", q.Publish(backendtest.Context(t), backends.Message{ID: "doomed", Body: []byte("b")}))
	d := backendtest.Receive(t, backendtest.Subscribe(t, q, "c", 1), 5*time.Second)
	inTx(t, db.Plain, false, func(tx *sql.Tx) error {
		return d.(backends.TxDelivery).DeadLetterTx(backendtest.Context(t), tx, "rolled back")
	})
	if s := stats(t, q); s.DeadLetters != 0 || s.InFlight != 1 {
		t.Fatalf("after a rolled-back DeadLetterTx: %+v, want it in flight and no dead letter", s)
	}
	inTx(t, db.Plain, true, func(tx *sql.Tx) error {
		return d.(backends.TxDelivery).DeadLetterTx(backendtest.Context(t), tx, "failed after 3 attempts")
	})
	backendtest.Must(t, "DeadLetter confirming the DeadLetterTx", d.DeadLetter(backendtest.Context(t), "ignored"))
	dls, err := q.DeadLetters(backendtest.Context(t), 0)
	backendtest.Must(t, "DeadLetters", err)
	if len(dls) != 1 || dls[0].ID != "doomed" || dls[0].Reason != "failed after 3 attempts" {
		t.Fatalf("dead letters: %+v, want doomed with the transaction's reason", dls)
	}
	if s := stats(t, q); s.InFlight != 0 || s.Ready != 0 {
		t.Fatalf("after the committed DeadLetterTx: %+v, want nothing left in the queue", s)
	}
}

// An AckTx by a consumer whose lease ran out deletes nothing: its Ack
// says ErrLeaseLost and the next claimer's delivery stands.
func testAckTxLeaseLost(t *testing.T, k Kit) {
	db := k.NewDatabase(t)
	name := backendtest.QueueName(t)
	q := txQueue(t, db, name, k.Lease)
	backendtest.Must(t, "Publish", q.Publish(backendtest.Context(t), backends.Message{ID: "m", Body: []byte("b")}))
	slow := backendtest.Receive(t, backendtest.Subscribe(t, q, "slow", 1), 5*time.Second)
	next := backendtest.Receive(t, backendtest.Subscribe(t, txQueue(t, db, name, k.Lease), "next", 1), 5*k.Lease+5*time.Second)
	inTx(t, db.Plain, true, func(tx *sql.Tx) error { return slow.(backends.TxDelivery).AckTx(backendtest.Context(t), tx) })
	if err := slow.Ack(backendtest.Context(t)); !errors.Is(err, backends.ErrLeaseLost) {
		t.Errorf("Ack confirming the slow consumer's AckTx: %v, want ErrLeaseLost", err)
	}
	if s := stats(t, q); s.InFlight != 1 {
		t.Fatalf("after the slow consumer's AckTx: %+v, want the next claimer's delivery in flight", s)
	}
	backendtest.Must(t, "Ack by the next claimer", next.Ack(backendtest.Context(t)))
}

// A settlement made in a transaction that rolled back is not confirmed
// by the plain method that follows (the worker's path when the store
// refused the outcome): Ack and DeadLetter then do their own work.
func testPlainAfterRollback(t *testing.T, k Kit) {
	db := k.NewDatabase(t)
	q := txQueue(t, db, backendtest.QueueName(t), k.Lease)
	ctx := backendtest.Context(t)
	backendtest.Must(t, "Publish", q.Publish(ctx, backends.Message{ID: "acked", Body: []byte("b")},
		backends.Message{ID: "dead", Body: []byte("b")}))
	c := backendtest.Subscribe(t, q, "c", 1)

	acked := backendtest.Receive(t, c, 5*time.Second)
	inTx(t, db.Plain, false, func(tx *sql.Tx) error { return acked.(backends.TxDelivery).AckTx(ctx, tx) })
	backendtest.Must(t, "plain Ack after a rolled-back AckTx", acked.Ack(ctx))

	dead := backendtest.Receive(t, c, 5*time.Second)
	inTx(t, db.Plain, false, func(tx *sql.Tx) error {
		return dead.(backends.TxDelivery).DeadLetterTx(ctx, tx, "rolled back")
	})
	backendtest.Must(t, "plain DeadLetter after a rolled-back DeadLetterTx", dead.DeadLetter(ctx, "the store refused it"))

	dls, err := q.DeadLetters(ctx, 0)
	backendtest.Must(t, "DeadLetters", err)
	if len(dls) != 1 || dls[0].ID != "dead" || dls[0].Reason != "the store refused it" {
		t.Errorf("dead letters: %+v, want dead with the plain call's reason", dls)
	}
	if s := stats(t, q); s.InFlight != 0 || s.Ready != 0 {
		t.Errorf("at the end: %+v, want nothing left in the queue", s)
	}
}
