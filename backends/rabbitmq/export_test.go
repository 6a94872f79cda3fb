package rabbitmq

// BreakAckAfterCopy makes Retry and DeadLetter of q's deliveries close the
// delivery's channel once their copy is confirmed and before the original
// is acked, so that the ack fails as it would if the connection dropped
// at that moment.
func BreakAckAfterCopy(q *Queue) {
	q.afterCopy = func(d *delivery) { _ = d.s.ch.Close() }
}
