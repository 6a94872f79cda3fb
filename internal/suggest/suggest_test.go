package suggest

import (
	"slices"
	"testing"
)

func TestClosest(t *testing.T) {
	commands := []string{"bench", "chaos", "doctor", "launch", "status", "trace", "worker", "verify"}
	types := []string{"recon", "consult", "raven", "fellowship"}
	tests := []struct {
		word       string
		candidates []string
		want       []string
	}{
		{"lunch", commands, []string{"launch"}},      // one deletion; bench is two away
		{"fellowshp", types, []string{"fellowship"}}, // a letter left out
		{"rcon", types, []string{"recon"}},
		{"raevn", types, []string{"raven"}},    // two letters exchanged
		{"RAVEN", types, []string{"raven"}},    // case
		{"stat", commands, []string{"status"}}, // a prefix
		{"dragon", types, nil},                 // nothing near
		{"x", commands, nil},                   // too short to guess
		{"", commands, nil},
		{"wroker", commands, []string{"worker"}},
	}
	for _, tt := range tests {
		if got := Closest(tt.word, tt.candidates); !slices.Equal(got, tt.want) {
			t.Errorf("Closest(%q) = %v, want %v", tt.word, got, tt.want)
		}
	}
}

func TestHint(t *testing.T) {
	if got := Hint("redi", []string{"inproc", "redis", "rabbitmq"}); got != "; did you mean redis?" {
		t.Errorf("Hint = %q", got)
	}
	if got := Hint("ct", []string{"cat", "dog"}); got != "" {
		t.Errorf("Hint for a 2-letter word = %q, want none (too short to guess an edit)", got)
	}
	if got := Hint("recoon", []string{"recon", "reckon"}); got != "; did you mean recon or reckon?" {
		t.Errorf("Hint with a tie = %q", got)
	}
	if got := Hint("zzzz", []string{"recon"}); got != "" {
		t.Errorf("Hint = %q, want none", got)
	}
}
