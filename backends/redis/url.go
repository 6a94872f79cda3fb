package redis

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palantir-lab/palantir/backends"
)

// urlParams are the query parameters a palantir Redis URL may carry. They
// are go-redis's own names, minus the ones that would put a secret in the
// query string (username, password), where Redact cannot hide it.
var urlParams = []string{
	"addr", "client_name", "cluster", "conn_max_idle_time", "conn_max_lifetime",
	"db", "dial_timeout", "master_name", "max_active_conns", "max_idle_conns",
	"min_idle_conns", "pool_size", "pool_timeout", "protocol", "read_timeout",
	"skip_verify", "write_timeout",
	// TLS (rediss:// only), named as in amqp091-go's AMQP URLs.
	"cacertfile", "certfile", "keyfile", "server_name_indication",
}

// tlsParams are the parameters that only mean something with TLS.
var tlsParams = []string{"cacertfile", "certfile", "keyfile", "server_name_indication", "skip_verify"}

// retryParams are go-redis's parameters for its automatic retries, which
// palantir turns off (see noRetries).
var retryParams = []string{"max_retries", "max_retry_backoff", "min_retry_backoff"}

// noRetries is go-redis's MaxRetries for "never". go-redis repeats a
// command whose reply did not come (a read timeout, a connection reset
// after the write) on a new connection, up to 3 times by default. That is
// harmless for a read, but the Lua scripts here are not idempotent: a
// settlement that ran, and whose reply was lost, runs again, finds the
// entry settled, and reports a successful ack as ErrLeaseLost; a poll
// that ran again reads a second batch while the first sits pending on
// this consumer for a whole lease. So nothing is repeated behind the
// caller's back: an unanswered command fails with ErrUnreachable, whose
// outcome is unknown, and the callers (the worker's backoff, a settlement
// called again, a consumer that recovers its lost reads) decide.
const noRetries = -1

// defaultDialTimeout keeps Open within the few seconds the Opener
// contract allows when the URL does not say otherwise.
const defaultDialTimeout = 3 * time.Second

// topology is how a URL reaches Redis.
type topology string

const (
	single   topology = "single"
	sentinel topology = "sentinel"
	cluster  topology = "cluster"
)

// clientSpec is a parsed URL, ready to build a client.
type clientSpec struct {
	topology     topology
	singleOpts   *goredis.Options
	failoverOpts *goredis.FailoverOptions
	clusterOpts  *goredis.ClusterOptions
	// insecure is true when TLS does not verify the server
	// (skip_verify=true): Open says so in the log.
	insecure bool
}

func (s clientSpec) newClient() goredis.UniversalClient {
	switch s.topology {
	case sentinel:
		return goredis.NewFailoverClient(s.failoverOpts)
	case cluster:
		return goredis.NewClusterClient(s.clusterOpts)
	default:
		return goredis.NewClient(s.singleOpts)
	}
}

// tls reports whether the URL asks for TLS.
func (s clientSpec) tls() bool {
	switch s.topology {
	case sentinel:
		return s.failoverOpts.TLSConfig != nil
	case cluster:
		return s.clusterOpts.TLSConfig != nil
	default:
		return s.singleOpts.TLSConfig != nil
	}
}

// addr is the first address the client dials.
func (s clientSpec) addr() string {
	switch s.topology {
	case sentinel:
		return s.failoverOpts.SentinelAddrs[0]
	case cluster:
		return s.clusterOpts.Addrs[0]
	default:
		return s.singleOpts.Addr
	}
}

// redact is backends.Redact, and also hides the values of query
// parameters palantir does not know: one of them may be a password
// (?password=...), which (*url.URL).Redacted leaves in place.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.RawQuery == "" {
		return backends.Redact(rawURL)
	}
	q := u.Query()
	for k := range q {
		if !slices.Contains(urlParams, k) && !slices.Contains(retryParams, k) {
			q[k] = []string{"xxxxx"}
		}
	}
	u.RawQuery = q.Encode()
	return backends.Redact(u.String())
}

