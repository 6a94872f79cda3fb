package ops

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/store"
)

// fakeAdmin counts what a purge asks of the queue: no real broker lacks
// Destroy (inproc is refused before it gets here).
type fakeAdmin struct {
	backends.Admin
	calls []string
}

func (f *fakeAdmin) Purge(context.Context) (int64, error) {
	f.calls = append(f.calls, "purge")
	return 3, nil
}

type fakeDestroyer struct{ *fakeAdmin }

func (f fakeDestroyer) Destroy(context.Context) error {
	f.calls = append(f.calls, "destroy")
	return nil
}

func TestPurgerPurges(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	plain := &fakeAdmin{}
	got, err := (&Purger{Store: st, Queue: plain, Backend: "redis", QueueName: "q"}).Purge(ctx, false)
	if err != nil || got != (PurgeResult{Purged: 3}) || len(plain.calls) != 1 {
		t.Errorf("plain purge: %+v, %v, calls %v; want 3 purged, nothing deleted", got, err, plain.calls)
	}

	_, err = (&Purger{Store: st, Queue: &fakeAdmin{}, Backend: "redis", QueueName: "q"}).Purge(ctx, true)
	if !errors.Is(err, ErrInvalid) || err.Error() != "invalid input: purge --all: the redis backend cannot delete its queue's objects" {
		t.Errorf("purge --all of a queue that cannot delete: %v, want an ErrInvalid naming the backend", err)
	}

	d := fakeDestroyer{&fakeAdmin{}}
	got, err = (&Purger{Store: st, Queue: d, Backend: "redis", QueueName: "q"}).Purge(ctx, true)
	if err != nil || !got.Deleted || len(d.calls) != 2 || d.calls[0] != "purge" || d.calls[1] != "destroy" {
		t.Errorf("purge --all: %+v, %v, calls %v; want purge then destroy", got, err, d.calls)
	}
}
