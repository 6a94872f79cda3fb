package testservices

import (
	"bytes"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// node is one server process of a private cluster: started, waited for
// until it answers, SIGKILLed, started again on its own files. Safe for
// concurrent use.
type node struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *bytes.Buffer
}

// start runs cmd (output kept for failure messages) and waits up to 10 s
// until ready answers nil; what names the server in those messages.
func (n *node) start(t testing.TB, what string, cmd *exec.Cmd, ready func() error) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.out = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = n.out, n.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	n.cmd, n.exited = cmd, make(chan struct{})
	exited := n.exited
	go func() { cmd.Wait(); close(exited) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := ready()
		if err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited at start:\n%s", what, n.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within 10s (%v):\n%s", what, err, n.out)
		}
	}
}

// kill SIGKILLs the process and waits for it to end; one already down is
// left alone.
func (n *node) kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
	n.cmd = nil
}

// up reports whether the process runs.
func (n *node) up() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}
