// Package ops holds the operations that the command line and the HTTP API
// of `palantir serve` share: launching missions, resolving id prefixes,
// the status summary and the live workers, a mission's trace, history
// filters, the leaderboard, replaying dead letters, purging a queue and
// settling its missions, ending the missions of an in-process queue that
// stops, and the JSON objects (mission, event, hero, dead letter, status
// row, trace) that `-o json` prints and the API answers. What depends on
// the time takes it from the caller (a time or a Now field), so that a
// command's fixed clock reaches it. A command or a handler parses its input,
// calls one function here, and prints or encodes what it returns; neither
// holds a second copy of the logic.
//
// Bad input is reported as an error wrapping ErrInvalid whose text names
// the field (a flag on the command line, a JSON field in the API: the
// caller says which through the field names it passes).
package ops

import "errors"

// ErrInvalid marks bad input: the command line maps it to exit 2, the API
// to 400.
var ErrInvalid = errors.New("invalid input")
