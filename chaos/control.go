package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The control channel is HTTP on a loopback address, so that a lab can
// also drive it with curl:
//
//	GET  /state                                  → State as JSON
//	POST /mode  {"mode": "delay", "delay": "250ms"} → the new State
//
// A POST must say Content-Type: application/json (a web page cannot send
// that to another origin without asking first), and every request must
// name a loopback host (a page whose name is rebound to 127.0.0.1 is
// refused).

// ErrNoProxy: nothing answers at the control address.
var ErrNoProxy = errors.New("no chaos proxy answers")

// modeRequest is the body of POST /mode.
type modeRequest struct {
	Mode  Mode   `json:"mode"`
	Delay string `json:"delay,omitempty"`
}

// ControlServer serves a Proxy's control channel.
type ControlServer struct {
	ln  net.Listener
	srv *http.Server
}

// ListenControl serves p's control channel on addr (loopback only; port 0
// picks a free one). onChange, if not nil, hears each change of mode made
// through it (the command prints them).
func ListenControl(addr string, p *Proxy, onChange func(State)) (*ControlServer, error) {
	if err := CheckLoopback(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("control listen %s: %w", addr, err)
	}
	cs := &ControlServer{ln: ln, srv: &http.Server{Handler: p.ControlHandler(onChange), ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = cs.srv.Serve(ln) }()
	return cs, nil
}

// Addr is the control address (HOST:PORT).
func (cs *ControlServer) Addr() string { return cs.ln.Addr().String() }

// Close stops serving.
func (cs *ControlServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return cs.srv.Shutdown(ctx)
}

// ControlHandler is p's control channel as an http.Handler.
func (p *Proxy) ControlHandler(onChange func(State)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) {
		writeState(w, p.State())
	})
	mux.HandleFunc("POST /mode", func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			httpError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
			return
		}
		var req modeRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
			httpError(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
		m, err := ParseMode(string(req.Mode))
		if err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		var d time.Duration
		if req.Delay != "" {
			if d, err = time.ParseDuration(req.Delay); err != nil {
				httpError(w, http.StatusBadRequest, "delay: "+err.Error())
				return
			}
		}
		if err := p.Set(m, d); err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		st := p.State()
		if onChange != nil {
			onChange(st)
		}
		writeState(w, st)
	})
	return loopbackHostOnly(mux)
}

func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if err := CheckLoopback(net.JoinHostPort(host, "0")); err != nil {
			httpError(w, http.StatusForbidden, "the chaos control answers requests to a loopback host only")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeState(w http.ResponseWriter, st State) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// Control drives a proxy in another process through its control channel.
type Control struct {
	// Addr is the control address (HOST:PORT), loopback only.
	Addr string
	// Client is the HTTP client; nil means one with a 5 s timeout.
	Client *http.Client
}

// State asks the proxy for its mode and figures.
func (c Control) State(ctx context.Context) (State, error) {
	return c.do(ctx, http.MethodGet, "/state", nil)
}

// Set changes the proxy's mode (delay is read by ModeDelay only) and
// returns its new state.
func (c Control) Set(ctx context.Context, m Mode, delay time.Duration) (State, error) {
	req := modeRequest{Mode: m}
	if m == ModeDelay {
		req.Delay = delay.String()
	}
	body, _ := json.Marshal(req)
	return c.do(ctx, http.MethodPost, "/mode", body)
}

func (c Control) do(ctx context.Context, method, path string, body []byte) (State, error) {
	if err := CheckLoopback(c.Addr); err != nil {
		return State{}, err
	}
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.Addr+path, bytes.NewReader(body))
	if err != nil {
		return State{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return State{}, ctx.Err()
		}
		return State{}, fmt.Errorf("%w at %s (is 'palantir chaos proxy --control %s' running?): %v", ErrNoProxy, c.Addr, c.Addr, unwrapURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return State{}, fmt.Errorf("chaos control %s: %w", c.Addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return State{}, fmt.Errorf("chaos control %s: %s", c.Addr, e.Error)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("chaos control %s: not a chaos proxy's answer: %v", c.Addr, err)
	}
	return st, nil
}

// unwrapURLError drops net/http's "Get \"http://…\":" prefix, which only
// repeats the address.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
