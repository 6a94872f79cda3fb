package prefetch_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/internal/prefetch"
)

// delivery is a fake backend delivery.
type delivery struct {
	id      int
	fetched time.Time
	lost    bool // Extend says the lease is lost

	extends atomic.Int32
	dropped atomic.Bool
}

func (d *delivery) FetchedAt() time.Time { return d.fetched }

func (d *delivery) Extend(ctx context.Context) error {
	d.extends.Add(1)
	if d.lost {
		return fmt.Errorf("fake extend %d: %w", d.id, backends.ErrLeaseLost)
	}
	return nil
}

func (d *delivery) Drop() { d.dropped.Store(true) }

// fetcher is a fake backend: fetch answers each Fetch. It fails the test
// if two Fetches overlap.
type fetcher struct {
	t     *testing.T
	fetch func(ctx context.Context, want int) ([]*delivery, error)

	inFlight atomic.Int32
	calls    atomic.Int32
	mu       sync.Mutex
	wants    []int
	given    []*delivery
}

func (f *fetcher) Fetch(ctx context.Context, want int) ([]*delivery, error) {
	if n := f.inFlight.Add(1); n != 1 {
		f.t.Errorf("%d Fetches at once, want one at most", n)
	}
	defer f.inFlight.Add(-1)
	f.calls.Add(1)
	f.mu.Lock()
	f.wants = append(f.wants, want)
	f.mu.Unlock()
	return f.fetch(ctx, want)
}

func (f *fetcher) GiveBack(ctx context.Context, ds []*delivery) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.given = append(f.given, ds...)
}

// batches returns a fetch that hands out n deliveries, ids 0 to n-1, up
// to want at a time, then waits for ctx or stop.
func batches(n int, stop <-chan struct{}) func(context.Context, int) ([]*delivery, error) {
	next := 0
	return func(ctx context.Context, want int) ([]*delivery, error) {
		if next == n {
			select {
			case <-ctx.Done():
			case <-stop:
			}
			return nil, nil
		}
		var ds []*delivery
		for ; next < n && len(ds) < want; next++ {
			ds = append(ds, &delivery{id: next, fetched: time.Now()})
		}
		return ds, nil
	}
}

func newConsumer(t *testing.T, f *fetcher, opts prefetch.Options) *prefetch.Consumer[*delivery] {
	t.Helper()
	f.t = t
	if opts.Op == "" {
		opts.Op = "fake receive q"
	}
	if opts.GiveBackWithin == 0 {
		opts.GiveBackWithin = time.Second
	}
	c := prefetch.New[*delivery](f, opts)
	t.Cleanup(func() { c.Stop() })
	return c
}

func receive(t *testing.T, c *prefetch.Consumer[*delivery], within time.Duration) *delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	d, err := c.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive within %v: %v", within, err)
	}
	return d
}

