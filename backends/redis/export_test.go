package redis

import "github.com/palantir-lab/palantir/backends"

// Buffered returns how many entries c has read from Redis and not yet
// handed out, for tests of the poll budget.
func Buffered(c backends.Consumer) int {
	return c.(*consumer).pf.Buffered()
}

// SetPollBudget sets the bytes one poll of q's consumers may read.
func SetPollBudget(q *Queue, n int) { q.budget = n }
