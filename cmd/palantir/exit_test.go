package main

import (
	"fmt"
	"testing"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/store"
)

// The limits' errors reach the SPEC's exit statuses however deeply they
// are wrapped.
func TestExitCodesOfLimitsAndOutages(t *testing.T) {
	for err, want := range map[error]int{
		fmt.Errorf("publish to redis queue %q: %w", "q", fmt.Errorf("redis publish: %w", backends.ErrTooLarge)): exitUsage,
		fmt.Errorf("store: %w", store.ErrUnreachable):                                                           exitUnreachable,
		fmt.Errorf("x: %w", backends.ErrUnreachable):                                                            exitUnreachable,
	} {
		if got := exitCode(err); got != want {
			t.Errorf("exitCode(%v) = %d, want %d", err, got, want)
		}
	}
}
