package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

// maxLaunch bounds one POST /api/missions: its answer lists every mission.
const maxLaunch = 1000

// maxList bounds the lists the API answers with.
const maxList = 1000

type infoJSON struct {
	Version         string    `json:"version"`
	Backend         string    `json:"backend"`
	Queue           string    `json:"queue"`
	Store           storeJSON `json:"store"`
	EmbeddedWorkers []string  `json:"embedded_workers"`
	ServerTime      time.Time `json:"server_time"`
	Types           []string  `json:"types"` // what POST /api/missions launches
}

type storeJSON struct {
	Driver   string `json:"driver"`
	Location string `json:"location"`
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	workers := s.cfg.EmbeddedWorkers
	if workers == nil {
		workers = []string{}
	}
	writeJSON(w, http.StatusOK, infoJSON{Version: s.cfg.Version, Backend: s.cfg.Backend, Queue: s.cfg.QueueName,
		Store:           storeJSON{Driver: s.cfg.Store.Driver(), Location: s.cfg.Store.Location()},
		EmbeddedWorkers: workers, ServerTime: time.Now().UTC(), Types: s.cfg.Missions.Names()})
}

// launchBody is POST /api/missions. Pointers tell an absent field, which
// takes the command line's default, from a zero.
type launchBody struct {
	Type        string   `json:"type"`
	Count       *int     `json:"count"`
	Hero        string   `json:"hero"`
	FailRate    *float64 `json:"fail_rate"`
	MaxAttempts *int     `json:"max_attempts"`
	Speed       *float64 `json:"speed"`
	Seed        *uint64  `json:"seed"`
	// UniqueFor is a duration ("1m"), as launch --unique-for.
	UniqueFor string `json:"unique_for"`
	// In ("30s") or At (RFC 3339) launch for later, as launch --in/--at.
	In string `json:"in"`
	At string `json:"at"`
}

// due is when In or At say to publish (zero: now), checked against now.
func (b launchBody) due(now time.Time) (time.Time, error) {
	var t time.Time
	switch {
	case b.In != "" && b.At != "":
		return t, errors.New("give in or at, not both")
	case b.In != "":
		d, err := time.ParseDuration(b.In)
		if err != nil || d <= 0 || d > ops.MaxLater {
			return t, fmt.Errorf("in %q: a duration above 0 and at most %v (e.g. 30s, 5m)", ops.Truncate(b.In, 40), ops.MaxLater)
		}
		return now.Add(d), nil
	case b.At != "":
		at, err := time.Parse(time.RFC3339, b.At)
		if err != nil || !at.After(now) || at.Sub(now) > ops.MaxLater {
			return t, fmt.Errorf("at %q: an RFC 3339 time after now (%s) and at most %v ahead", ops.Truncate(b.At, 40), now.UTC().Format(time.RFC3339), ops.MaxLater)
		}
		return at, nil
	}
	return t, nil
}

func (b launchBody) request() ops.LaunchRequest {
	r := ops.LaunchRequest{Count: 1, Hero: b.Hero, FailRate: mission.DefaultFailRate, MaxAttempts: mission.DefaultMaxAttempts,
		Speed: mission.DefaultSpeed}
	if b.Type != "" {
		r.Types = []string{b.Type}
	}
	if b.Count != nil {
		r.Count = *b.Count
	}
	if b.FailRate != nil {
		r.FailRate = *b.FailRate
	}
	if b.MaxAttempts != nil {
		r.MaxAttempts = *b.MaxAttempts
	}
	if b.Speed != nil {
		r.Speed = *b.Speed
	}
	if b.Seed != nil {
		r.Seed, r.SeedSet = *b.Seed, true
	}
	return r
}

