package nats

import (
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/palantir-lab/palantir/backends"
)

// The headers palantir writes. A message published by hand has none of
// them and is still delivered (see decode).
const (
	hdrID          = "Palantir-Id"
	hdrAttempt     = "Palantir-Attempt"
	hdrPrior       = "Palantir-Prior-Deliveries" // deliveries without an outcome of the copies before this one
	hdrRedelivered = "Palantir-Redelivered"      // "1": a copy of a message a consumer received and gave back
	hdrDue         = "Palantir-Due"              // a delayed retry: when it becomes receivable (RFC 3339)
	hdrReason      = "Palantir-Reason"           // a dead letter: why
	hdrDeadAt      = "Palantir-Dead-At"          // a dead letter: when (RFC 3339)
)

// outgoing is a message about to be published.
type outgoing struct {
	subject     string
	msg         backends.Message
	prior       int
	redelivered bool
	due         time.Time
	reason      string
	deadAt      time.Time
	// msgID, when set, is the Nats-Msg-Id JetStream de-duplicates by
	// within dedupWindow.
	msgID string
}

func (o outgoing) natsMsg() *natsgo.Msg {
	m := natsgo.NewMsg(o.subject)
	m.Data = o.msg.Body
	m.Header.Set(hdrID, headerValue(o.msg.ID))
	m.Header.Set(hdrAttempt, strconv.Itoa(max(o.msg.Attempt, 1)))
	if o.prior > 0 {
		m.Header.Set(hdrPrior, strconv.Itoa(o.prior))
	}
	if o.redelivered {
		m.Header.Set(hdrRedelivered, "1")
	}
	if !o.due.IsZero() {
		m.Header.Set(hdrDue, o.due.UTC().Format(time.RFC3339Nano))
	}
	if o.reason != "" {
		m.Header.Set(hdrReason, headerValue(o.reason))
		m.Header.Set(hdrDeadAt, o.deadAt.UTC().Format(time.RFC3339Nano))
	}
	if o.msgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, headerValue(o.msgID))
	}
	return m
}

// headerValue makes s fit in a header line: the protocol ends a header
// at a line break, so a reason quoting a multi-line error would cut the
// message's headers short.
func headerValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// stored is what palantir reads back from a stored message's headers.
type stored struct {
	msg         backends.Message
	prior       int
	redelivered bool
	due         time.Time
	reason      string
	deadAt      time.Time
}

// decode reads the headers of the message at stream sequence seq. A
// message without palantir's headers (published with nats pub) gets the
// ID "raw-" and its sequence, attempt 1; copies of it keep that ID.
func decode(h natsgo.Header, body []byte, seq uint64) stored {
	s := stored{msg: backends.Message{ID: h.Get(hdrID), Body: body}}
	if s.msg.ID == "" {
		s.msg.ID = "raw-" + strconv.FormatUint(seq, 10)
	}
	s.msg.Attempt = 1
	if n, err := strconv.Atoi(h.Get(hdrAttempt)); err == nil && n >= 1 {
		s.msg.Attempt = n
	}
	if n, err := strconv.Atoi(h.Get(hdrPrior)); err == nil && n > 0 {
		s.prior = n
	}
	s.redelivered = h.Get(hdrRedelivered) == "1"
	s.due, _ = time.Parse(time.RFC3339Nano, h.Get(hdrDue))
	s.reason = h.Get(hdrReason)
	s.deadAt, _ = time.Parse(time.RFC3339Nano, h.Get(hdrDeadAt))
	return s
}
