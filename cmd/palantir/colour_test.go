package main

import (
	"regexp"
	"strings"
	"testing"
)

var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestStatesAreColouredOnRequestAndStayAligned: on a terminal (here
// forced with CLICOLOR_FORCE, as `less -R` users do) SUCCESS is green and
// FAILURE red; the columns after STATUS stay aligned; NO_COLOR wins.
func TestStatesAreColouredOnRequestAndStayAligned(t *testing.T) {
	dir := t.TempDir()
	cli(t, dir, "launch", "raven", "--count", "3", "--speed", "50", "--fail-rate", "0")
	cli(t, dir, "launch", "raven", "--speed", "50", "--fail-rate", "1", "--max-attempts", "1")
	t.Setenv("CLICOLOR_FORCE", "1")
	out := cli(t, dir, "history").out
	if !strings.Contains(out, "\x1b[32mSUCCESS\x1b[0m") || !strings.Contains(out, "\x1b[31mFAILURE\x1b[0m") {
		t.Fatalf("history with CLICOLOR_FORCE=1:\n%q\nwant SUCCESS green and FAILURE red", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header := sgr.ReplaceAllString(lines[0], "")
	col := strings.Index(header, "ATTEMPTS")
	for _, l := range lines[1:] {
		// Each row's attempts cell starts where the header's does.
		if plain := sgr.ReplaceAllString(l, ""); col < 1 || len(plain) <= col || plain[col-1] != ' ' || plain[col] == ' ' {
			t.Errorf("ATTEMPTS column misaligned:\n%s\n%s", header, plain)
		}
	}
	t.Setenv("NO_COLOR", "1")
	if out := cli(t, dir, "history").out; strings.Contains(out, "\x1b[") {
		t.Errorf("NO_COLOR=1 still coloured: %q", out)
	}
	t.Setenv("NO_COLOR", "")
	t.Setenv("CLICOLOR_FORCE", "")
	if out := cli(t, dir, "history").out; strings.Contains(out, "\x1b[") {
		t.Errorf("coloured off a terminal: %q", out)
	}
}