func (s *Server) launch(w http.ResponseWriter, r *http.Request) {
	var body launchBody
	if !decodeBody(w, r, &body) {
		return
	}
	req := body.request()
	req.Defined = s.cfg.Missions
	if body.UniqueFor != "" {
		d, err := time.ParseDuration(body.UniqueFor)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("unique_for %q is not a duration (e.g. 30s, 1m)", ops.Truncate(body.UniqueFor, 40)))
			return
		}
		req.UniqueFor = d
	}
	due, err := body.due(time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	req.Due = due
	if err := req.Validate(ops.Param); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if n := req.Total(); n > maxLaunch {
		writeError(w, http.StatusBadRequest, fmt.Errorf("count: this launch makes %d missions; the API takes at most %d at once (palantir launch takes more)", n, maxLaunch))
		return
	}
	var ids []string
	skipped := 0
	l := *s.launcher // its fields are set once; this launch hears of its own skips
	l.Skipped = func(ops.Skip) { skipped++ }
	err = l.Launch(r.Context(), req, func(chunk []string) error {
		ids = append(ids, chunk...)
		s.Launched(chunk)
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ms, err := s.cfg.Store.Missions(r.Context(), ids)
	if err != nil {
		s.fail(w, r, fmt.Errorf("store: %w", err))
		return
	}
	w.Header().Set("X-Palantir-Skipped", strconv.Itoa(skipped))
	writeJSON(w, http.StatusCreated, ops.Missions(ms))
}

// historyParams are the query parameters of GET /api/missions.
var historyParams = []string{"type", "status", "hero", "worker", "backend", "since", "limit"}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := onlyParams(q, historyParams...); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	limit, err := limitParam(q, 50)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	hq := ops.HistoryQuery{Defined: s.cfg.Missions, Type: q.Get("type"), Status: q.Get("status"), Hero: q.Get("hero"), Worker: q.Get("worker"),
		Backend: q.Get("backend"), Since: q.Get("since"), Limit: limit}
	f, err := hq.Filter(time.Now(), ops.Param)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ms, err := s.cfg.Store.History(r.Context(), f)
	if err != nil {
		s.fail(w, r, fmt.Errorf("store: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, ops.Missions(ms))
}

// resolve turns the {id} of the path (an id or a unique prefix) into an
// id, answering the request itself when it cannot.
func (s *Server) resolve(w http.ResponseWriter, r *http.Request) (string, bool) {
	return s.resolveID(w, r, r.PathValue("id"))
}

func (s *Server) resolveID(w http.ResponseWriter, r *http.Request, arg string) (string, bool) {
	if !plainText(arg) || len(arg) > maxParam {
		writeError(w, http.StatusNotFound, fmt.Errorf("%w: %q", store.ErrNotFound, ops.Truncate(strings.ToValidUTF8(strings.ReplaceAll(arg, "\x00", ""), "?"), 40)))
		return "", false
	}
	id, err := s.cfg.Store.Resolve(r.Context(), arg)
	if err != nil {
		s.fail(w, r, err)
		return "", false
	}
	return id, true
}

// fail answers with err's status. An error the store did not classify is
// a 503 when the store no longer answers (a database outage surfaces as
// whatever its driver says), a 500 otherwise.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	if code == http.StatusInternalServerError {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Second)
		defer cancel()
		if perr := s.cfg.Store.Ping(ctx); perr != nil {
			code, err = http.StatusServiceUnavailable, fmt.Errorf("store unreachable: %w", err)
		}
	}
	writeError(w, code, err)
}

func (s *Server) mission(w http.ResponseWriter, r *http.Request) {
	id, ok := s.resolve(w, r)
	if !ok {
		return
	}
	ms, err := s.cfg.Store.Missions(r.Context(), []string{id})
	if err != nil || len(ms) == 0 {
		s.fail(w, r, fmt.Errorf("store: mission %s: %w", id, errors.Join(err, store.ErrNotFound)))
		return
	}
	writeJSON(w, http.StatusOK, ops.MissionOf(ms[0]))
}

// cancel ends one mission that has not ended. It takes no field; its
// Content-Type must still be JSON, so that no other site's form can send
// it.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	// No field is read, but a body is checked as every route checks it:
	// empty, or an empty object.
	if r.ContentLength != 0 {
		var none struct{}
		if !decodeBody(w, r, &none) {
			return
		}
	}
	id, ok := s.resolve(w, r)
	if !ok {
		return
	}
	ended, err := ops.Cancel(r.Context(), s.cfg.Store, s.cfg.Telemetry, []string{id}, telemetry.API(), time.Now())
	if err != nil {
		s.fail(w, r, fmt.Errorf("store: %w", err))
		return
	}
	ms, err := s.cfg.Store.Missions(r.Context(), []string{id})
	if err != nil || len(ms) == 0 {
		s.fail(w, r, fmt.Errorf("store: mission %s: %w", id, errors.Join(err, store.ErrNotFound)))
		return
	}
	if len(ended) == 0 {
		writeError(w, http.StatusConflict, fmt.Errorf("mission %s had already ended (%s)", id, ms[0].Status))
		return
	}
	writeJSON(w, http.StatusOK, ops.MissionOf(ms[0]))
}

func (s *Server) missionEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := s.resolve(w, r)
	if !ok {
		return
	}
	evs, err := s.cfg.Store.Events(r.Context(), store.EventFilter{MissionID: id})
	if err != nil {
		s.fail(w, r, fmt.Errorf("store: %w", err))
		return
	}
	// As trace: by time, since processes store their events in batches.
	ops.SortEvents(evs)
	writeJSON(w, http.StatusOK, ops.Events(evs))
}

