// Command palantir runs background missions through a real message broker
// and real workers, so that people can learn how task queues behave and
// compare brokers with identical mission code. See README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal asks for a graceful stop; restoring the default
		// handling lets a second one end the process at once.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}

// cobraUnknown is cobra's error for a command the root does not have.
var cobraUnknown = regexp.MustCompile(`^unknown command "([^"]*)" for "palantir"`)

// run executes one command line and returns the exit status. Tests call it
// in-process.
func run(ctx context.Context, args []string, io streams) int {
	return runApp(ctx, newApp(io), args)
}

// runApp runs the command line on a (tests give one a clock of their own).
func runApp(ctx context.Context, a *app, args []string) int {
	io := a.streams
	a.args = args
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && strings.HasPrefix(err.Error(), "unknown command") {
		// cobra's own usage errors are untyped; its suggestions span
		// lines, so the hint is made here.
		if m := cobraUnknown.FindStringSubmatch(err.Error()); m != nil {
			err = unknownCommand(m[1], root)
		} else {
			err = usageErr("%v", err)
		}
	}
	a.Close()
	switch note := a.noStore(); {
	case note != "" && err != nil:
		err = fmt.Errorf("%w (%s)", err, note)
	case note != "":
		fmt.Fprintln(io.Err, "palantir: "+note)
	}
	if err != nil {
		reportError(io.Err, err)
	}
	return exitCode(err)
}
