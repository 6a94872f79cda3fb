package ops_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/mission"
	"github.com/palantir-lab/palantir/ops"
	"github.com/palantir-lab/palantir/store"
)

func TestResolveIDs(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	var ms []store.Mission
	for _, id := range []string{"bhqj51aaaaaa", "r54nxxxxxxxx", "r54nyyyyyyyy", "zzzz"} {
		ms = append(ms, store.Mission{ID: id, Type: mission.Raven, Hero: "frodo", Status: mission.Pending, MaxAttempts: 1,
			Speed: 1, CreatedAt: time.Now()})
	}
	if err := st.CreateMissions(ctx, ms); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr error
	}{
		{"none", nil, []string{}, nil},
		{"whole ids in order", []string{"r54nxxxxxxxx", "bhqj51aaaaaa"}, []string{"r54nxxxxxxxx", "bhqj51aaaaaa"}, nil},
		{"unique prefix, any case", []string{"BHQJ"}, []string{"bhqj51aaaaaa"}, nil},
		{"a short whole id", []string{"zzzz"}, []string{"zzzz"}, nil},
		{"prefix too short", []string{"bhq"}, nil, store.ErrNotFound},
		{"unknown", []string{"bhqj51aaaaaa", "qqqqqq"}, nil, store.ErrNotFound},
		{"ambiguous", []string{"r54n"}, nil, store.ErrAmbiguous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ops.ResolveIDs(ctx, st, tt.args)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("ResolveIDs(%q): error %v, want %v", tt.args, err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) || (tt.want != nil) != (got != nil) {
				t.Errorf("ResolveIDs(%q) = %q, want %q", tt.args, got, tt.want)
			}
		})
	}
}
