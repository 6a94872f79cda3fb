package verify

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// redelivery: consumer A receives and closes without settling, as a
// crashed worker would; consumer B must receive the message.
func redelivery(ctx context.Context, e *env) (Result, error) {
	q, err := e.open(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := q.Publish(ctx, message("r-1")); err != nil {
		return Result{}, fmt.Errorf("publish: %w", err)
	}
	_, a, err := e.subscribe(ctx, "verify-a", 1)
	if err != nil {
		return Result{}, err
	}
	d, err := receive(ctx, a, 10*time.Second)
	if err != nil || d == nil {
		return Result{}, errors.Join(err, errors.New("consumer A received nothing within 10s"))
	}
	_, b, err := e.subscribe(ctx, "verify-b", 1)
	if err != nil {
		return Result{}, err
	}
	died := time.Now()
	a.Close()
	wait := 5*e.opts.Lease + 5*time.Second
	again, err := receive(ctx, b, wait)
	if err != nil {
		return Result{}, err
	}
	if again == nil {
		return Result{Verdict: DoesNotHold, Figure: "not within " + ms(wait),
			Note: "the dead consumer's message never came back to another consumer"}, nil
	}
	took := time.Since(died)
	r := again.Received()
	if err := again.Ack(ctx); err != nil {
		return Result{}, fmt.Errorf("ack the redelivery: %w", err)
	}
	note := "came back at once: a closed session's unsettled messages are returned"
	if took >= e.opts.Lease/2 {
		note = fmt.Sprintf("came back after the lease (%s): an abandoned message waits for its lease to expire", e.opts.Lease)
	}
	if !r.Redelivered {
		note += "; not flagged Redelivered"
	}
	return Result{Verdict: Holds, Figure: ms(took), Note: note}, nil
}

// extension: a holder extends its lease every lease/3 for 2.5 leases; a
// second consumer must not receive the message meanwhile.
func extension(ctx context.Context, e *env) (Result, error) {
	q, err := e.open(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := q.Publish(ctx, message("e-1")); err != nil {
		return Result{}, fmt.Errorf("publish: %w", err)
	}
	_, holder, err := e.subscribe(ctx, "verify-holder", 1)
	if err != nil {
		return Result{}, err
	}
	d, err := receive(ctx, holder, 10*time.Second)
	if err != nil || d == nil {
		return Result{}, errors.Join(err, errors.New("the holder received nothing within 10s"))
	}
	_, thief, err := e.subscribe(ctx, "verify-thief", 1)
	if err != nil {
		return Result{}, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var extends int
	var extendErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(e.opts.Lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if err := d.Extend(ctx); err != nil {
					extendErr = err
					return
				}
				extends++
			}
		}
	}()
	hold := e.opts.Lease * 5 / 2
	stolen, err := receive(ctx, thief, hold)
	close(stop)
	wg.Wait()
	if err != nil {
		return Result{}, err
	}
	figure := fmt.Sprintf("kept %s (%.1f leases, %d extensions)", hold, float64(hold)/float64(e.opts.Lease), extends)
	if stolen != nil {
		stolen.Ack(ctx)
		note := "another consumer received it while the holder was extending"
		if extendErr != nil {
			note += ": Extend failed: " + extendErr.Error()
		}
		return Result{Verdict: DoesNotHold, Figure: figure, Note: note}, nil
	}
	if extendErr != nil {
		return Result{}, fmt.Errorf("extend: %w", extendErr)
	}
	if err := d.Ack(ctx); err != nil {
		return Result{Verdict: DoesNotHold, Figure: figure, Note: "not redelivered, but the holder's Ack failed: " + err.Error()}, nil
	}
	return Result{Verdict: Holds, Figure: figure, Note: "no other consumer got it, and the holder's Ack succeeded"}, nil
}

// retryAccuracy: Retry(1s) a few messages and measure when each comes back.
func retryAccuracy(ctx context.Context, e *env) (Result, error) {
	const n, delay = 5, time.Second
	q, err := e.open(ctx)
	if err != nil {
		return Result{}, err
	}
	var msgs []backends.Message
	for i := range n {
		msgs = append(msgs, message(fmt.Sprintf("t-%d", i)))
	}
	if err := q.Publish(ctx, msgs...); err != nil {
		return Result{}, fmt.Errorf("publish: %w", err)
	}
	_, c, err := e.subscribe(ctx, "verify-retry", 1)
	if err != nil {
		return Result{}, err
	}
	retried := map[string]time.Time{}
	for range n {
		d, err := receive(ctx, c, 10*time.Second)
		if err != nil || d == nil {
			return Result{}, errors.Join(err, fmt.Errorf("received %d of %d within 10s", len(retried), n))
		}
		id := d.Received().ID
		if err := d.Retry(ctx, delay); err != nil {
			return Result{}, fmt.Errorf("retry %s: %w", id, err)
		}
		retried[id] = time.Now()
	}
	var late []time.Duration
	for len(late) < n {
		d, err := receive(ctx, c, delay+10*time.Second)
		if err != nil || d == nil {
			return Result{}, errors.Join(err, fmt.Errorf("%d of %d retries came back within %s", len(late), n, delay+10*time.Second))
		}
		now := time.Now()
		r := d.Received()
		at, ok := retried[r.ID]
		if ok {
			late = append(late, now.Sub(at)-delay)
			delete(retried, r.ID)
		}
		if err := d.Ack(ctx); err != nil {
			return Result{}, fmt.Errorf("ack %s: %w", r.ID, err)
		}
	}
	slices.Sort(late)
	lo, med, hi := late[0], late[len(late)/2], late[len(late)-1]
	figure := fmt.Sprintf("late min %s / median %s / max %s", ms(lo), ms(med), ms(hi))
	switch {
	case lo < -EarlyTolerance:
		return Result{Verdict: DoesNotHold, Figure: figure,
			Note: fmt.Sprintf("a retry came back %s before its %s delay (tolerance %s)", ms(-lo), delay, ms(EarlyTolerance))}, nil
	case med >= LateThreshold:
		return Result{Verdict: DoesNotHold, Figure: figure,
			Note: fmt.Sprintf("median lateness over %s for Retry(%s)", ms(LateThreshold), delay)}, nil
	}
	return Result{Verdict: Holds, Figure: figure,
		Note: fmt.Sprintf("%d Retry(%s): none early by more than %s, median late under %s", n, delay, ms(EarlyTolerance), ms(LateThreshold))}, nil
}

// deadLetters: DeadLetter with a reason, find it listed, replay it.
func deadLetters(ctx context.Context, e *env) (Result, error) {
	q, err := e.open(ctx)
	if err != nil {
		return Result{}, err
	}
	const id = "x-1"
	if err := q.Publish(ctx, message(id)); err != nil {
		return Result{}, fmt.Errorf("publish: %w", err)
	}
	_, c, err := e.subscribe(ctx, "verify-dlq", 1)
	if err != nil {
		return Result{}, err
	}
	d, err := receive(ctx, c, 10*time.Second)
	if err != nil || d == nil {
		return Result{}, errors.Join(err, errors.New("received nothing within 10s"))
	}
	reason := "verify: given up on purpose"
	start := time.Now()
	if err := d.DeadLetter(ctx, reason); err != nil {
		return Result{}, fmt.Errorf("dead-letter: %w", err)
	}
	var found *backends.DeadLetter
	for found == nil && time.Since(start) < 5*time.Second {
		dead, err := q.DeadLetters(ctx, 0)
		if err != nil {
			return Result{}, fmt.Errorf("list dead letters: %w", err)
		}
		for i := range dead {
			if dead[i].ID == id {
				found = &dead[i]
			}
		}
		if found == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	listed := time.Since(start)
	if found == nil {
		return Result{Verdict: DoesNotHold, Figure: "not listed within 5s", Note: "DeadLetters did not list the dead-lettered message"}, nil
	}
	if found.Reason != reason {
		return Result{Verdict: DoesNotHold, Figure: "listed after " + ms(listed), Note: fmt.Sprintf("listed with reason %q, want %q", found.Reason, reason)}, nil
	}
	replayed, err := q.Replay(ctx, id)
	if err != nil {
		return Result{}, fmt.Errorf("replay: %w", err)
	}
	if !slices.Equal(replayed, []string{id}) {
		return Result{Verdict: DoesNotHold, Figure: "listed after " + ms(listed), Note: fmt.Sprintf("Replay returned %v, want [%s]", replayed, id)}, nil
	}
	back, err := receive(ctx, c, 10*time.Second)
	if err != nil {
		return Result{}, err
	}
	if back == nil {
		return Result{Verdict: DoesNotHold, Figure: "listed after " + ms(listed), Note: "the replayed message never came back within 10s"}, nil
	}
	r := back.Received()
	if err := back.Ack(ctx); err != nil {
		return Result{}, fmt.Errorf("ack the replay: %w", err)
	}
	figure := fmt.Sprintf("listed after %s, replayed in %s", ms(listed), ms(time.Since(start)-listed))
	if r.ID != id || r.Attempt != 1 {
		return Result{Verdict: DoesNotHold, Figure: figure, Note: fmt.Sprintf("replay came back as %s attempt %d, want %s attempt 1", r.ID, r.Attempt, id)}, nil
	}
	return Result{Verdict: Holds, Figure: figure, Note: "listed with its reason; Replay returned it as attempt 1"}, nil
}

// ordering: 50 messages in one Publish, one consumer with prefetch 1.
func ordering(ctx context.Context, e *env) (Result, error) {
	const n = 50
	q, err := e.open(ctx)
	if err != nil {
		return Result{}, err
	}
	var msgs []backends.Message
	for i := range n {
		msgs = append(msgs, message(fmt.Sprintf("o-%03d", i)))
	}
	if err := q.Publish(ctx, msgs...); err != nil {
		return Result{}, fmt.Errorf("publish: %w", err)
	}
	_, c, err := e.subscribe(ctx, "verify-order", 1)
	if err != nil {
		return Result{}, err
	}
	var got []string
	for len(got) < n {
		d, err := receive(ctx, c, 10*time.Second)
		if err != nil || d == nil {
			return Result{}, errors.Join(err, fmt.Errorf("received %d of %d within 10s", len(got), n))
		}
		got = append(got, d.Received().ID)
		if err := d.Ack(ctx); err != nil {
			return Result{}, fmt.Errorf("ack: %w", err)
		}
	}
	// A message is out of order when it arrives after one published later.
	out, highest := 0, ""
	for _, id := range got {
		if id < highest {
			out++
		}
		highest = max(highest, id)
	}
	figure := fmt.Sprintf("%d of %d out of order", out, n)
	if out > 0 {
		return Result{Verdict: DoesNotHold, Figure: figure, Note: "one consumer, prefetch 1, no failures: still not FIFO"}, nil
	}
	return Result{Verdict: Holds, Figure: figure, Note: "FIFO for one consumer without failures; retries and redeliveries reorder"}, nil
}

// stalled: a consumer receives and then neither settles nor extends, but
// stays connected; does a second consumer get the message?
func stalled(ctx context.Context, e *env) (Result, error) {
	q, err := e.open(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := q.Publish(ctx, message("s-1")); err != nil {
		return Result{}, fmt.Errorf("publish: %w", err)
	}
	_, holder, err := e.subscribe(ctx, "verify-stalled", 1)
	if err != nil {
		return Result{}, err
	}
	d, err := receive(ctx, holder, 10*time.Second)
	if err != nil || d == nil {
		return Result{}, errors.Join(err, errors.New("received nothing within 10s"))
	}
	stalledAt := time.Now()
	_, other, err := e.subscribe(ctx, "verify-other", 1)
	if err != nil {
		return Result{}, err
	}
	wait := 3 * e.opts.Lease
	dup, err := receive(ctx, other, wait)
	if err != nil {
		return Result{}, err
	}
	if dup == nil {
		holder.Close()
		return Result{Verdict: DoesNotHold, Figure: "kept " + wait.String() + " (" + fmt.Sprint(int(wait/e.opts.Lease)) + " leases)",
			Note: "the lease is the connection, not a timer: a stalled but connected consumer keeps its message"}, nil
	}
	took := time.Since(stalledAt)
	if err := dup.Ack(ctx); err != nil {
		return Result{}, fmt.Errorf("ack the redelivery: %w", err)
	}
	late := d.Ack(ctx)
	note := "at-least-once: the first consumer still holds a duplicate"
	switch {
	case late == nil:
		note += "; its late Ack was accepted"
	case errors.Is(late, backends.ErrLeaseLost):
		note += "; its late Ack is refused (lease lost)"
	default:
		note += "; its late Ack failed: " + strings.TrimSpace(late.Error())
	}
	return Result{Verdict: Holds, Figure: ms(took), Note: note}, nil
}

// durability: publish 20, restart the broker with the user's command,
// reopen and count what is still there.
func durability(ctx context.Context, e *env) (Result, error) {
	if e.be.Embedded {
		return Result{Verdict: NotMeasured, Figure: "-", Note: "the queue lives in this process: nothing survives its exit, by design"}, nil
	}
	if e.opts.RestartCmd == "" {
		return Result{Verdict: NotMeasured, Figure: "-", Note: "give --restart-cmd 'CMD' (a command that restarts the broker) to measure"}, nil
	}
	const n = 20
	q, err := e.open(ctx)
	if err != nil {
		return Result{}, err
	}
	var msgs []backends.Message
	for i := range n {
		msgs = append(msgs, message(fmt.Sprintf("p-%02d", i)))
	}
	if err := q.Publish(ctx, msgs...); err != nil {
		return Result{}, fmt.Errorf("publish: %w", err)
	}
	q.Close()
	e.handles = nil
	out, err := exec.CommandContext(ctx, "sh", "-c", e.opts.RestartCmd).CombinedOutput()
	if err != nil {
		if msg := strings.TrimSpace(string(out)); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return Result{}, fmt.Errorf("restart command %q: %w", e.opts.RestartCmd, err)
	}
	// The broker may take a while to accept connections again.
	var c backends.Consumer
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, c, err = e.subscribe(ctx, "verify-durable", n)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		return Result{}, fmt.Errorf("the broker did not come back within 30s of the restart command: %v", err) // not ErrUnreachable: the other rows stand
	}
	seen := map[string]bool{}
	for len(seen) < n {
		d, err := receive(ctx, c, 3*time.Second)
		if err != nil {
			return Result{}, err
		}
		if d == nil {
			break
		}
		seen[d.Received().ID] = true
		d.Ack(ctx)
	}
	figure := fmt.Sprintf("%d of %d survived", len(seen), n)
	if len(seen) < n {
		return Result{Verdict: DoesNotHold, Figure: figure, Note: "messages the broker had confirmed were lost by the restart"}, nil
	}
	return Result{Verdict: Holds, Figure: figure, Note: "every confirmed message was still there after the restart command"}, nil
}
