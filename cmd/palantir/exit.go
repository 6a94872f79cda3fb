package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/internal/config"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
)

// The exit statuses of the SPEC (and 130 for an interrupted command, as
// shells do).
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitUnreachable = 3
	exitInterrupted = 130
)

// errUsage marks bad input: flags, arguments, configuration.
var errUsage = errors.New("usage")

// usageErr wraps a message as a usage error.
func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

// errMissionsFailed: a waited mission ended in FAILURE (already reported
// in the output, so nothing more is printed).
var errMissionsFailed = errors.New("missions failed")

// exitCode maps an error to the SPEC's exit status, in this one place.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errMissionsFailed):
		return exitFailure
	case errors.Is(err, errUsage), errors.Is(err, ops.ErrInvalid), errors.Is(err, config.ErrInvalid), errors.Is(err, backends.ErrUnknownBackend),
		errors.Is(err, backends.ErrBadURL), errors.Is(err, store.ErrBadURL), errors.Is(err, mission.ErrUnknownType),
		errors.Is(err, mission.ErrUnknownHero), errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrAmbiguous),
		errors.Is(err, backends.ErrTooLarge):
		return exitUsage
	case errors.Is(err, backends.ErrUnreachable), errors.Is(err, store.ErrUnreachable):
		return exitUnreachable
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	default:
		return exitFailure
	}
}

// reportError prints err as one line on stderr.
func reportError(w io.Writer, err error) {
	if errors.Is(err, errMissionsFailed) {
		return
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(w, "palantir: interrupted")
		return
	}
	msg := strings.ReplaceAll(backends.RedactText(err.Error()), "\n", " ")
	msg = strings.Replace(msg, errUsage.Error()+": ", "", 1)
	msg = strings.Replace(msg, ops.ErrInvalid.Error()+": ", "", 1)
	fmt.Fprintln(w, "palantir: "+msg)
}

// redacted is an error whose message went through backends.RedactText
// (a driver may quote the URL it was given, or a part of it), with the
// original still there for errors.Is.
type redacted struct {
	err error
	msg string
}

func (e redacted) Error() string { return e.msg }
func (e redacted) Unwrap() error { return e.err }

// redactErr hides the passwords in err's message.
func redactErr(err error) error {
	if err == nil {
		return nil
	}
	return redacted{err: err, msg: backends.RedactText(err.Error())}
}
