// Package batch holds the one trick behind palantir's group commit and
// batched acks: take whatever has queued up, without waiting for more.
package batch

// Fill appends to buf (from its start) first and then whatever is already
// waiting in ch, up to max items in all, without blocking. A closed ch
// ends the fill.
func Fill[T any](buf []T, first T, ch <-chan T, max int) []T {
	buf = append(buf[:0], first)
	for len(buf) < max {
		select {
		case v, ok := <-ch:
			if !ok {
				return buf
			}
			buf = append(buf, v)
		default:
			return buf
		}
	}
	return buf
}
