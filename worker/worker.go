package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// Store is what a worker needs of the store.
type Store interface {
	BeginAttempt(ctx context.Context, o mission.Order, backend, queue string, attempt int, worker string, at time.Time) (store.Begin, error)
	SetProgress(ctx context.Context, id string, attempt, progress int, stage string, at time.Time) error
	MarkRetry(ctx context.Context, id string, attempt int, reason string, at time.Time) error
	MarkRequeued(ctx context.Context, id string, attempt int, at time.Time) error
	Complete(ctx context.Context, m store.Mission, points int, at time.Time, beside store.Beside) (bool, error)
	Fail(ctx context.Context, id string, attempt int, worker, reason string, at time.Time, beside store.Beside) (bool, error)
	Heartbeat(ctx context.Context, w store.Worker) error
	// CancelledOf returns those of ids that `palantir cancel` ended.
	CancelledOf(ctx context.Context, ids []string) ([]string, error)
	// QueuePaused reports whether `palantir queue pause` paused the queue.
	QueuePaused(ctx context.Context, backend, queue string) (bool, error)
	Driver() string
}

// Config sets a worker up. Zero values take the defaults in brackets.
type Config struct {
	Name        string // [worker-PID]
	Concurrency int    // missions executing at once [1]
	// Prefetch is how many deliveries the worker may hold unsettled at
	// once: the ones executing, the ones waiting for a free execution
	// slot and the ones whose outcome is being persisted before the ack
	// [Concurrency]. Raising it lets one store commit and one broker round
	// trip serve many missions (short missions go much faster), at the
	// price of fair dispatch: a long mission may wait here behind another
	// while a different worker idles. A worker of several queues holds
	// this many of each, and at least 2×Concurrency+1 (NewFeeds).
	Prefetch int
	// MaxMissions stops the worker after it has settled this many
	// deliveries (0: never).
	MaxMissions int
	// MaxMessageBytes: a larger message is dead-lettered unread
	// [backends.DefaultMaxMessageBytes].
	MaxMessageBytes int
	// MaxDeliveries: a message delivered more often than this without an
	// outcome (it crashed or outlived every worker that took it) is
	// dead-lettered [backends.DefaultMaxDeliveries].
	MaxDeliveries int
	// StoreTimeout bounds one store write: a store that stops answering
	// without an error (a half-open connection) is then treated as away,
	// said, and retried, instead of being waited on for ever [30s].
	StoreTimeout time.Duration
	// Lease is the backend's visibility timeout; the worker extends the
	// lease of each running mission every Lease/3 [backends.DefaultLease].
	Lease time.Duration
	// ShutdownTimeout is how long in-flight missions may run on after Run's
	// context ends [30s].
	ShutdownTimeout time.Duration
	// HeartbeatEvery is how often the worker tells the store it lives [1s].
	HeartbeatEvery time.Duration
	Backend, Queue string
	Logger         *slog.Logger
	// Sleep is how stages take time; tests pass a faster one, and bench
	// one that does not wait at all [mission.Sleep].
	Sleep mission.Sleeper
	// Observe, when set, is told about every delivery once it is settled
	// (or abandoned). It runs on the worker's goroutine: keep it cheap.
	Observe func(Observation)
	// OnBrokerError, when set, is told when receiving fails, or
	// subscribing fails with ErrUnreachable, and the worker waits before
	// trying again (the worker command prints it).
	OnBrokerError func(err error, retryIn time.Duration)
}

// Result is what became of one delivery.
type Result string

// The results an Observation reports.
const (
	Succeeded  Result = "success"   // completed and recorded now
	Duplicate  Result = "duplicate" // already recorded by another delivery
	Retried    Result = "retry"     // failed; the next attempt is scheduled
	Failed     Result = "failure"   // failed its last attempt; dead-lettered
	Malformed  Result = "malformed" // cannot be run (not a mission, too large, refused by the store); dead-lettered
	Released   Result = "released"  // given back unfinished
	NotSettled Result = "unsettled" // the broker refused the settlement
	Cancelled  Result = "cancelled" // cancelled before or while it ran; acknowledged
)

// Observation describes one handled delivery, for measurement.
type Observation struct {
	Received backends.Received
	// Taken is when Receive returned it; Settled when the worker was done.
	Taken, Settled time.Time
	Result         Result
}

