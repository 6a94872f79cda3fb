package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/palantir-lab/palantir/backends"
)

// ceilingDial connects with the URL parser of Open and returns the
// queue arguments the URL asks for.
func ceilingDial(rawURL string) (*amqp.Connection, amqp.Table, error) {
	s, err := parseURL(rawURL)
	if err != nil {
		return nil, nil, err
	}
	conn, err := amqp.DialConfig(s.dialURL, amqp.Config{Dial: amqp.DefaultDial(s.dialTimeout)})
	if err != nil {
		return nil, nil, fmt.Errorf("rabbitmq %s: %w: %v", s.redacted, backends.ErrUnreachable, err)
	}
	return conn, amqp.Table{"x-queue-type": s.queueType}, nil
}

// amqpConfirmWindow bounds the published messages awaiting their confirm.
const amqpConfirmWindow = 512

// amqpCeiling is RabbitMQ with palantir's guarantees and none of its
// code: a durable queue, persistent messages published with confirms (a
// window of amqpConfirmWindow outstanding), one consumer channel with
// prefetch c.Prefetch shared by c.Concurrency goroutines, each
// message acked on its own.
func ceiling(ctx context.Context, c backends.CeilingRun) (time.Duration, error) {
	conn, args, err := ceilingDial(c.URL)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	pub, err := conn.Channel()
	if err != nil {
		return 0, fmt.Errorf("rabbitmq channel: %w", err)
	}
	if _, err := pub.QueueDeclare(c.Queue, true, false, false, false, args); err != nil {
		return 0, fmt.Errorf("rabbitmq declare %s: %w", c.Queue, err)
	}
	defer deleteQueues(conn.Channel, c.Queue)
	if err := pub.Confirm(false); err != nil {
		return 0, fmt.Errorf("rabbitmq confirm mode: %w", err)
	}
	sub, err := conn.Channel()
	if err != nil {
		return 0, fmt.Errorf("rabbitmq channel: %w", err)
	}
	if err := sub.Qos(c.Prefetch, 0, false); err != nil {
		return 0, fmt.Errorf("rabbitmq qos: %w", err)
	}
	deliveries, err := sub.Consume(c.Queue, "", false, false, false, false, nil)
	if err != nil {
		return 0, fmt.Errorf("rabbitmq consume %s: %w", c.Queue, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	finished := make(chan struct{})
	var end time.Time
	var once sync.Once
	start := time.Now()

	pubErr := make(chan error, 1)
	go func() {
		pending := make([]*amqp.DeferredConfirmation, 0, amqpConfirmWindow)
		wait := func(dc *amqp.DeferredConfirmation) error {
			ok, err := dc.WaitContext(ctx)
			if err == nil && !ok {
				err = errors.New("message nacked by the broker")
			}
			return err
		}
		msg := amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json", Body: c.Body}
		for i := 0; i < c.Messages; i++ {
			if len(pending) == amqpConfirmWindow {
				if err := wait(pending[0]); err != nil {
					pubErr <- fmt.Errorf("rabbitmq confirm: %w", err)
					return
				}
				pending = pending[1:]
			}
			dc, err := pub.PublishWithDeferredConfirmWithContext(ctx, "", c.Queue, false, false, msg)
			if err != nil {
				pubErr <- fmt.Errorf("rabbitmq publish: %w", err)
				return
			}
			pending = append(pending, dc)
		}
		for _, dc := range pending {
			if err := wait(dc); err != nil {
				pubErr <- fmt.Errorf("rabbitmq confirm: %w", err)
				return
			}
		}
		pubErr <- nil
	}()
	var wg sync.WaitGroup
	for range c.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-finished:
					return
				case d, ok := <-deliveries:
					if !ok {
						return
					}
					if err := d.Ack(false); err != nil {
						return
					}
					if c.Acked.Add(1) == int64(c.Messages) {
						once.Do(func() { end = time.Now(); close(finished) })
					}
				}
			}
		}()
	}
	select {
	case <-finished:
	case <-ctx.Done():
	case err := <-pubErr:
		if err != nil {
			cancel()
			wg.Wait()
			return 0, err
		}
		select {
		case <-finished:
		case <-ctx.Done():
		}
	}
	cancel()
	wg.Wait()
	if c.Acked.Load() < int64(c.Messages) {
		return 0, fmt.Errorf("rabbitmq: %d of %d messages acked: %w", c.Acked.Load(), c.Messages, context.Cause(ctx))
	}
	return end.Sub(start), nil
}

// Destroy deletes the queue's every broker queue: the work queue, its
// retry ladder and its dead letters.
func (q *Queue) Destroy(ctx context.Context) error {
	conn, err := q.connection(ctx)
	if err != nil {
		return err
	}
	return classify(deleteQueues(conn.Channel, q.names.work))
}

// deleteQueues deletes queue's broker queues on channels from open; a
// failed delete closes its channel, so the next one opens another.
func deleteQueues(open func() (*amqp.Channel, error), queue string) error {
	var errs []error
	for _, name := range QueueNames(queue) {
		ch, err := open()
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		if _, err := ch.QueueDelete(name, false, false, false); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", name, err))
		}
		ch.Close()
	}
	return errors.Join(errs...)
}
