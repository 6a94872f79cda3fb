// Package server is `palantir serve`: an HTTP JSON API, a Server-Sent
// Events stream of telemetry, Prometheus metrics and the live dashboard,
// over the same store and queue as the command line. Its handlers parse a
// request, call package ops (the code the commands call), and encode what
// it returns; docs/api.md and web/openapi.yaml describe the routes.
//
// # Safe by default
//
// The dashboard's files are embedded and load nothing from other hosts
// (a Content-Security-Policy says so to the browser). With a token every
// /api/…, /metrics and /openapi.yaml request needs "Authorization: Bearer
// TOKEN", compared in constant time. State-changing requests must be
// application/json, which an HTML form on another site cannot send.
// Bodies are limited to MaxBody bytes.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/metrics"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// MaxBody bounds a request body.
const MaxBody = 64 << 10

// Config is what a Server serves. Every field but Token, Version,
// EmbeddedWorkers and Log is required.
type Config struct {
	Store     *store.Store
	Queue     backends.Queue
	Telemetry *telemetry.Recorder // records the launches and replays made through the API
	Metrics   *metrics.Metrics
	Backend   string // registered backend name
	QueueName string
	Token     string // empty: no authentication (loopback only)
	Version   string
	// EmbeddedWorkers names the workers this process runs, if any.
	EmbeddedWorkers []string
	Log             *slog.Logger
	// PollEvery is how often the event stream reads the store [250ms].
	PollEvery time.Duration
	// QueueInProcess: the queue lives in this process (inproc) and ends
	// with it, so the server keeps the ids of the missions it launched or
	// replayed until they end: Unfinished lists them.
	QueueInProcess bool
	// Missions are the config file's mission types, which the API
	// launches and filters by beside the built-in ones.
	Missions mission.Catalog
	// Lease is the queue's: a launch this server died in the middle of is
	// published by the queue's other processes after it (ops.Launcher).
	Lease time.Duration
}

// Server answers HTTP requests. Run must be running for the event stream
// and the event-fed metrics to move.
type Server struct {
	cfg      Config
	hub      *hub
	launcher *ops.Launcher
	replayer *ops.Replayer
	summary  summaryCache
	handler  http.Handler
	mine     unfinished
}

// New builds a server; call Run to start its event poller.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = 250 * time.Millisecond
	}
	s := &Server{cfg: cfg,
		launcher: &ops.Launcher{Store: cfg.Store, Queue: cfg.Queue, Telemetry: cfg.Telemetry, Backend: cfg.Backend,
			QueueName: cfg.QueueName, Source: telemetry.API(), Log: cfg.Log, RecoverAfter: cfg.Lease},
		replayer: &ops.Replayer{Store: cfg.Store, Queue: cfg.Queue, Telemetry: cfg.Telemetry, Backend: cfg.Backend,
			QueueName: cfg.QueueName},
	}
	cfg.Metrics.Register(metrics.Gauges(s.gaugeSource()))
	s.hub = newHub(cfg.Store, cfg.PollEvery, s.observe, cfg.Log)
	s.handler = s.routes()
	return s
}

// gaugeSource is what /metrics reads at scrape time.
func (s *Server) gaugeSource() metrics.Source {
	st, backend, queue := s.cfg.Store, s.cfg.Backend, s.cfg.QueueName
	return metrics.Source{Backend: backend, Queue: queue, Stats: s.cfg.Queue.Stats,
		Counts: func(ctx context.Context) ([]store.Count, error) { return st.CountsBy(ctx, "type", store.Scope{}) },
		LiveWorkers: func(ctx context.Context) (int, error) {
			ws, err := ops.LiveWorkers(ctx, st, time.Now(), backend, queue)
			return len(ws), err
		}}
}

func (s *Server) observe(e telemetry.Event) {
	s.cfg.Metrics.Observe(e)
	if s.cfg.QueueInProcess && (e.Name == telemetry.MissionPersisted || e.Name == telemetry.MissionDeadLettered) {
		s.mine.done(e.MissionID)
	}
}

// Unfinished lists the missions this server launched or replayed onto a
// queue in this process that it has not seen end (QueueInProcess only):
// what is lost when the process stops.
func (s *Server) Unfinished() []string { return s.mine.list() }

// Launched tells the server of missions this process launched or
// replayed (through the API, or serve's schedules): on an in-process
// queue, Unfinished counts them until they end.
func (s *Server) Launched(ids []string) {
	if s.cfg.QueueInProcess {
		s.mine.add(ids)
	}
}

