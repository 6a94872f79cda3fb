package ops

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/dispatch"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// LaunchRequest is what a launch asks for: `palantir launch`'s arguments
// and flags, or the body of POST /api/missions.
type LaunchRequest struct {
	Types       []string
	Count       int
	Hero        string
	FailRate    float64
	MaxAttempts int
	Speed       float64
	Seed        uint64
	SeedSet     bool // false: a random seed
	// Defined are the types people defined (config missions:, launch
	// --plan) that Types may name beside the built-in ones.
	Defined mission.Catalog
	// UniqueFor, when set, launches at most one mission per type and
	// hero on the queue within that long (launch --unique-for); the
	// others are skipped.
	UniqueFor time.Duration
	// Due, when set, keeps the missions in the store until then (launch
	// --in/--at); the queue's workers and serve publish them when due.
	Due time.Time
}

// MaxLater bounds how far ahead a launch may be kept (--in, --at).
const MaxLater = 30 * 24 * time.Hour

// MaxCount bounds how many times each type is launched at once.
const MaxCount = 1_000_000

// MaxUniqueFor bounds a uniqueness window: a lock is a row that lives
// that long.
const MaxUniqueFor = 7 * 24 * time.Hour

// Skip is a mission a unique launch did not publish: another of its type
// and hero on the queue holds the place.
type Skip struct {
	Type, Hero string
	HeldBy     string // the mission that holds it
}

// Validate checks r without expanding it (a count of a million is checked
// in constant memory). Errors wrap ErrInvalid and name the field.
func (r LaunchRequest) Validate(name FieldName) error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("%w: %s %s", ErrInvalid, name(field), fmt.Sprintf(format, a...))
	}
	switch {
	case len(r.Types) == 0:
		return bad("type", "is required (recon, consult, raven or fellowship)")
	case r.Count < 1 || r.Count > MaxCount:
		return bad("count", "must be between 1 and %d, got %d", MaxCount, r.Count)
	case !(r.FailRate >= 0 && r.FailRate <= 1): // NaN too
		return bad("fail_rate", "must be between 0 and 1, got %g", r.FailRate)
	case r.MaxAttempts < 1 || r.MaxAttempts > 100:
		return bad("max_attempts", "must be between 1 and 100, got %d", r.MaxAttempts)
	case !(r.Speed >= mission.MinSpeed && r.Speed <= mission.MaxSpeed):
		return bad("speed", "must be between %g and %g, got %g", mission.MinSpeed, mission.MaxSpeed, r.Speed)
	case r.UniqueFor < 0 || r.UniqueFor > MaxUniqueFor:
		return bad("unique_for", "must be between 0 and %v, got %v", MaxUniqueFor, r.UniqueFor)
	}
	if r.Hero != "" {
		if err := mission.CheckHero(strings.ToLower(r.Hero)); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalid, name("hero"), err)
		}
	}
	if err := r.Defined.Each(r.Types, 1, func(int, mission.Type) error { return nil }); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, name("type"), err)
	}
	return nil
}

// Total is how many missions r launches.
func (r LaunchRequest) Total() int {
	n := 0
	_ = r.Defined.Each(r.Types, r.Count, func(int, mission.Type) error { n++; return nil })
	return n
}

// Launcher publishes launches to one queue. Its fields are set once.
type Launcher struct {
	Store     *store.Store
	Queue     backends.Publisher
	Telemetry *telemetry.Recorder
	Backend   string // registered backend name
	QueueName string
	// Source is the telemetry service that invokes the missions:
	// telemetry.CLI() or telemetry.API().
	Source string
	Log    *slog.Logger // may be nil
	// Progress, when set, hears how far a big launch has got.
	Progress func(done, total int)
	// Now is the clock of the missions' creation stamps (nil: time.Now).
	Now func() time.Time
	// Skipped hears of each mission a unique launch skipped.
	Skipped func(Skip)
	// RecoverAfter: dispatch.Dispatcher.RecoverAfter (the lease).
	RecoverAfter time.Duration
}

func (l *Launcher) now() time.Time {
	if l.Now == nil {
		return time.Now()
	}
	return l.Now()
}

// LaunchChunk missions are stored and published at a time, so a launch of
// a million missions runs in flat memory.
const LaunchChunk = 1000

