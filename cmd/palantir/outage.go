package main

import (
	"context"
	"fmt"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// outage is how a command that follows missions (launch --wait, status
// --watch, events --follow) rides out a store or broker that stops
// answering: it says so once on stderr, tries again after a delay that
// doubles up to five seconds, and says so again when the answer comes.
type outage struct {
	a     *app
	since time.Time // zero while answering
	wait  time.Duration
}

// failed notes err and waits before the next try; it returns false when
// ctx ended meanwhile.
func (o *outage) failed(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if o.since.IsZero() {
		o.since = o.a.now()
		fmt.Fprintf(o.a.notes, "%s %s; still following, retrying\n", o.a.now().Format("15:04:05"), backends.RedactText(err.Error()))
	}
	o.wait = min(max(2*o.wait, 250*time.Millisecond), 5*time.Second)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(o.wait):
		return true
	}
}

// ok notes an answer.
func (o *outage) ok() {
	if o.since.IsZero() {
		return
	}
	fmt.Fprintf(o.a.notes, "%s answering again after %v\n", o.a.now().Format("15:04:05"), o.a.now().Sub(o.since).Round(100*time.Millisecond))
	o.since, o.wait = time.Time{}, 0
}
