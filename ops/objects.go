package ops

import (
	"strings"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// Mission is the SPEC's mission object: snake_case, RFC 3339 times, null
// where not yet.
type Mission struct {
	ID          string     `json:"id"`
	Type        string     `json:"type"`
	Hero        string     `json:"hero"`
	Status      string     `json:"status"`
	Progress    int        `json:"progress"`
	Stage       string     `json:"stage"`
	Attempt     int        `json:"attempt"`
	MaxAttempts int        `json:"max_attempts"`
	Worker      string     `json:"worker"`
	Backend     string     `json:"backend"`
	Queue       string     `json:"queue"`
	Score       int        `json:"score"`
	Error       string     `json:"error"`
	CreatedAt   *time.Time `json:"created_at"`
	QueuedAt    *time.Time `json:"queued_at"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	// DueAt: when a mission launched for later (--in, --at) falls due;
	// null for the others.
	DueAt *time.Time `json:"due_at"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// MissionOf is m as a mission object.
func MissionOf(m store.Mission) Mission {
	return Mission{ID: m.ID, Type: string(m.Type), Hero: m.Hero, Status: string(m.Status), Progress: m.Progress,
		Stage: m.Stage, Attempt: m.Attempt, MaxAttempts: m.MaxAttempts, Worker: m.Worker, Backend: m.Backend,
		Queue: m.Queue, Score: m.Score, Error: m.Error, CreatedAt: timePtr(m.CreatedAt), QueuedAt: timePtr(m.QueuedAt),
		StartedAt: timePtr(m.StartedAt), FinishedAt: timePtr(m.FinishedAt), DueAt: timePtr(m.DueAt)}
}

// Missions converts a list; never nil, so that it encodes as [].
func Missions(ms []store.Mission) []Mission {
	out := make([]Mission, len(ms))
	for i, m := range ms {
		out[i] = MissionOf(m)
	}
	return out
}

// Event is a telemetry event as scripts see it.
type Event struct {
	ID          int64     `json:"id"`
	At          time.Time `json:"at"`
	Event       string    `json:"event"`
	MissionID   string    `json:"mission_id"`
	Attempt     int       `json:"attempt"`
	Service     string    `json:"service"`
	SincePrevMS float64   `json:"since_prev_ms"`
	Detail      string    `json:"detail"`
}

// EventOf is e as an event object.
func EventOf(e telemetry.Event) Event {
	return Event{ID: e.ID, At: e.At.UTC(), Event: string(e.Name), MissionID: e.MissionID, Attempt: e.Attempt,
		Service: e.Service, SincePrevMS: float64(e.SincePrev.Microseconds()) / 1000, Detail: e.Detail}
}

// Events converts a list; never nil.
func Events(evs []telemetry.Event) []Event {
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = EventOf(e)
	}
	return out
}

// DeadLetter is a dead letter as scripts see it.
type DeadLetter struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Hero    string    `json:"hero"`
	Attempt int       `json:"attempt"`
	Reason  string    `json:"reason"`
	DeadAt  time.Time `json:"dead_at"`
	Body    string    `json:"body,omitempty"` // only when it is not a mission
}

// DeadLetterOf is dl as scripts see it: the mission's type and hero, or
// the start of a body that is not a mission.
func DeadLetterOf(dl backends.DeadLetter) DeadLetter {
	out := DeadLetter{ID: dl.ID, Attempt: dl.Attempt, Reason: dl.Reason, DeadAt: dl.DeadAt.UTC()}
	if o, err := mission.Decode(dl.Body); err == nil {
		out.Type, out.Hero = string(o.Type), o.Hero
	} else {
		out.Body = Truncate(strings.ToValidUTF8(string(dl.Body), "?"), 200)
	}
	return out
}

// Truncate shortens s to n bytes, marking the cut with an ellipsis.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
