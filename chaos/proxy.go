package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Mode is what a Proxy does to the traffic it carries.
type Mode string

// The modes of a Proxy.
const (
	// ModeNormal forwards every byte at once.
	ModeNormal Mode = "normal"
	// ModeDelay forwards every chunk of bytes after a delay, in each
	// direction (a request and its reply take twice the delay longer).
	ModeDelay Mode = "delay"
	// ModeBlackhole keeps every connection open and forwards nothing: the
	// peers see no FIN and no RST, their writes are buffered and their
	// reads hang, as behind a dead router (a half-open connection). New
	// connections are accepted and held the same way. What was held is
	// forwarded on Heal, as TCP retransmission would deliver it.
	ModeBlackhole Mode = "blackhole"
	// ModeCut resets every open connection (the peers see ECONNRESET or
	// EOF) and resets each new one as soon as it is accepted, so that
	// reconnecting fails until Heal.
	ModeCut Mode = "cut"
)

// ParseMode reads a mode's name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeNormal, ModeDelay, ModeBlackhole, ModeCut:
		return m, nil
	case "heal":
		return ModeNormal, nil
	}
	return "", fmt.Errorf("unknown proxy mode %q (known: normal, delay, blackhole, cut)", s)
}

// ErrNotLoopback: a chaos listener must not be reachable from other
// machines.
var ErrNotLoopback = errors.New("not a loopback address")

// ErrBadAddress: an address that is not HOST:PORT.
var ErrBadAddress = errors.New("not a HOST:PORT address")

// State is a Proxy's mode and figures.
type State struct {
	Listen string
	Target string
	Mode   Mode
	// Delay is the delay of ModeDelay (0 otherwise).
	Delay time.Duration
	// Open counts the connections being carried now; Accepted, every one
	// accepted since the proxy started.
	Open     int
	Accepted int64
}

// stateJSON is State on the wire and in -o json: the delay in Go's
// duration syntax ("250ms"), which people read and type.
type stateJSON struct {
	Listen   string `json:"listen"`
	Target   string `json:"to"`
	Mode     Mode   `json:"mode"`
	Delay    string `json:"delay"`
	Open     int    `json:"open_connections"`
	Accepted int64  `json:"accepted_connections"`
}

// MarshalJSON writes the delay as a duration string.
func (s State) MarshalJSON() ([]byte, error) {
	return json.Marshal(stateJSON{Listen: s.Listen, Target: s.Target, Mode: s.Mode, Delay: s.Delay.String(),
		Open: s.Open, Accepted: s.Accepted})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *State) UnmarshalJSON(b []byte) error {
	var j stateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	d, err := time.ParseDuration(j.Delay)
	if err != nil {
		return fmt.Errorf("delay: %w", err)
	}
	*s = State{Listen: j.Listen, Target: j.Target, Mode: j.Mode, Delay: d, Open: j.Open, Accepted: j.Accepted}
	return nil
}

// DialTimeout bounds the proxy's connection to its target.
const DialTimeout = 5 * time.Second

// chunkSize is the most a proxy reads at once, and chunkQueue how many
// chunks one direction holds while delayed or black-holed before it stops
// reading (then the peer's TCP window fills, as it would on a real
// network).
const (
	chunkSize  = 32 << 10
	chunkQueue = 16
)

// Proxy is a TCP proxy from a loopback address to a target (a broker or
// the store), whose traffic can be delayed, black-holed or cut on command.
// Its methods are safe for concurrent use and return at once; a change of
// mode applies to the open connections as well as to new ones.
type Proxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	mode     Mode
	delay    time.Duration
	changed  chan struct{} // closed and replaced at each change of mode
	links    map[*link]struct{}
	accepted int64
	closed   bool

	wg sync.WaitGroup // the accept loop and every link's goroutines
}

// Listen starts a proxy on listen (a loopback HOST:PORT; port 0 picks a
// free one, see Addr) to target (HOST:PORT), in ModeNormal. The target is
// dialled for each accepted connection, not now.
func Listen(listen, target string) (*Proxy, error) {
	if err := CheckLoopback(listen); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("proxy target %q: %v (use HOST:PORT)", target, err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("proxy listen %s: %w", listen, err)
	}
	p := &Proxy{ln: ln, target: target, mode: ModeNormal, changed: make(chan struct{}), links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// CheckLoopback returns an error wrapping ErrNotLoopback unless addr is a
// HOST:PORT whose host is a loopback IP or "localhost".
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w: %v (e.g. 127.0.0.1:16379)", addr, ErrBadAddress, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("address %s: %w (chaos listens on this machine only: use 127.0.0.1)", addr, ErrNotLoopback)
}

// Addr is the address the proxy listens on (HOST:PORT).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Cut resets every open connection and every new one until Heal.
func (p *Proxy) Cut() {
	p.set(ModeCut, 0)
	for _, l := range p.snapshot() {
		l.reset()
	}
}

// Delay forwards each chunk d late in each direction, until Heal or
// another mode; d <= 0 is Heal.
func (p *Proxy) Delay(d time.Duration) {
	if d <= 0 {
		p.Heal()
		return
	}
	p.set(ModeDelay, d)
}

// Blackhole holds every connection open and forwards nothing until Heal.
func (p *Proxy) Blackhole() { p.set(ModeBlackhole, 0) }

// Heal goes back to forwarding every byte at once; what a black hole held
// is forwarded now.
func (p *Proxy) Heal() { p.set(ModeNormal, 0) }

// Set applies a mode by value: what the control channel calls.
func (p *Proxy) Set(m Mode, delay time.Duration) error {
	switch m {
	case ModeNormal:
		p.Heal()
	case ModeDelay:
		if delay <= 0 {
			return fmt.Errorf("delay must be above 0, got %v", delay)
		}
		p.Delay(delay)
	case ModeBlackhole:
		p.Blackhole()
	case ModeCut:
		p.Cut()
	default:
		_, err := ParseMode(string(m))
		return err
	}
	return nil
}

// State returns the mode and figures.
func (p *Proxy) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return State{Listen: p.Addr(), Target: p.target, Mode: p.mode, Delay: p.delay, Open: len(p.links), Accepted: p.accepted}
}

