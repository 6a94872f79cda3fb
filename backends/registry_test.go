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