func (c *Config) defaults() {
	if c.Name == "" {
		c.Name = fmt.Sprintf("worker-%d", os.Getpid())
	}
	if c.Concurrency < 1 {
		c.Concurrency = 1
	}
	if c.Prefetch < c.Concurrency {
		c.Prefetch = c.Concurrency
	}
	if c.Lease <= 0 {
		c.Lease = backends.DefaultLease
	}
	lim := backends.Config{MaxMessageBytes: c.MaxMessageBytes, MaxDeliveries: c.MaxDeliveries}
	c.MaxMessageBytes, c.MaxDeliveries = lim.MaxBytes(), lim.DeliveryLimit()
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.StoreTimeout <= 0 {
		// Above SQLite's 15 s busy timeout: a store merely busy is not
		// taken for one that is gone.
		c.StoreTimeout = 30 * time.Second
	}
	if c.HeartbeatEvery <= 0 {
		c.HeartbeatEvery = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Sleep == nil {
		c.Sleep = mission.Sleep
	}
}

// MaxPrefetch bounds Config.Prefetch: one goroutine per delivery held,
// and RabbitMQ's basic.qos takes a 16-bit count.
const MaxPrefetch = 65535

// Feed is one queue of the several a worker may consume (NewFeeds).
type Feed struct {
	Queue string
	Sub   backends.Subscriber
	// Weight is the queue's share of the execution slots when several
	// queues have deliveries waiting for one. With every weight 0 the
	// order of the feeds is a strict priority: the first queue's
	// deliveries always go first.
	Weight int
}

// feed is a Feed as the worker runs it.
type feed struct {
	Feed
	index int
	// paused holds deliveries before their slot while the queue is
	// paused (read from the store every heartbeat).
	paused gate
}

// Worker consumes one queue, or several with priorities. Create it with
// New or NewFeeds; Run it once.
type Worker struct {
	cfg   Config
	feeds []*feed
	st    Store
	tel   *telemetry.Recorder
	log   *slog.Logger
	self  string // telemetry service name

	taken     atomic.Int64 // deliveries reserved against MaxMissions
	processed atomic.Int64
	released  atomic.Int64
	started   time.Time

	slots  *slots // one per mission executing
	health *health
	// inTx: the queues live in the store's database, and each outcome
	// commits with its message's settlement (settle.go).
	inTx bool

	mu sync.Mutex
	// current are the missions in progress, each with what stops it when
	// it is cancelled.
	current map[string]context.CancelCauseFunc
	// hurry ends the shutdown's wait for in-flight missions (Hurry);
	// hurried says it was called, maybe before Run set hurry.
	hurry   context.CancelFunc
	hurried bool
}

// Hurry ends a shutdown's wait now: missions still running are returned
// to the queue at once instead of being given the shutdown timeout (a
// second Ctrl-C). Safe to call at any time, from any goroutine; before
// the worker was told to stop, it stops it from finishing anything.
func (w *Worker) Hurry() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hurried = true
	if w.hurry != nil {
		w.hurry()
	}
}

// Running is how many missions are executing now.
func (w *Worker) Running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.current)
}

// New returns a worker that takes deliveries from sub, cfg.Queue's.
func New(cfg Config, sub backends.Subscriber, st Store, tel *telemetry.Recorder) *Worker {
	return NewFeeds(cfg, []Feed{{Queue: cfg.Queue, Sub: sub}}, st, tel)
}