// parseURL reads a redis:// or rediss:// URL (see the package comment for
// its forms). Errors wrap backends.ErrBadURL and show the URL redacted.
func parseURL(rawURL string) (clientSpec, error) {
	where := redact(rawURL)
	bad := func(format string, args ...any) (clientSpec, error) {
		return clientSpec{}, fmt.Errorf("%w %s: "+format, append([]any{backends.ErrBadURL, where}, args...)...)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's message repeats the URL, password included.
		return bad("does not parse as a URL")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return bad("scheme %q is not redis or rediss", u.Scheme)
	}
	q := u.Query()
	var unknown []string
	for k := range q {
		if !slices.Contains(urlParams, k) && !slices.Contains(retryParams, k) {
			unknown = append(unknown, k)
		}
	}
	for _, k := range retryParams {
		if q.Has(k) {
			return bad("%s: palantir turns go-redis's automatic retries off, since a repeated Lua script can report a settled message as lost; palantir's worker retries instead (remove the parameter)", k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return bad("unknown query parameter %s (known: %s)", strings.Join(unknown, ", "), strings.Join(urlParams, ", "))
	}

	// Parameters go-redis does not know in every topology are taken out
	// here and applied below.
	forceCluster := false
	if q.Has("cluster") {
		if forceCluster, err = strconv.ParseBool(q.Get("cluster")); err != nil {
			return bad("cluster=%q is not a boolean", q.Get("cluster"))
		}
		q.Del("cluster")
	}
	for _, k := range tlsParams {
		if q.Has(k) && u.Scheme != "rediss" {
			return bad("%s is a TLS parameter: use a rediss:// URL", k)
		}
	}
	skipVerify := false
	if q.Has("skip_verify") {
		if skipVerify, err = strconv.ParseBool(q.Get("skip_verify")); err != nil {
			return bad("skip_verify=%q is not a boolean", q.Get("skip_verify"))
		}
	}
	tlsOpts := map[string]string{}
	for _, k := range tlsParams {
		tlsOpts[k] = q.Get(k)
		q.Del(k)
	}
	u.RawQuery = q.Encode()

	spec := clientSpec{topology: single}
	switch {
	case q.Has("master_name"):
		if forceCluster {
			return bad("master_name (Sentinel) and cluster=true exclude each other")
		}
		spec.topology = sentinel
	case forceCluster || q.Has("addr"):
		spec.topology = cluster
		if db := strings.Trim(u.Path, "/"); (db != "" && db != "0") || q.Has("db") {
			return bad("Redis Cluster has only database 0")
		}
		u.Path = ""
	}

	var tlsConf **tls.Config
	switch spec.topology {
	case single:
		spec.singleOpts, err = goredis.ParseURL(u.String())
		if err == nil {
			o := spec.singleOpts
			o.ContextTimeoutEnabled = true
			o.MaxRetries = noRetries
			if o.DialTimeout == 0 {
				o.DialTimeout = defaultDialTimeout
			}
			tlsConf = &o.TLSConfig
		}
	case sentinel:
		spec.failoverOpts, err = goredis.ParseFailoverURL(u.String())
		if err == nil {
			o := spec.failoverOpts
			// The URL's user and password are those of the Redis servers,
			// as in the other forms; sentinels are reached without AUTH.
			o.Username, o.Password = o.SentinelUsername, o.SentinelPassword
			o.SentinelUsername, o.SentinelPassword = "", ""
			o.ContextTimeoutEnabled = true
			o.MaxRetries = noRetries
			if o.DialTimeout == 0 {
				o.DialTimeout = defaultDialTimeout
			}
			tlsConf = &o.TLSConfig
		}
	case cluster:
		spec.clusterOpts, err = goredis.ParseClusterURL(u.String())
		if err == nil {
			o := spec.clusterOpts
			o.ContextTimeoutEnabled = true
			o.MaxRetries = noRetries
			if o.DialTimeout == 0 {
				o.DialTimeout = defaultDialTimeout
			}
			tlsConf = &o.TLSConfig
		}
	}
	if err != nil {
		// go-redis names the offending parameter, never the password.
		return bad("%v", err)
	}
	if *tlsConf != nil {
		if err := configureTLS(*tlsConf, tlsOpts); err != nil {
			return bad("%v", err)
		}
		(*tlsConf).InsecureSkipVerify = skipVerify
		spec.insecure = skipVerify
	}
	return spec, nil
}

// configureTLS applies the URL's TLS parameters: cacertfile, a PEM file
// of the CAs to trust instead of the system's; certfile and keyfile, a
// client certificate and its key (both or neither), for a server with
// tls-auth-clients; server_name_indication, the name to send and verify
// instead of the URL's host. Files are read now, so that a wrong path is
// a configuration error at once.
func configureTLS(c *tls.Config, p map[string]string) error {
	if f := p["cacertfile"]; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("cacertfile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("cacertfile %s holds no PEM certificate", f)
		}
		c.RootCAs = pool
	}
	switch cert, key := p["certfile"], p["keyfile"]; {
	case cert != "" && key != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return fmt.Errorf("certfile and keyfile: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	case cert != "" || key != "":
		return errors.New("certfile and keyfile go together (a client certificate and its key)")
	}
	if sni := p["server_name_indication"]; sni != "" {
		c.ServerName = sni
	}
	return nil
}
