package nats

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/palantir-lab/palantir/backends"
)

// tlsParams are the query parameters for TLS: PEM files.
var tlsParams = []string{"cacertfile", "certfile", "keyfile"}

// replicasParam is how many servers of a cluster keep each of the
// queue's streams (JetStream's Replicas, 1 to 5).
const replicasParam = "replicas"

// urlParams are the query parameters palantir reads. Nothing else may
// follow '?': nats.go ignores query parameters, and a silently ignored
// setting is worse than an error.
var urlParams = append(slices.Clone(tlsParams), replicasParam)

// maxReplicas is JetStream's limit on a stream's replicas.
const maxReplicas = 5

// settings is a parsed URL.
type settings struct {
	server   string // what nats.go dials: one server, palantir's parameters removed
	redacted string // for errors and logs
	caFile   string
	certFile string
	keyFile  string
	// replicas is the streams' Replicas; 0 leaves it to the server (1).
	replicas int
}

// parseURL reads a nats:// or tls:// URL naming one server:
//
//	nats://[user:password@ | token@]host[:4222][?cacertfile=&certfile=&keyfile=&replicas=]
//
// tls:// asks for TLS (as nats.go reads it); so does any of the TLS
// parameters. Errors wrap backends.ErrBadURL and show the URL redacted.
func parseURL(rawURL string) (settings, error) {
	raw := strings.TrimSpace(rawURL)
	where := redact(raw)
	bad := func(format string, args ...any) (settings, error) {
		return settings{}, fmt.Errorf("nats URL %s: %w: "+format, append([]any{where, backends.ErrBadURL}, args...)...)
	}
	if raw == "" {
		return bad("empty (want nats://host:4222)")
	}
	if strings.Contains(raw, ",") {
		return bad("lists several servers: give one (the client learns the rest of a cluster from it)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's message repeats the URL, password included.
		return bad("does not parse as a URL (percent-encode reserved characters in the user name and password)")
	}
	if u.Scheme != "nats" && u.Scheme != "tls" {
		return bad("scheme %q is not nats or tls", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return bad("no host (want nats://host:4222, with two slashes)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("port %q is not a number from 1 to 65535", p)
		}
	}
	if u.Path != "" && u.Path != "/" || u.RawPath != "" {
		return bad("unexpected path: a NATS URL names a server only (the queue is --queue)")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("unexpected #fragment")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query does not parse")
	}
	var unknown []string
	for k := range q {
		if !slices.Contains(urlParams, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return bad("unknown query parameter %s (known: %s)", strings.Join(unknown, ", "), strings.Join(urlParams, ", "))
	}
	s := settings{redacted: where, caFile: q.Get("cacertfile"), certFile: q.Get("certfile"), keyFile: q.Get("keyfile")}
	for _, k := range tlsParams {
		if q.Has(k) && q.Get(k) == "" {
			return bad("%s is empty (want the path of a PEM file)", k)
		}
	}
	if q.Has(replicasParam) {
		n, err := strconv.Atoi(q.Get(replicasParam))
		if err != nil || n < 1 || n > maxReplicas {
			return bad("%s=%q is not a number from 1 to %d", replicasParam, q.Get(replicasParam), maxReplicas)
		}
		s.replicas = n
	}
	if (s.certFile == "") != (s.keyFile == "") {
		return bad("certfile and keyfile go together (a client certificate and its key)")
	}
	u.RawQuery, u.Path, u.ForceQuery = "", "", false
	s.server = u.String()
	return s, nil
}

// redact is backends.Redact, and more: a URL whose userinfo has no
// password is a token to NATS (nats://TOKEN@host), so the whole userinfo
// is hidden then (and when the user name holds an '@'); and a list of URLs is redacted one by one (Redact would
// read the second URL's password as part of the first one's path).
func redact(rawURL string) string {
	parts := strings.Split(rawURL, ",")
	for i, p := range parts {
		parts[i] = redactOne(p)
	}
	return strings.Join(parts, ",")
}

func redactOne(rawURL string) string {
	out := backends.Redact(rawURL)
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || u.User == nil {
		return out
	}
	if pw, ok := u.User.Password(); ok && pw != "" && !strings.Contains(u.User.Username(), "@") {
		return out // user:xxxxx already (a name holding '@' is a mistyped URL: hide it too)
	}
	i := strings.Index(out, "://")
	if i < 0 {
		return out
	}
	rest := out[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return out
	}
	return out[:i+3] + "xxxxx" + rest[at:]
}