// Launch stores and publishes r's missions, LaunchChunk at a time, and
// hands each chunk's ids to published as soon as the broker has them.
// r must be valid.
func (l *Launcher) Launch(ctx context.Context, r LaunchRequest, published func(ids []string) error) error {
	gen, err := newOrderGen(ctx, l.Store, r, l.now())
	if err != nil {
		return err
	}
	d := &dispatch.Dispatcher{Store: l.Store, Queue: l.Queue, Telemetry: l.Telemetry, Backend: l.Backend,
		QueueName: l.QueueName, Source: l.Source, Log: l.Log, RecoverAfter: l.RecoverAfter}
	total := r.Total()
	chunk := make([]mission.Order, 0, min(LaunchChunk, total))
	done := 0
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		publish := func() error { return d.Publish(ctx, chunk, nil) }
		if !r.Due.IsZero() {
			publish = func() error { return d.PublishLater(ctx, chunk, r.Due) }
		}
		if err := publish(); err != nil {
			return err
		}
		ids := make([]string, len(chunk))
		for i, o := range chunk {
			ids[i] = o.ID
		}
		chunk = chunk[:0]
		done += len(ids)
		if l.Progress != nil && total >= 20*LaunchChunk && done%(10*LaunchChunk) == 0 {
			l.Progress(done, total)
		}
		return published(ids)
	}
	claims := map[string]string{} // of the chunk not yet published: key → mission id
	err = r.Defined.Each(r.Types, r.Count, func(i int, t mission.Type) error {
		o := gen.order(i, t)
		if r.UniqueFor > 0 {
			won, err := l.claim(ctx, r.UniqueFor, o, claims)
			if err != nil || !won {
				return err
			}
		}
		chunk = append(chunk, o)
		if len(chunk) < LaunchChunk {
			return nil
		}
		if err := flush(); err != nil {
			return err
		}
		clear(claims)
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil && len(claims) > 0 {
		// Those missions were never published: their places are free.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = l.Store.ReleaseUnique(rctx, claims)
		cancel()
	}
	return err
}

// claim takes o's place on the queue (its type and hero) for window, or
// says who holds it.
func (l *Launcher) claim(ctx context.Context, window time.Duration, o mission.Order, claims map[string]string) (bool, error) {
	key := strings.Join([]string{l.Backend, l.QueueName, string(o.Type), o.Hero}, "\x1f") // a separator no name holds (PostgreSQL text refuses NUL)
	now := l.now()
	won, holder, err := l.Store.ClaimUnique(ctx, key, o.ID, now, now.Add(window))
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	if won {
		claims[key] = o.ID
	} else if l.Skipped != nil {
		l.Skipped(Skip{Type: string(o.Type), Hero: o.Hero, HeldBy: holder})
	}
	return won, nil
}

// orderGen makes the i-th order of a launch: random ids, heroes in
// rotation, seeds derived from the request's so that a run replays exactly.
type orderGen struct {
	r    LaunchRequest
	base int
	seed uint64
	now  time.Time
}

func newOrderGen(ctx context.Context, st *store.Store, r LaunchRequest, now time.Time) (*orderGen, error) {
	base, err := st.CountMissions(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	seed := r.Seed
	if !r.SeedSet {
		var b [8]byte
		_, _ = rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	return &orderGen{r: r, base: base, seed: seed, now: now.UTC()}, nil
}

func (g *orderGen) order(i int, t mission.Type) mission.Order {
	hero := strings.ToLower(g.r.Hero)
	if hero == "" {
		hero = mission.HeroFor(g.base + i)
	}
	o := mission.Order{ID: NewMissionID(), Type: t, Hero: hero, FailRate: g.r.FailRate, MaxAttempts: g.r.MaxAttempts,
		Speed: g.r.Speed, Seed: splitmix(g.seed + uint64(i)), CreatedAt: g.now.Add(time.Duration(i) * time.Microsecond)}
	g.r.Defined.Stamp(&o)
	return o
}

// idAlphabet is Crockford's base32 in lower case: no i, l, o or u to
// misread when a student types an id.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// NewMissionID returns 12 random characters (60 bits): short enough to
// type, and a unique prefix after four or five characters.
func NewMissionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = idAlphabet[b[i]&31]
	}
	return string(b[:])
}

// splitmix spreads consecutive seeds over the whole range.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
