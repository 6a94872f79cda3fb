package ops_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/ops"
)

func TestLaunchRequestNamesTheFieldInItsCallersWords(t *testing.T) {
	valid := ops.LaunchRequest{Types: []string{"fellowship"}, Count: 1, FailRate: 0.2, MaxAttempts: 3, Speed: 1}
	tests := []struct {
		name   string
		mutate func(*ops.LaunchRequest)
		flag   string // in the error with ops.Flag
		param  string // with ops.Param
	}{
		{"valid", func(*ops.LaunchRequest) {}, "", ""},
		{"no type", func(r *ops.LaunchRequest) { r.Types = nil }, "--type", "type"},
		{"unknown type", func(r *ops.LaunchRequest) { r.Types = []string{"dragon"} }, "--type", "type"},
		{"count zero", func(r *ops.LaunchRequest) { r.Count = 0 }, "--count", "count"},
		{"fail rate", func(r *ops.LaunchRequest) { r.FailRate = 1.5 }, "--fail-rate", "fail_rate"},
		{"attempts", func(r *ops.LaunchRequest) { r.MaxAttempts = 0 }, "--max-attempts", "max_attempts"},
		{"speed", func(r *ops.LaunchRequest) { r.Speed = 0 }, "--speed", "speed"},
		{"hero", func(r *ops.LaunchRequest) { r.Hero = "sauron" }, "--hero", "hero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid
			tt.mutate(&r)
			for _, c := range []struct {
				name ops.FieldName
				want string
			}{{ops.Flag, tt.flag}, {ops.Param, tt.param}} {
				err := r.Validate(c.name)
				switch {
				case c.want == "" && err != nil:
					t.Errorf("Validate: %v, want nil", err)
				case c.want != "" && (!errors.Is(err, ops.ErrInvalid) || !strings.Contains(err.Error(), ": "+c.want)):
					t.Errorf("Validate: %v, want ErrInvalid naming %s", err, c.want)
				}
			}
		})
	}
	if n := (ops.LaunchRequest{Types: []string{"fellowship", "raven"}, Count: 3}).Total(); n != 18 {
		t.Errorf("Total of fellowship and raven three times = %d, want 18", n)
	}
}

func TestHistoryQueryFilter(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	f, err := ops.HistoryQuery{Type: "recon", Status: "failure", Since: "2d", Limit: 5}.Filter(now, ops.Param)
	if err != nil || f.Type != "recon" || !f.Since.Equal(now.Add(-48*time.Hour)) || f.Limit != 5 {
		t.Errorf("Filter = %+v, %v", f, err)
	}
	for _, tt := range []struct {
		q    ops.HistoryQuery
		want string
	}{
		{ops.HistoryQuery{Status: "DONE"}, "status"},
		{ops.HistoryQuery{Type: "fellowship"}, "type"},
		{ops.HistoryQuery{Hero: "sauron"}, "hero"},
		{ops.HistoryQuery{Since: "-5m"}, "since"},
		{ops.HistoryQuery{Limit: -1}, "limit"},
	} {
		if _, err := tt.q.Filter(now, ops.Param); !errors.Is(err, ops.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Filter(%+v) = %v, want ErrInvalid naming %s", tt.q, err, tt.want)
		}
	}
}

func TestMatchDead(t *testing.T) {
	dead := []backends.DeadLetter{{Message: backends.Message{ID: "abcd1234xyz0"}}, {Message: backends.Message{ID: "abcd9999xyz0"}},
		{Message: backends.Message{ID: "zzzz0000aaaa"}}}
	for _, tt := range []struct {
		args []string
		want string // joined ids, or the error's words
		err  bool
	}{
		{nil, "", false},
		{[]string{"zzzz"}, "zzzz0000aaaa", false},
		{[]string{"ABCD1234"}, "abcd1234xyz0", false},
		{[]string{"abcd"}, "matches 2", true},
		{[]string{"abc"}, "no dead letter", true}, // under four characters, only a whole id matches
		{[]string{"nope1234"}, "no dead letter", true},
	} {
		ids, err := ops.MatchDead(dead, tt.args)
		got := strings.Join(ids, ",")
		if err != nil {
			got = err.Error()
		}
		if (err != nil) != tt.err || !strings.Contains(got, tt.want) || (tt.err && !errors.Is(err, ops.ErrInvalid)) {
			t.Errorf("MatchDead(%v) = %q, %v; want %q", tt.args, got, err, tt.want)
		}
	}
}

func TestNewMissionIDIsTwelveUnambiguousCharacters(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := ops.NewMissionID()
		if len(id) != 12 || strings.ContainsAny(id, "ilou") || strings.ToLower(id) != id || seen[id] {
			t.Fatalf("NewMissionID() = %q", id)
		}
		seen[id] = true
	}
}
