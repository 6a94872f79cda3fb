package nats

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palantir-lab/palantir/backends"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want settings
	}{
		{name: "default", url: "nats://127.0.0.1:4222",
			want: settings{server: "nats://127.0.0.1:4222", redacted: "nats://127.0.0.1:4222"}},
		{name: "trailing slash and spaces", url: " nats://h:4222/ ",
			want: settings{server: "nats://h:4222", redacted: "nats://h:4222/"}},
		{name: "no port", url: "nats://h", want: settings{server: "nats://h", redacted: "nats://h"}},
		{name: "user and password", url: "nats://alice:s3cret@h:4222",
			want: settings{server: "nats://alice:s3cret@h:4222", redacted: "nats://alice:xxxxx@h:4222"}},
		{name: "token", url: "nats://s3cret@h:4222",
			want: settings{server: "nats://s3cret@h:4222", redacted: "nats://xxxxx@h:4222"}},
		{name: "tls with files", url: "tls://h:4222?cacertfile=/ca.pem&certfile=/c.pem&keyfile=/c.key",
			want: settings{server: "tls://h:4222", redacted: "tls://h:4222?cacertfile=/ca.pem&certfile=/c.pem&keyfile=/c.key",
				caFile: "/ca.pem", certFile: "/c.pem", keyFile: "/c.key"}},
		{name: "replicas", url: "nats://h:4222?replicas=3",
			want: settings{server: "nats://h:4222", redacted: "nats://h:4222?replicas=3", replicas: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseURL(tt.url)
			if err != nil {
				t.Fatalf("parseURL(%q): %v", tt.url, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(settings{})); diff != "" {
				t.Errorf("parseURL(%q) (-want +got):\n%s", tt.url, diff)
			}
		})
	}
}

func TestParseURLRefuses(t *testing.T) {
	tests := []struct {
		name, url, says string
	}{
		{"empty", " ", "empty"},
		{"other scheme", "redis://:s3cret@h:6379/0", `scheme "redis"`},
		{"websocket", "ws://h:8080", `scheme "ws"`},
		{"no host", "nats://:4222", "no host"},
		{"one slash", "nats:/h:4222", "no host"},
		{"bad port", "nats://h:99999", "port"},
		{"path", "nats://s3cret@h:4222/missions", "path"},
		{"fragment", "nats://h:4222#x", "fragment"},
		{"unknown parameter", "nats://h:4222?jetstream=1&password=s3cret", "unknown query parameter jetstream, password"},
		{"empty file", "tls://h?cacertfile=", "cacertfile is empty"},
		{"replicas not a number", "nats://a:s3cret@h?replicas=three", "replicas"},
		{"no replicas", "nats://h?replicas=0", "replicas"},
		{"more replicas than JetStream keeps", "nats://h?replicas=6", "1 to 5"},
		{"cert without key", "tls://h?certfile=/c.pem", "go together"},
		{"several servers", "nats://a:s3cret@h1,nats://a:s3cret@h2", "several servers"},
		{"unparseable", "nats://a:s3cret@h:4222/%zz", "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseURL(tt.url)
			if !errors.Is(err, backends.ErrBadURL) {
				t.Fatalf("parseURL(%q) = %v, want ErrBadURL", tt.url, err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("parseURL(%q) = %q, want it to say %q", tt.url, err, tt.says)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("parseURL(%q) = %q shows the secret", tt.url, err)
			}
		})
	}
}

func TestNamesFor(t *testing.T) {
	tests := []struct {
		queue, key string
	}{
		{"missions", "MISSIONS"},
		{"lab-4", "LAB-4"},
		{"Missions", "MISSIONS-"},           // hashed: upper-casing lost the case
		{"lab.4 > *", "LAB-4-----"},         // hashed: forbidden characters
		{"missions_dead", "MISSIONS-DEAD-"}, // hashed: '_' separates the suffixes
	}
	keys := map[string]string{}
	for _, tt := range tests {
		n := NamesFor(tt.queue)
		if !strings.HasPrefix(n.Key, tt.key) || (tt.key[len(tt.key)-1] == '-') != (len(n.Key) == len(tt.key)+8) {
			t.Errorf("NamesFor(%q).Key = %q, want %q (and a hash after a trailing -)", tt.queue, n.Key, tt.key)
		}
		if strings.ContainsAny(n.Key, "._*> \t") {
			t.Errorf("NamesFor(%q).Key = %q holds a character NATS forbids or a separator", tt.queue, n.Key)
		}
		if other, ok := keys[n.Key]; ok {
			t.Errorf("queues %q and %q share the key %q", other, tt.queue, n.Key)
		}
		keys[n.Key] = tt.queue
	}
	want := Names{Key: "MISSIONS", Work: "PALANTIR_MISSIONS", Delayed: "PALANTIR_MISSIONS_DELAYED", Dead: "PALANTIR_MISSIONS_DEAD",
		WorkSubject: "palantir.MISSIONS", DelayedSubject: "palantir.MISSIONS.delayed", DeadSubject: "palantir.MISSIONS.dead",
		Consumer: "palantir", Mover: "palantir-mover"}
	if diff := cmp.Diff(want, NamesFor("missions")); diff != "" {
		t.Errorf("NamesFor(missions) (-want +got):\n%s", diff)
	}
	if long := NamesFor(strings.Repeat("q", 200)).Key; len(long) > maxKey {
		t.Errorf("key of a 200-character queue is %d characters, want at most %d", len(long), maxKey)
	}
}

func TestMaxDeliver(t *testing.T) {
	for limit, want := range map[int]int{1: 3, 2: 4, 10: 20} {
		if got := MaxDeliver(limit); got != want {
			t.Errorf("MaxDeliver(%d) = %d, want %d", limit, got, want)
		}
	}
}

func TestHint(t *testing.T) {
	tests := []struct {
		name string
		err  error
		says string
	}{
		{"nothing listens", errors.New("nats open nats://h:4222: broker unreachable: nats: no servers available"), "nats-server -js"},
		{"no JetStream", errors.New("nats open: broker unreachable: " + noJetStream), "JetStream enabled"},
		{"credentials", fmt.Errorf("%w: nats: authorization violation", backends.ErrUnreachable), "user and password"},
		{"unknown CA", errors.New("broker unreachable: nats: tls error: tls: failed to verify certificate: x509: certificate signed by unknown authority"), "cacertfile"},
		{"no TLS", errors.New("broker unreachable: nats: secure connection not available: the URL tls://h:4222 asks for TLS and h:4222 does not offer it"), "nats://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hint(tt.err); !strings.Contains(got, tt.says) {
				t.Errorf("hint(%v) = %q, want it to say %q", tt.err, got, tt.says)
			}
		})
	}
}
