package redis

import (
	"crypto/tls"
	"fmt"
	"net/url"
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
}

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
	skipVerify := false
	if q.Has("skip_verify") {
		if skipVerify, err = strconv.ParseBool(q.Get("skip_verify")); err != nil {
			return bad("skip_verify=%q is not a boolean", q.Get("skip_verify"))
		}
		q.Del("skip_verify")
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
	if skipVerify && *tlsConf != nil {
		(*tlsConf).InsecureSkipVerify = true
	}
	return spec, nil
}
