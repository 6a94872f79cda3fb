package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// status --watch on a terminal draws on the alternate screen, as watch
// and top do, so that the scrollback does not fill with copies of the
// table; each frame says when it was drawn; on exit the last frame stays
// on the normal screen. Piped, each refresh is appended under its time,
// with no escape codes.
func TestStatusWatch(t *testing.T) {
	dir := t.TempDir()
	// A queue of its own: the in-process broker is the test binary's, and
	// other tests leave missions on the default one.
	if r := cli(t, dir, "launch", "raven", "--speed", "50", "--fail-rate", "0", "--queue", "watch-test"); r.code != 0 {
		t.Fatalf("launch: %s", r.err)
	}
	watch := func(out io.Writer) {
		ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
		defer cancel()
		var errb bytes.Buffer
		args := []string{"--store", filepath.Join(dir, "palantir.db"), "status", "--watch", "--queue", "watch-test"}
		if code := run(ctx, args, streams{In: strings.NewReader(""), Out: out, Err: &errb}); code != 0 {
			t.Errorf("status --watch: exit %d: %s", code, errb.String())
		}
	}
	stamp := regexp.MustCompile(`\d\d:\d\d:\d\d`)

	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer master.Close()
	var screen bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&screen, master); close(copied) }()
	watch(tty)
	tty.Close()
	drained(master, copied)
	got := screen.String()
	enter, leave := strings.Index(got, "\x1b[?1049h"), strings.LastIndex(got, "\x1b[?1049l")
	if enter < 0 || leave < enter {
		t.Fatalf("on a terminal: no alternate screen entered and left:\n%q", got)
	}
	if frames := strings.Count(got, "Every 1s"); frames < 2 || !stamp.MatchString(got) {
		t.Errorf("on a terminal: %d frames saying when they were drawn, want 2 or more:\n%q", frames, got)
	}
	if after := got[leave:]; !strings.Contains(after, "raven") {
		t.Errorf("the last frame is not left on the normal screen:\n%q", after)
	}

	var piped bytes.Buffer
	watch(&piped)
	if p := piped.String(); strings.Contains(p, "\x1b") || strings.Count(p, "raven") < 2 || len(stamp.FindAllString(p, -1)) < 2 {
		t.Errorf("piped: want two or more refreshes each under its time, no escape codes:\n%q", p)
	}
}

// launch --wait draws one bar per mission only when they all fit in the
// terminal: more bars than rows garbled it (a 40-row terminal's
// scrollback held one finished bar 78 times for 45 missions). Otherwise
// it prints a line per change.
func TestLaunchWaitBarsFitTheTerminal(t *testing.T) {
	for _, tt := range []struct {
		count string
		bars  bool
	}{{"5", true}, {"30", false}} {
		master, tty, err := pty.Open()
		if err != nil {
			t.Skipf("no pseudo-terminal here: %v", err)
		}
		if err := pty.Setsize(tty, &pty.Winsize{Rows: 20, Cols: 120}); err != nil {
			t.Fatal(err)
		}
		var screen bytes.Buffer
		copied := make(chan struct{})
		go func() { io.Copy(&screen, master); close(copied) }()
		var out bytes.Buffer
		args := []string{"--store", filepath.Join(t.TempDir(), "palantir.db"), "launch", "raven", "--count", tt.count, "--speed", "20", "--fail-rate", "0", "--wait", "--queue", "bars-" + tt.count}
		code := run(context.Background(), args, streams{In: strings.NewReader(""), Out: &out, Err: tty})
		tty.Close()
		drained(master, copied)
		master.Close()
		if code != 0 {
			t.Fatalf("launch --count %s: exit %d:\n%s", tt.count, code, screen.String())
		}
		if bars := strings.Contains(screen.String(), "try 1/"); bars != tt.bars {
			t.Errorf("%s missions in a 20-row terminal: bars %v, want %v:\n%q", tt.count, bars, tt.bars, screen.String())
		}
	}
}

// drained waits for the copy from master to end, which it does when every
// holder of the terminal's other side has closed it; a process another
// test started may hold it too, so after a moment master is closed.
func drained(master io.Closer, copied <-chan struct{}) {
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
		master.Close()
		<-copied
	}
}

// Ctrl-C during launch --wait: the bars stop first, and what launch says
// about the interruption is printed below them. Printed while the bars
// were live, the next frame moved the cursor up over it: the last bar
// lines were drawn twice and the message was erased.
func TestLaunchWaitInterruptedPrintsBelowTheBars(t *testing.T) {
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	if err := pty.Setsize(tty, &pty.Winsize{Rows: 20, Cols: 160}); err != nil {
		t.Fatal(err)
	}
	screen := &lockedBuffer{}
	copied := make(chan struct{})
	go func() { io.Copy(screen, master); close(copied) }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []string{"--store", filepath.Join(t.TempDir(), "palantir.db"), "launch", "recon", "--count", "2", "--speed", "2",
		"--fail-rate", "0", "--wait", "--queue", "ctrlc-bars", "--shutdown-timeout", "200ms"}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, args, streams{In: strings.NewReader(""), Out: io.Discard, Err: tty})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(screen.String(), "PROCESSING") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel() // what Ctrl-C does
	if c := <-code; c == 0 {
		t.Errorf("interrupted launch --wait: exit 0")
	}
	tty.Close()
	drained(master, copied)
	master.Close()
	got := screen.String()
	i := strings.Index(got, "interrupted")
	if i < 0 {
		t.Fatalf("nothing said about the interruption:\n%q", got)
	}
	if after := got[i:]; strings.Contains(after, "try 1/") || strings.Contains(after, "\x1b[") {
		t.Errorf("bars drawn again after the interruption was said (over it):\n%q", after)
	}
}

// lockedBuffer is a bytes.Buffer that one goroutine writes while another
// reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
