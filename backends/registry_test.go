package backends

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	open := func(context.Context, Config) (Queue, error) { return nil, nil }
	r := NewRegistry(
		Backend{Name: "inproc", Open: open},
		Backend{Name: "redis", Schemes: []string{"redis", "rediss"}, Open: open},
	)
	tests := []struct {
		name, in, want string
		err            error
	}{
		{name: "by name", in: "redis", want: "redis"},
		{name: "name is case-insensitive", in: "InProc", want: "inproc"},
		{name: "by scheme", in: "rediss://h:1/0", want: "redis"},
		{name: "unknown name", in: "kafka", err: ErrUnknownBackend},
		{name: "unknown scheme", in: "kafka://h", err: ErrUnknownBackend},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := r.Resolve(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "known") {
					t.Errorf("error %q does not list what is known", err)
				}
				return
			}
			if b.Name != tt.want {
				t.Errorf("got %s, want %s", b.Name, tt.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := map[string]string{
		"amqp://guest:s3cret@host:5672/": "amqp://guest:xxxxx@host:5672/",
		"redis://:pw@127.0.0.1:6379/0":   "redis://:xxxxx@127.0.0.1:6379/0",
		"redis://127.0.0.1:6379/0":       "redis://127.0.0.1:6379/0",
		"":                               "",
	}
	for in, want := range tests {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Redact("amqp://u:p%zz@h/"); strings.Contains(got, "p%zz") {
		t.Errorf("unparseable URL leaked its password: %q", got)
	}
}

func TestRedactHidesEverySecretShape(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"postgres ?password", "postgres://u@h/db?password=S3cr3t&sslmode=disable", "postgres://u@h/db?password=xxxxx&sslmode=disable"},
		{"postgres ?sslpassword", "postgres://u@h/db?sslpassword=S3cr3t", "postgres://u@h/db?sslpassword=xxxxx"},
		{"a pair that does not parse", "postgres://u@h/db?password=S3cr3t%zz", "postgres://u@h/db?password=xxxxx"},
		{"no scheme separator", "redis//:S3cr3t@host/0", "redis//:xxxxx@host/0"},
		{"one slash", "amqp:/guest:S3cr3t@host:5672/", "amqp:/guest:xxxxx@host:5672/"},
		{"no slash", "postgres:u:S3cr3t@h/db", "postgres:xxxxx@h/db"},
		{"password holding @", "postgres//u:S3c@r3t@h/db", "postgres//u:xxxxx@h/db"},
		{"key=value DSN", "host=h user=u password=S3cr3t dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"quoted DSN value", "host=h password='S3c r3t' dbname=d", "host=h password=xxxxx dbname=d"},
		{"file path", "/var/lib/palantir/palantir.db", "/var/lib/palantir/palantir.db"},
		{"file path with a space", "my dir/palantir.db", "my dir/palantir.db"},
		{"garbage before ://", "password=S3cr3t x://h", "(unparseable URL)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactText(t *testing.T) {
	in := `open redis//:S3cr3t@h/0: Exception (530) "NOT_ALLOWED - vhost guest:S3cr3t@127.0.0.1:5672/ not found"; dsn password=S3cr3t; see https://example.com/docs`
	got := RedactText(in)
	if strings.Contains(got, "S3cr3t") {
		t.Errorf("RedactText left the secret in %q", got)
	}
	if !strings.Contains(got, "https://example.com/docs") || !strings.Contains(got, "NOT_ALLOWED") || !strings.Contains(got, "h/0: Exception") {
		t.Errorf("RedactText changed more than the secrets: %q", got)
	}
}

// TestRedactTextTwice: text redacted again (a store error that named its
// URL redacted, printed through RedactText) keeps its punctuation.
func TestRedactTextTwice(t *testing.T) {
	in := "open postgres store postgres://u:xxxxx@h/db?sslpassword=xxxxx: store unreachable"
	if got := RedactText(in); got != in {
		t.Errorf("RedactText(%q) = %q, want it unchanged", in, got)
	}
}

func TestResolveNeverEchoesAPassword(t *testing.T) {
	r := NewRegistry(Backend{Name: "redis", Schemes: []string{"redis"}})
	for _, in := range []string{"redis//:S3cr3t@h/0", "redis:/:S3cr3t@h/0", "password=S3cr3t host=h://x"} {
		_, err := r.Resolve(in)
		if !errors.Is(err, ErrUnknownBackend) || strings.Contains(err.Error(), "S3cr3t") {
			t.Errorf("Resolve(%q) = %v, want ErrUnknownBackend without the password", in, err)
		}
	}
}
