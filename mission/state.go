package mission

// State is where a mission is in its lifecycle:
//
//	PENDING → QUEUED → STARTED → PROCESSING → SUCCESS
//	                                       ↘ RETRY → QUEUED → … → FAILURE
type State string

// The states of the SPEC.
const (
	Pending    State = "PENDING"
	Queued     State = "QUEUED"
	Started    State = "STARTED"
	Processing State = "PROCESSING"
	Retry      State = "RETRY"
	Success    State = "SUCCESS"
	Failure    State = "FAILURE"
)

// States lists every state in lifecycle order.
func States() []State {
	return []State{Pending, Queued, Started, Processing, Retry, Success, Failure}
}

// Final reports whether no further transition can happen.
func (s State) Final() bool { return s == Success || s == Failure }

// Valid reports whether s is one of States.
func (s State) Valid() bool {
	for _, v := range States() {
		if s == v {
			return true
		}
	}
	return false
}