// NewFeeds returns a worker that consumes several queues of one backend
// (at least one), sharing its execution slots between them by their
// priority (Feed.Weight). It holds up to Prefetch deliveries of each
// queue; those waiting for a slot keep their leases. cfg.Queue is
// ignored: the worker calls itself a worker of QueueList(feeds).
func NewFeeds(cfg Config, feeds []Feed, st Store, tel *telemetry.Recorder) *Worker {
	if len(feeds) > 1 {
		// A slot freed by a queue's mission goes to whoever waits for it
		// then. With no more deliveries of a queue than slots, the one
		// that just finished would still be settling, not waiting, and
		// the slot would go to a lower queue every time; with as many
		// again and one, it has the length of a mission or more to come
		// back.
		cfg.Prefetch = max(cfg.Prefetch, 2*max(cfg.Concurrency, 1)+1)
	}
	cfg.defaults()
	cfg.Queue = QueueList(feeds)
	w := &Worker{cfg: cfg, st: st, tel: tel, log: cfg.Logger.With("worker", cfg.Name),
		self: telemetry.Worker(cfg.Name), current: map[string]context.CancelCauseFunc{},
		health: newHealth(cfg.Logger.With("worker", cfg.Name))}
	var weights []int
	for i, f := range feeds {
		w.feeds = append(w.feeds, &feed{Feed: f, index: i})
		if f.Weight > 0 {
			weights = make([]int, len(feeds))
		}
	}
	if weights != nil {
		for i, f := range feeds {
			weights[i] = max(f.Weight, 1)
		}
	}
	w.slots = newSlots(cfg.Concurrency, len(feeds), weights)
	return w
}

// QueueList names the feeds' queues as the worker's heartbeat does, and
// as `worker --queue` takes them: "a,b" in priority order, or with
// weights "a=3,b=1".
func QueueList(feeds []Feed) string {
	weighted := slices.ContainsFunc(feeds, func(f Feed) bool { return f.Weight > 0 })
	parts := make([]string, len(feeds))
	for i, f := range feeds {
		parts[i] = f.Queue
		if weighted {
			parts[i] += "=" + strconv.Itoa(max(f.Weight, 1))
		}
	}
	return strings.Join(parts, ",")
}

// Processed is how many deliveries the worker has handled, released ones
// included.
func (w *Worker) Processed() int64 { return w.processed.Load() }

// Released is how many deliveries the worker gave back unfinished.
func (w *Worker) Released() int64 { return w.released.Load() }

// Run consumes until ctx ends or MaxMissions deliveries are settled, then
// shuts down as the package comment says. It returns an error only when
// the worker could not start or the broker failed for good.
func (w *Worker) Run(ctx context.Context) error {
	w.started = time.Now()
	conss := make([]backends.Consumer, len(w.feeds))
	for i, f := range w.feeds {
		cons, err := w.subscribe(ctx, f)
		if err != nil {
			return fmt.Errorf("worker %s: subscribe to %s: %w", w.cfg.Name, f.Queue, err)
		}
		if cons == nil {
			return nil // stopped while waiting for the broker
		}
		defer cons.Close()
		conss[i] = cons
	}
	w.inTx = w.settlesInStore(ctx)

	// work outlives ctx by ShutdownTimeout, so in-flight missions can finish.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	w.mu.Lock()
	w.hurry = cancelWork
	if w.hurried {
		cancelWork()
	}
	w.mu.Unlock()
	stopTimer := context.AfterFunc(ctx, func() {
		w.log.Info("shutting down: no new missions; waiting for in-flight ones", "timeout", w.cfg.ShutdownTimeout)
		time.AfterFunc(w.cfg.ShutdownTimeout, cancelWork)
	})
	defer stopTimer()

	hbDone := w.startHeartbeat(work)
	// recv ends with ctx, or once MaxMissions are handled: receivers
	// still waiting on a queue that ran dry must stop too.
	recv, enough := context.WithCancel(ctx)
	defer enough()
	// One goroutine per delivery the worker may hold; the slots bound how
	// many of them execute at once.
	errs := make(chan error, w.cfg.Prefetch*len(w.feeds))
	var wg sync.WaitGroup
	for i, f := range w.feeds {
		for range w.cfg.Prefetch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- w.loop(recv, work, f, conss[i], enough)
			}()
		}
	}
	wg.Wait()
	close(errs)
	hbDone()
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// subscribe subscribes to the queue. A broker that answers but cannot
// take the consumer yet (ErrUnreachable: Redis at maxmemory refuses to
// create a new consumer group; the connection lost since it was opened) is
// waited for as loop waits for one that goes away: said at each try, the
// delay growing to 10 s. It returns a nil consumer and no error when ctx
// ends first.
func (w *Worker) subscribe(ctx context.Context, f *feed) (backends.Consumer, error) {
	backoff := time.Duration(0)
	for {
		cons, err := f.Sub.Subscribe(ctx, backends.ConsumerOptions{Name: w.cfg.Name, Prefetch: w.cfg.Prefetch})
		if err == nil || !errors.Is(err, backends.ErrUnreachable) || ctx.Err() != nil {
			return cons, err
		}
		backoff = w.brokerError(err, backoff)
		if mission.Sleep(ctx, backoff) != nil {
			return nil, nil
		}
	}
}

