package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/store"
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

// A line said while bars are live (a log line, a store outage) is
// printed above them. Written straight to the terminal, it sat where the
// next frame moves the cursor back to, and was erased.
func TestNotesPrintAboveLiveBars(t *testing.T) {
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
	a := newApp(streams{In: strings.NewReader(""), Out: io.Discard, Err: tty})
	v := newBarView(a, 2)
	ms := []store.Mission{{ID: "m1", Type: "raven", Status: mission.Processing, Progress: 10, Attempt: 1, MaxAttempts: 3},
		{ID: "m2", Type: "raven", Status: mission.Queued, Attempt: 1, MaxAttempts: 3}}
	v.update(ms)
	time.Sleep(250 * time.Millisecond)
	fmt.Fprintln(a.notes, "store unreachable; still following, retrying")
	for p := 20; p <= 60; p += 20 {
		ms[0].Progress = p
		v.update(ms)
		time.Sleep(150 * time.Millisecond)
	}
	ms[0].Status, ms[1].Status = mission.Success, mission.Success
	v.update(ms)
	v.close()
	tty.Close()
	drained(master, copied)
	master.Close()
	got := screen.String()
	i := strings.LastIndex(got, "still following")
	if i < 0 {
		t.Fatalf("the note was not printed:\n%q", got)
	}
	// The cursor moves up as many lines as a frame has; the lines printed
	// after the note's before the next move must be at least that many,
	// or the move lands on the note.
	after := got[i:]
	up := regexp.MustCompile(`\x1b\[(\d+)A`).FindStringSubmatchIndex(after)
	if up == nil {
		return // no frame after it: nothing drew over it
	}
	lines := strings.Count(after[:up[0]], "\n") - 1 // the note's own line ends first
	if n, _ := strconv.Atoi(after[up[2]:up[3]]); lines < n {
		t.Errorf("the next frame moves up %d lines over %d printed after the note: the note is drawn over:\n%q", n, lines, after)
	}
}
