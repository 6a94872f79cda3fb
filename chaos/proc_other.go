//go:build !linux

package chaos

import "errors"

// errNoProc: without /proc, a PID cannot be told from a reused one, so
// nothing is killed.
var errNoProc = errors.New("chaos kill checks a worker's PID in /proc before killing it, so it works on Linux only")

func readProcess(pid int) (process, error) { return process{}, errNoProc }

func sigkill(pid int) error { return errNoProc }