// brokerError reports that the broker failed with err and returns the
// delay before the next try, which grows from after.
func (w *Worker) brokerError(err error, after time.Duration) time.Duration {
	backoff := min(max(2*after, 500*time.Millisecond), 10*time.Second)
	if w.cfg.OnBrokerError != nil {
		w.cfg.OnBrokerError(err, backoff)
	} else {
		w.log.Warn("broker failed; retrying", "in", backoff, "err", err)
	}
	return backoff
}

// loop receives and handles deliveries one at a time. A broker that goes
// away while the worker runs is waited for (the backends reconnect): a
// restart of Redis or RabbitMQ must not take the workers down with it.
// With MaxMissions, a delivery is counted once received (counted before,
// a receiver waiting on an empty queue would hold a place that another
// queue's missions needed); one beyond the count is given back unread,
// and the last one handled calls enough.
func (w *Worker) loop(ctx, work context.Context, f *feed, cons backends.Consumer, enough context.CancelFunc) error {
	backoff := time.Duration(0)
	limit := int64(w.cfg.MaxMissions)
	for ctx.Err() == nil {
		// No new work while the store is away: what was taken is held.
		if w.health.wait(ctx) != nil {
			return nil
		}
		d, err := cons.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, backends.ErrClosed) {
				return nil
			}
			backoff = w.brokerError(err, backoff)
			if mission.Sleep(ctx, backoff) != nil {
				return nil
			}
			continue
		}
		backoff = 0
		if limit > 0 && w.taken.Add(1) > limit {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = d.Release(rctx) // unread: it goes to the next worker as it was
			cancel()
			return nil
		}
		w.handle(ctx, work, f, d)
		if n := w.processed.Add(1); limit > 0 && n >= limit {
			enough()
		}
	}
	return nil
}

func (w *Worker) track(id string, stop context.CancelCauseFunc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if stop != nil {
		w.current[id] = stop
	} else {
		delete(w.current, id)
	}
}

// errCancelled is the cause of a running mission's stop when it was
// cancelled.
var errCancelled = errors.New("cancelled")

// stopCancelled stops the running missions that were cancelled. The
// heartbeat calls it: a cancel is seen within one beat, at the cost of
// one read a beat while missions run.
func (w *Worker) stopCancelled(ctx context.Context) {
	ids := w.runningIDs()
	if len(ids) == 0 {
		return
	}
	cancelled, err := w.st.CancelledOf(ctx, ids)
	w.noted("cancel check", err)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range cancelled {
		if stop := w.current[id]; stop != nil {
			stop(errCancelled)
		}
	}
}

func (w *Worker) currentIDs() string { return strings.Join(w.runningIDs(), ",") }

// runningIDs are the ids of the missions in progress, sorted.
func (w *Worker) runningIDs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := make([]string, 0, len(w.current))
	for id := range w.current {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// startHeartbeat beats until the returned stop is called, which writes a
// last beat marking the worker stopped.
func (w *Worker) startHeartbeat(ctx context.Context) (stop func()) {
	host, _ := os.Hostname()
	beat := func(stopped bool) {
		now := time.Now()
		hb := store.Worker{Name: w.cfg.Name, Backend: w.cfg.Backend, Queue: w.cfg.Queue, Host: host, PID: os.Getpid(),
			Concurrency: w.cfg.Concurrency, Current: w.currentIDs(), Processed: w.processed.Load(),
			StartedAt: w.started, HeartbeatAt: now}
		if stopped {
			hb.StoppedAt = now
		}
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err := w.st.Heartbeat(bctx, hb)
		w.noted("heartbeat", err)
		if err == nil && !stopped {
			w.stopCancelled(bctx)
			w.checkPaused(bctx)
		}
	}
	beat(false)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(w.cfg.HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				beat(true)
				return
			case <-t.C:
				beat(false)
			}
		}
	}()
	return func() { close(done); <-finished }
}
