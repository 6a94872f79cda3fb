package rabbitmq

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// queueTypeParam is the one query parameter palantir reads itself.
const queueTypeParam = "queue_type"

// driverParams are the query parameters amqp091-go reads (see its
// ParseURI); they pass through to the dial.
var driverParams = []string{
	"auth_mechanism", "cacertfile", "certfile", "channel_max",
	"connection_timeout", "heartbeat", "keyfile", "server_name_indication",
}

// queueTypes are the values of queue_type; the first is the default.
var queueTypes = []string{"classic", "quorum"}

// defaultDialTimeout keeps Open within the few seconds the Opener contract
// allows, covering TCP connect, TLS and the AMQP handshake.
const defaultDialTimeout = 3 * time.Second

// settings is a parsed URL.
type settings struct {
	dialURL     string // what amqp091-go dials: palantir's parameters removed
	redacted    string // for errors and logs
	queueType   string
	dialTimeout time.Duration
}

// parseURL reads an amqp:// or amqps:// URL. Errors wrap backends.ErrBadURL
// and show the URL redacted.
func parseURL(rawURL string) (settings, error) {
	where := backends.Redact(rawURL)
	bad := func(format string, args ...any) (settings, error) {
		return settings{}, fmt.Errorf("rabbitmq URL %s: %w: "+format, append([]any{where, backends.ErrBadURL}, args...)...)
	}
	if strings.TrimSpace(rawURL) == "" {
		return bad("empty (want amqp://user:password@host:5672/vhost)")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's message repeats the URL, password included.
		return bad("does not parse as a URL (percent-encode reserved characters in the user name and password)")
	}
	if u.Scheme != "amqp" && u.Scheme != "amqps" {
		return bad("scheme %q is not amqp or amqps", u.Scheme)
	}
	if u.Host == "" {
		return bad("no host (want amqp://user:password@host:5672/vhost, with two slashes)")
	}
	if u.Fragment != "" {
		return bad("unexpected #fragment")
	}
	q := u.Query()
	known := append([]string{queueTypeParam}, driverParams...)
	var unknown []string
	for k := range q {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		slices.Sort(known)
		return bad("unknown query parameter %s (known: %s)", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	s := settings{redacted: where, queueType: queueTypes[0], dialTimeout: defaultDialTimeout}
	if q.Has(queueTypeParam) {
		s.queueType = q.Get(queueTypeParam)
		if !slices.Contains(queueTypes, s.queueType) {
			return bad("%s=%q (known: %s)", queueTypeParam, s.queueType, strings.Join(queueTypes, ", "))
		}
		q.Del(queueTypeParam)
	}
	if q.Has("connection_timeout") {
		ms, err := strconv.Atoi(q.Get("connection_timeout"))
		if err != nil || ms <= 0 {
			return bad("connection_timeout=%q is not a positive number of milliseconds", q.Get("connection_timeout"))
		}
		s.dialTimeout = time.Duration(ms) * time.Millisecond
	}
	u.RawQuery = q.Encode()
	s.dialURL = u.String()
	return s, nil
}
