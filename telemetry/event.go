// Package telemetry defines the events every stage of a mission emits, and
// the Recorder that sends them where they go: to the store (batched, so
// that a busy worker does not pay a transaction per event), to a log
// stream, or both. `palantir events --follow` reads them back from the
// store.
//
// Every event is emitted by the process that did the work, and names that
// process in Service: "cli", "api", "broker:<backend>", "worker:<name>" or
// "store:<driver>".
package telemetry

import "time"

// Name is an event name of the SPEC.
type Name string

// The events of the SPEC.
const (
	MissionInvoked      Name = "mission_invoked"
	MissionQueued       Name = "mission_queued"
	MissionStarted      Name = "mission_started"
	MissionProgress     Name = "mission_progress"
	MissionRetry        Name = "mission_retry"
	MissionCompleted    Name = "mission_completed"
	MissionFailed       Name = "mission_failed"
	MissionPersisted    Name = "mission_persisted"
	HeroScored          Name = "hero_scored"
	MissionDeadLettered Name = "mission_dead_lettered"
)

// Names lists every event name.
func Names() []Name {
	return []Name{MissionInvoked, MissionQueued, MissionStarted, MissionProgress, MissionRetry,
		MissionCompleted, MissionFailed, MissionPersisted, HeroScored, MissionDeadLettered}
}

// Event is one telemetry record.
type Event struct {
	// ID is assigned by the store; zero before.
	ID        int64
	At        time.Time
	Name      Name
	MissionID string
	Attempt   int
	Service   string
	// SincePrev is the time since the previous stage of the same mission,
	// as seen by the emitting process (for the first event a worker emits,
	// since the broker accepted the message).
	SincePrev time.Duration
	// Detail is a short human text: the stage name, the error, the score.
	Detail string
}

// Service names.
func CLI() string                  { return "cli" }
func API() string                  { return "api" } // a launch or replay through palantir serve
func Schedule(name string) string  { return "schedule:" + name }
func Broker(backend string) string { return "broker:" + backend }
func Worker(name string) string    { return "worker:" + name }
func Store(driver string) string   { return "store:" + driver }
