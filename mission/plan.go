package mission

import (
	"math/rand/v2"
	"time"
)

// Step is one stage of one attempt, with its real (jittered, sped-up)
// duration and the progress reached when it ends.
type Step struct {
	Name     string
	Duration time.Duration
	Progress int // 0–100 after this step
}

// Plan is what one attempt of an order will do. Ambush is the index of the
// step at which the attempt fails, or -1 when it succeeds.
type Plan struct {
	Steps  []Step
	Ambush int
}

// PlanAttempt derives the plan of an attempt from the order's seed and the
// attempt number alone, so that any worker, on any delivery, plans the same.
func PlanAttempt(o Order, attempt int) Plan {
	k, err := o.kind()
	if err != nil {
		return Plan{Ambush: -1}
	}
	rng := rand.New(rand.NewPCG(o.Seed, uint64(attempt)))
	p := Plan{Steps: make([]Step, len(k.Stages)), Ambush: -1}
	for i, s := range k.Stages {
		jitter := 0.8 + 0.4*rng.Float64() // ±20%
		d := time.Duration(float64(s.Duration) * jitter / o.Speed)
		p.Steps[i] = Step{Name: s.Name, Duration: d, Progress: (i + 1) * 100 / len(k.Stages)}
	}
	if rng.Float64() < o.FailRate {
		p.Ambush = rng.IntN(len(k.Stages))
	}
	// A stage's own chance is drawn only when it has one, so that the
	// built-in types plan as they always did from the same seed.
	for i, s := range k.Stages {
		if p.Ambush >= 0 && i >= p.Ambush {
			break
		}
		if s.Fail > 0 && rng.Float64() < s.Fail {
			p.Ambush = i
			break
		}
	}
	return p
}

// Backoff is the wait before attempt+1 after a failed attempt: 1 s, 2 s,
// 4 s … at speed 1, capped at 30 s, divided by the order's speed.
func Backoff(o Order, attempt int) time.Duration {
	d := time.Second << min(attempt-1, 5)
	d = min(d, 30*time.Second)
	return time.Duration(float64(d) / o.Speed)
}

// Score is what a success earns the hero: the type's base points, and half
// as much again for success on the first attempt.
func Score(t Type, attempt int) int {
	k, err := Lookup(t)
	if err != nil {
		return 0
	}
	return k.score(attempt)
}