func (s *Server) leaderboard(w http.ResponseWriter, r *http.Request) {
	rows, err := ops.Leaderboard(r.Context(), s.cfg.Store)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rows)
}

// status answers 200 even when the broker does not: the queue row then
// carries the error, as `status -o json` does.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	rows, err := s.summary.get(r.Context(), func(ctx context.Context) ([]ops.StatusRow, error) {
		return ops.Summary(ctx, s.cfg.Store, time.Now(), s.cfg.Backend, s.cfg.QueueName, false, s.cfg.Queue.Stats)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rows)
}

func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := onlyParams(q, "limit"); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	limit, err := limitParam(q, maxList)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	dead, err := s.cfg.Queue.DeadLetters(r.Context(), limit)
	if err != nil {
		s.fail(w, r, fmt.Errorf("list dead letters of %s queue %q: %w", s.cfg.Backend, s.cfg.QueueName, err))
		return
	}
	rows := make([]ops.DeadLetter, len(dead))
	for i, dl := range dead {
		rows[i] = ops.DeadLetterOf(dl)
	}
	writeJSON(w, http.StatusOK, rows)
}

type replayBody struct {
	IDs []string `json:"ids"`
	// These replace what the orders carry (dlq replay --fail-rate,
	// --max-attempts, --speed); absent, they keep theirs.
	FailRate    *float64 `json:"fail_rate"`
	MaxAttempts *int     `json:"max_attempts"`
	Speed       *float64 `json:"speed"`
}

type replayedJSON struct {
	Replayed []string `json:"replayed"`
}

func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	var body replayBody
	if !decodeBody(w, r, &body) {
		return
	}
	ov := store.Overrides{FailRate: body.FailRate, MaxAttempts: body.MaxAttempts, Speed: body.Speed}
	if err := ops.CheckOverrides(ov, ops.Param); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	rp := *s.replayer // its fields are set once; this replay's overrides are its own
	rp.Overrides = ov
	replayed, err := rp.Replay(r.Context(), body.IDs)
	if errors.Is(err, ops.ErrInvalid) {
		err = fmt.Errorf("ids: %w", err)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if replayed == nil {
		replayed = []string{}
	}
	s.Launched(replayed)
	writeJSON(w, http.StatusOK, replayedJSON{Replayed: replayed})
}

type healthJSON struct {
	Store  string `json:"store"`
	Broker string `json:"broker"`
}