// unfinished is a set of mission ids, bounded by what the in-process
// queue holds: ids leave it when their mission ends.
type unfinished struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

func (u *unfinished) add(ids []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ids == nil {
		u.ids = map[string]struct{}{}
	}
	for _, id := range ids {
		u.ids[id] = struct{}{}
	}
}

func (u *unfinished) done(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.ids, id)
}

func (u *unfinished) list() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, 0, len(u.ids))
	for id := range u.ids {
		out = append(out, id)
	}
	return out
}

// Run polls the store for new events until ctx ends, feeding the stream's
// subscribers and the metrics; then it ends every stream.
func (s *Server) Run(ctx context.Context) error { return s.hub.run(ctx) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", static("index.html"))
	mux.Handle("GET /app.js", static("app.js"))
	mux.Handle("GET /style.css", static("style.css"))
	mux.Handle("GET /openapi.yaml", s.auth(static("openapi.yaml")))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", s.auth(s.cfg.Metrics.Handler()))
	api := map[string]http.HandlerFunc{
		"GET /api/info":                  s.info,
		"POST /api/missions":             jsonBody(s.launch),
		"GET /api/missions":              s.history,
		"GET /api/missions/{id}":         s.mission,
		"GET /api/missions/{id}/events":  s.missionEvents,
		"POST /api/missions/{id}/cancel": jsonBody(s.cancel),
		"GET /api/leaderboard":           s.leaderboard,
		"GET /api/status":                s.status,
		"GET /api/dlq":                   s.deadLetters,
		"POST /api/dlq/replay":           jsonBody(s.replay),
		"GET /api/events/stream":         s.stream,
	}
	for pattern, h := range api {
		mux.Handle(pattern, s.auth(h))
	}
	return secureHeaders(s.loopbackHostOnly(jsonErrors(mux)))
}

// jsonErrors answers what no route takes with the API's JSON errors: 405
// with Allow when the path exists for other methods, 404 otherwise.
func jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 || r.Method == http.MethodGet && slices.Contains(allow, http.MethodGet) {
			writeError(w, http.StatusNotFound, fmt.Errorf("no route %s %s (see /openapi.yaml)", r.Method, ops.Truncate(r.URL.Path, 100)))
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s %s: method not allowed (allowed: %s)", r.Method, ops.Truncate(r.URL.Path, 100), strings.Join(allow, ", ")))
	})
}

// jsonBody: a state-changing request must be application/json, which an
// HTML form on another site cannot send, and its body is bounded.
func jsonBody(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, errors.New("Content-Type must be application/json"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		next(w, r)
	}
}

func (s *Server) auth(next http.Handler) http.Handler { return BearerAuth(s.cfg.Token, next) }

// BearerAuth demands "Authorization: Bearer token" before next, when token
// is not empty (compared in constant time).
func BearerAuth(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="palantir"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong token: send Authorization: Bearer TOKEN"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// secureHeaders: the page may load only from this server, no other site
// may frame it, and no response is sniffed into another type.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// CheckAddr refuses to listen beyond loopback without a token: the API
// launches missions and the metrics describe the deployment.
// flag names the setting in the error.
func CheckAddr(flag, addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %s %q: %v (use HOST:PORT, e.g. 127.0.0.1:8080)", ops.ErrInvalid, flag, addr, err)
	}
	if token != "" || isLoopback(host) {
		return nil
	}
	return fmt.Errorf("%w: %s %s listens beyond this machine: set a token (PALANTIR_TOKEN, or serve's --token) so that only you can use it, or bind 127.0.0.1",
		ops.ErrInvalid, flag, addr)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackHostOnly: without a token the server listens on loopback only,
// and answers only requests addressed to a loopback name. A page on
// another site whose name its owner rebinds to 127.0.0.1 (DNS rebinding)
// sends its own name as Host, and gets 403.
func (s *Server) loopbackHostOnly(next http.Handler) http.Handler {
	if s.cfg.Token != "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !isLoopback(strings.Trim(host, "[]")) {
			writeError(w, http.StatusForbidden, fmt.Errorf("Host %q is not a loopback name: without --token this server answers only 127.0.0.1, localhost and [::1]", ops.Truncate(r.Host, 100)))
			return
		}
		next.ServeHTTP(w, r)
	})
}
