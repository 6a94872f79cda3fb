package ops_test

import (
	"slices"
	"testing"

	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
)

func TestSplitReplayed(t *testing.T) {
	rows := func(ids ...string) []store.Mission {
		var ms []store.Mission
		for _, id := range ids {
			ms = append(ms, store.Mission{ID: id})
		}
		return ms
	}
	tests := []struct {
		name        string
		replayed    []string
		missions    []store.Mission
		wantKnown   []string
		wantStrange []string
	}{
		{"all missions", []string{"a", "b"}, rows("a", "b"), []string{"a", "b"}, nil},
		{"none a mission", []string{"x", "y"}, nil, nil, []string{"x", "y"}},
		{"mixed, each in its own order", []string{"x", "b", "y", "a"}, rows("a", "b"), []string{"a", "b"}, []string{"x", "y"}},
		{"nothing replayed", nil, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			known, strange := ops.SplitReplayed(tt.replayed, tt.missions)
			if !slices.Equal(known, tt.wantKnown) || !slices.Equal(strange, tt.wantStrange) {
				t.Errorf("SplitReplayed(%q) = %q, %q; want %q, %q", tt.replayed, known, strange, tt.wantKnown, tt.wantStrange)
			}
		})
	}
}