// Close stops listening, resets every open connection and waits for the
// proxy's goroutines. Idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	for _, l := range p.snapshot() {
		l.reset()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) set(m Mode, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.delay = m, d
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) snapshot() []*link {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*link, 0, len(p.links))
	for l := range p.links {
		out = append(out, l)
	}
	return out
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and kin: do not spin
			continue
		}
		p.mu.Lock()
		p.accepted++
		refuse := p.mode == ModeCut || p.closed
		if !refuse {
			p.wg.Add(1)
		}
		p.mu.Unlock()
		if refuse {
			resetConn(c)
			continue
		}
		go p.serve(c)
	}
}

// serve dials the target for client and carries their traffic both ways.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", p.target, DialTimeout)
	if err != nil {
		resetConn(client) // as the target itself would refuse
		return
	}
	l := &link{p: p, client: client, up: up, done: make(chan struct{}), dirs: 2}
	p.mu.Lock()
	if p.mode == ModeCut || p.closed {
		p.mu.Unlock()
		l.reset()
		return
	}
	p.links[l] = struct{}{}
	p.wg.Add(4)
	p.mu.Unlock()
	go l.pump(client, up)
	go l.pump(up, client)
}

// hold waits until a chunk read at `at` may be forwarded: at once, after
// the delay, or (black hole) not before the mode changes. It reports false
// when the link ended meanwhile.
func (p *Proxy) hold(at time.Time, done <-chan struct{}) bool {
	for {
		p.mu.Lock()
		mode, delay, changed := p.mode, p.delay, p.changed
		p.mu.Unlock()
		switch mode {
		case ModeBlackhole:
			select {
			case <-changed:
			case <-done:
				return false
			}
		case ModeDelay:
			wait := time.Until(at.Add(delay))
			if wait <= 0 {
				return true
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
				return true
			case <-changed:
				t.Stop()
			case <-done:
				t.Stop()
				return false
			}
		default:
			return true
		}
	}
}

// link is one proxied connection: the client's and the target's sockets.
type link struct {
	p          *Proxy
	client, up net.Conn
	done       chan struct{} // closed when the link is reset or finished
	once       sync.Once

	mu   sync.Mutex
	dirs int // directions still carrying data
}

type chunk struct {
	data []byte
	at   time.Time
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// pump carries src's bytes to dst, through hold. It owns two goroutines
// (counted in the proxy's WaitGroup by serve): a reader, so that a delay
// is a latency and not a cap on throughput, and a writer. At src's EOF it
// half-closes dst, so that each side sees the other's FIN; any other error
// resets the link.
func (l *link) pump(src, dst net.Conn) {
	chunks := make(chan chunk, chunkQueue)
	go func() {
		defer l.p.wg.Done()
		defer close(chunks)
		for {
			bp := chunkPool.Get().(*[]byte)
			n, err := src.Read(*bp)
			if n > 0 {
				select {
				case chunks <- chunk{data: (*bp)[:n], at: time.Now()}:
				case <-l.done:
					return
				}
			} else {
				chunkPool.Put(bp)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					l.reset()
				}
				return
			}
		}
	}()
	defer l.p.wg.Done()
	for c := range chunks {
		if !l.p.hold(c.at, l.done) {
			return
		}
		_, err := dst.Write(c.data)
		b := c.data[:cap(c.data)]
		chunkPool.Put(&b)
		if err != nil {
			l.reset()
			return
		}
	}
	// The FIN waits like the bytes before it (a black hole holds it too).
	if !l.p.hold(time.Now(), l.done) {
		return
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	l.mu.Lock()
	l.dirs--
	last := l.dirs == 0
	l.mu.Unlock()
	if last {
		l.finish(false)
	}
}

// reset ends the link with an RST to both peers.
func (l *link) reset() { l.finish(true) }

func (l *link) finish(rst bool) {
	l.once.Do(func() {
		close(l.done)
		if rst {
			resetConn(l.client)
			resetConn(l.up)
		} else {
			l.client.Close()
			l.up.Close()
		}
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.mu.Unlock()
	})
}

// resetConn closes c with an RST rather than a FIN (SO_LINGER 0), as a
// connection torn by the network looks to the peer that writes next.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