// healthz answers 200 when the store and the broker answer within two
// seconds, 503 naming what failed otherwise.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	h, code := healthJSON{Store: "ok", Broker: "ok"}, http.StatusOK
	if err := s.cfg.Store.Ping(ctx); err != nil {
		h.Store, code = err.Error(), http.StatusServiceUnavailable
	}
	if _, err := s.cfg.Queue.Stats(ctx); err != nil {
		h.Broker, code = backends.RedactText(err.Error()), http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
}

// decodeBody reads one JSON object into v, answering 400 (naming the
// field) or 413 itself when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// Read the rest too: whitespace is fine, more JSON is not, and a
		// body past the limit is refused whatever it is padded with.
		rest, rerr := io.ReadAll(io.MultiReader(dec.Buffered(), r.Body))
		switch {
		case rerr != nil:
			err = rerr
		case len(bytes.TrimSpace(rest)) > 0:
			err = errors.New("one JSON object expected, found more after it")
		}
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", tooBig.Limit))
		return false
	case errors.Is(err, io.EOF):
		err = errors.New("empty body: a JSON object expected")
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = errors.New("malformed JSON: the body ends too early")
	case errors.As(err, &syntax):
		err = fmt.Errorf("malformed JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.As(err, &typ) && typ.Field == "":
		err = fmt.Errorf("the body must be a JSON object, got %s", typ.Value)
	case errors.As(err, &typ):
		err = fmt.Errorf("%s: want %s, got %s", typ.Field, jsonKind(typ.Type), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		err = fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	writeError(w, http.StatusBadRequest, err)
	return false
}

func onlyParams(q url.Values, known ...string) error {
	for k, vs := range q {
		if !slices.Contains(known, k) {
			return fmt.Errorf("unknown parameter %q (known: %s)", ops.Truncate(k, 40), strings.Join(known, ", "))
		}
		for _, v := range vs {
			if !plainText(v) || len(v) > maxParam {
				return fmt.Errorf("%s: want UTF-8 text of at most %d bytes without NUL", k, maxParam)
			}
		}
	}
	return nil
}

// maxParam bounds a query parameter or an id: every value palantir makes
// is far shorter, and a database asked to match 50 KB of pattern fails in
// ways that say nothing useful.
const maxParam = 256

func plainText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// limitParam is ?limit=: def when absent, at most maxList (0: maxList).
func limitParam(q url.Values, def int) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("limit: want a whole number from 0 to %d, got %q", maxList, v)
	}
	if n == 0 || n > maxList {
		n = maxList
	}
	return n, nil
}

// statusOf maps an error to an HTTP status, as exitCode maps it to an
// exit status on the command line.
func statusOf(err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, backends.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ops.ErrInvalid), errors.Is(err, store.ErrAmbiguous), errors.Is(err, mission.ErrUnknownType),
		errors.Is(err, mission.ErrUnknownHero):
		return http.StatusBadRequest
	case errors.Is(err, backends.ErrUnreachable), errors.Is(err, store.ErrUnreachable),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, backends.ErrClosed):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

type errorJSON struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, err error) {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	msg = strings.Replace(msg, ops.ErrInvalid.Error()+": ", "", 1)
	writeJSON(w, code, errorJSON{Error: backends.RedactText(msg)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// summaryTTL: the summary counts every mission by state (a scan of the
// missions table: 175 ms at 100k missions on SQLite), and every open
// dashboard asks for it each second. Requests within summaryTTL of the
// last answer share it, and concurrent ones wait for one query.
const summaryTTL = time.Second

type summaryCache struct {
	mu   sync.Mutex
	at   time.Time
	rows []ops.StatusRow
}

func (c *summaryCache) get(ctx context.Context, load func(context.Context) ([]ops.StatusRow, error)) ([]ops.StatusRow, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rows != nil && time.Since(c.at) < summaryTTL {
		return c.rows, nil
	}
	rows, err := load(ctx)
	if err != nil {
		return nil, err
	}
	c.rows, c.at = rows, time.Now()
	return rows, nil
}

// jsonKind names what a field of Go type t takes in JSON's words.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "an object"
}