// Several callers share one consumer: each delivery goes to exactly one
// of them, one Fetch at a time, and a Fetch asks for Prefetch less what
// is handed out and not settled.
func TestConcurrentReceiversGetEachDeliveryOnce(t *testing.T) {
	const n, callers, prefetchN = 200, 8, 7
	stop := make(chan struct{})
	f := &fetcher{}
	f.fetch = batches(n, stop)
	c := newConsumer(t, f, prefetch.Options{Prefetch: prefetchN, Lease: time.Minute})

	var (
		mu  sync.Mutex
		got = map[int]int{}
		wg  sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range callers {
		wg.Go(func() {
			for {
				d, err := c.Receive(ctx)
				if err != nil {
					if !errors.Is(err, backends.ErrClosed) {
						t.Errorf("Receive: %v, want ErrClosed once all are in", err)
					}
					return
				}
				mu.Lock()
				got[d.id]++
				done := len(got) == n
				mu.Unlock()
				c.Settled()
				if done {
					c.Stop()
					close(stop)
				}
			}
		})
	}
	wg.Wait()
	for id := range n {
		if got[id] != 1 {
			t.Errorf("delivery %d received %d times, want once", id, got[id])
		}
	}
	for i, w := range f.wants {
		if w < 1 || w > prefetchN {
			t.Errorf("Fetch %d asked for %d, want 1 to %d", i, w, prefetchN)
		}
	}
}

// A Fetch asks for Prefetch less the deliveries handed out and not yet
// settled, and for one at least.
func TestFetchWantsPrefetchLessOutstanding(t *testing.T) {
	f := &fetcher{}
	f.fetch = func(ctx context.Context, want int) ([]*delivery, error) {
		return []*delivery{{id: int(f.calls.Load()), fetched: time.Now()}}, nil
	}
	c := newConsumer(t, f, prefetch.Options{Prefetch: 3, Lease: time.Minute})
	for range 5 {
		receive(t, c, time.Second)
	}
	c.Settled()
	receive(t, c, time.Second)
	want := []int{3, 2, 1, 1, 1, 1}
	if fmt.Sprint(f.wants) != fmt.Sprint(want) {
		t.Errorf("Fetch asked for %v, want %v", f.wants, want)
	}
}

// A delivery handed out within half a lease of its fetch is not renewed;
// one that waited longer in the buffer is, once, before it is handed out.
func TestBufferedDeliveryIsRenewedAfterHalfALease(t *testing.T) {
	const lease = 200 * time.Millisecond
	f := &fetcher{}
	f.fetch = batches(2, nil)
	c := newConsumer(t, f, prefetch.Options{Prefetch: 2, Lease: lease})

	first := receive(t, c, time.Second)
	time.Sleep(lease/2 + 10*time.Millisecond)
	second := receive(t, c, time.Second)
	if first.id != 0 || second.id != 1 {
		t.Fatalf("received %d then %d, want 0 then 1", first.id, second.id)
	}
	if got := first.extends.Load(); got != 0 {
		t.Errorf("the fresh delivery was extended %d times, want 0", got)
	}
	if got := second.extends.Load(); got != 1 {
		t.Errorf("the delivery that waited half a lease was extended %d times, want 1", got)
	}
	if second.dropped.Load() {
		t.Errorf("a renewed delivery was dropped")
	}
}

// A buffered delivery whose renewal says the lease is lost is dropped,
// not handed out, nor counted as outstanding; the caller gets the next.
func TestLostBufferedDeliveryIsDroppedForTheNext(t *testing.T) {
	const lease = 100 * time.Millisecond
	var fetched []*delivery
	f := &fetcher{}
	f.fetch = func(ctx context.Context, want int) ([]*delivery, error) {
		if f.calls.Load() > 1 {
			now := time.Now()
			return []*delivery{{id: 9, fetched: now}}, nil
		}
		old := time.Now().Add(-lease)
		fetched = []*delivery{{id: 0, fetched: old, lost: true}, {id: 1, fetched: old}}
		return fetched, nil
	}
	c := newConsumer(t, f, prefetch.Options{Prefetch: 4, Lease: lease})

	d := receive(t, c, time.Second)
	if d.id != 1 {
		t.Fatalf("received %d, want 1 (0's lease was lost)", d.id)
	}
	if !fetched[0].dropped.Load() {
		t.Errorf("the delivery whose lease was lost was not dropped")
	}
	if got := fetched[1].extends.Load(); got != 1 {
		t.Errorf("the next delivery was extended %d times, want 1 (it is as old)", got)
	}
	receive(t, c, time.Second)
	// Outstanding at the second Fetch: 1, not 0.
	if got, want := f.wants[len(f.wants)-1], 3; got != want {
		t.Errorf("the second Fetch asked for %d, want %d (the dropped one is not outstanding)", got, want)
	}
}

// Stop wakes every waiting caller, the one in Fetch and those waiting for
// it, with an error wrapping ErrClosed; so does closing the queue.
func TestCloseWakesWaitersWithErrClosed(t *testing.T) {
	for _, tt := range []struct {
		name  string
		close func(c *prefetch.Consumer[*delivery], queueDone chan struct{})
	}{
		{"consumer stopped", func(c *prefetch.Consumer[*delivery], _ chan struct{}) { c.Stop() }},
		{"queue closed", func(_ *prefetch.Consumer[*delivery], q chan struct{}) { close(q) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			queueDone := make(chan struct{})
			entered := make(chan struct{}, 1)
			f := &fetcher{}
			var c *prefetch.Consumer[*delivery]
			f.fetch = func(ctx context.Context, want int) ([]*delivery, error) {
				entered <- struct{}{}
				select { // as a backend waits: for ctx, its consumer or its queue
				case <-ctx.Done():
				case <-c.Done():
				case <-queueDone:
				}
				return nil, nil
			}
			c = newConsumer(t, f, prefetch.Options{Prefetch: 1, Lease: time.Minute, QueueDone: queueDone, Op: "fake receive q"})

			const callers = 4
			errs := make(chan error, callers)
			for range callers {
				go func() {
					_, err := c.Receive(context.Background())
					errs <- err
				}()
			}
			<-entered
			time.Sleep(20 * time.Millisecond) // the others wait for the token
			tt.close(c, queueDone)
			for range callers {
				select {
				case err := <-errs:
					if !errors.Is(err, backends.ErrClosed) {
						t.Errorf("Receive: %v, want ErrClosed", err)
					} else if want := "fake receive q: " + backends.ErrClosed.Error(); err.Error() != want {
						t.Errorf("Receive: %q, want %q", err, want)
					}
				case <-time.After(2 * time.Second):
					t.Fatalf("a Receive still waits 2s after the close")
				}
			}
			if !c.Closed() {
				t.Errorf("Closed() = false after the close")
			}
		})
	}
}

// What a Fetch returns after Stop is given back, not buffered; Stop
// returns what was buffered, once; AwaitFetch waits for the Fetch.
func TestStopGivesBack(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	f := &fetcher{}
	f.fetch = func(ctx context.Context, want int) ([]*delivery, error) {
		if f.calls.Load() == 1 {
			return []*delivery{{id: 0, fetched: time.Now()}, {id: 1, fetched: time.Now()}}, nil
		}
		close(entered)
		<-release
		return []*delivery{{id: 2, fetched: time.Now()}}, nil
	}
	c := newConsumer(t, f, prefetch.Options{Prefetch: 2, Lease: time.Minute})
	receive(t, c, time.Second) // 0; 1 stays buffered
	if got := c.Buffered(); got != 1 {
		t.Fatalf("Buffered() = %d, want 1", got)
	}
	receive(t, c, time.Second) // 1
	go func() { _, _ = c.Receive(context.Background()) }()
	<-entered

	rest := c.Stop()
	if len(rest) != 0 {
		t.Errorf("Stop returned %d buffered, want 0", len(rest))
	}
	if again := c.Stop(); again != nil {
		t.Errorf("second Stop returned %v, want nil", again)
	}
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.AwaitFetch(ctx)
	if ctx.Err() != nil {
		t.Fatalf("AwaitFetch did not return after the Fetch did")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.given) != 1 || f.given[0].id != 2 {
		t.Errorf("given back %v, want delivery 2", f.given)
	}
	if got := c.Buffered(); got != 0 {
		t.Errorf("Buffered() = %d after Stop, want 0", got)
	}
}

// Cancelling ctx returns ctx's error, from a caller waiting for another's
// Fetch at once, and from the caller in Fetch when Fetch returns; what
// that Fetch brought is buffered for the next Receive.
func TestCancelReceive(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	f := &fetcher{}
	f.fetch = func(ctx context.Context, want int) ([]*delivery, error) {
		if f.calls.Load() == 1 {
			close(entered)
			<-ctx.Done()
			<-release // a reply on its way is not abandoned
			return []*delivery{{id: 7, fetched: time.Now()}}, nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	c := newConsumer(t, f, prefetch.Options{Prefetch: 1, Lease: time.Minute})

	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { _, err := c.Receive(ctx1); first <- err }()
	<-entered
	go func() { _, err := c.Receive(ctx2); second <- err }()

	time.Sleep(20 * time.Millisecond)
	cancel2()
	select {
	case err := <-second:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("waiting Receive: %v, want context.Canceled", err)
		}
	case <-time.After(time.Second):
		t.Fatalf("a Receive waiting for another's Fetch did not return at once when cancelled")
	}

	cancel1()
	close(release)
	select {
	case err := <-first:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("fetching Receive: %v, want context.Canceled", err)
		}
	case <-time.After(time.Second):
		t.Fatalf("the fetching Receive did not return when its Fetch did")
	}
	if d := receive(t, c, time.Second); d.id != 7 {
		t.Errorf("next Receive got %d, want 7, fetched for the cancelled one", d.id)
	}
}

// A Fetch error goes to the caller whose Fetch it was; the consumer goes
// on fetching for the next caller.
func TestFetchErrorIsReturned(t *testing.T) {
	boom := fmt.Errorf("fake receive q: %w", backends.ErrUnreachable)
	f := &fetcher{}
	f.fetch = func(ctx context.Context, want int) ([]*delivery, error) {
		if f.calls.Load() == 1 {
			return nil, boom
		}
		return []*delivery{{id: 1, fetched: time.Now()}}, nil
	}
	c := newConsumer(t, f, prefetch.Options{Prefetch: 1, Lease: time.Minute})
	if _, err := c.Receive(context.Background()); !errors.Is(err, backends.ErrUnreachable) {
		t.Fatalf("Receive: %v, want the Fetch's ErrUnreachable", err)
	}
	if d := receive(t, c, time.Second); d.id != 1 {
		t.Errorf("Receive got %d, want 1", d.id)
	}
}

// Buffer alone, as nats uses it: FIFO, Pop counts outstanding, Drain does
// not, Vet drops a lost one and uncounts it.
func TestBuffer(t *testing.T) {
	const lease = time.Minute
	b := prefetch.NewBuffer[*delivery](lease)
	old := time.Now().Add(-lease)
	b.Push(&delivery{id: 0, fetched: time.Now()}, &delivery{id: 1, fetched: old, lost: true})
	b.Push(&delivery{id: 2, fetched: old})

	var got []int
	for {
		d, ok := b.Pop()
		if !ok {
			break
		}
		if b.Vet(context.Background(), d) {
			got = append(got, d.id)
		}
	}
	if fmt.Sprint(got) != "[0 2]" {
		t.Errorf("handed out %v, want [0 2]", got)
	}
	if n := b.Outstanding(); n != 2 {
		t.Errorf("Outstanding() = %d, want 2", n)
	}
	b.Settled()
	if n := b.Outstanding(); n != 1 {
		t.Errorf("Outstanding() after Settled = %d, want 1", n)
	}
	b.Push(&delivery{id: 3})
	if rest := b.Drain(); len(rest) != 1 || rest[0].id != 3 || b.Len() != 0 || b.Outstanding() != 1 {
		t.Errorf("Drain() = %v, Len %d, Outstanding %d; want [3], 0, 1", rest, b.Len(), b.Outstanding())
	}
}
