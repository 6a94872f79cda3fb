package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palantir-lab/palantir/verify"
)

// verify -o json on inproc: stdout is one JSON array with a row per
// scenario, progress on stderr, exit 0.
func TestVerifyJSONOnInproc(t *testing.T) {
	r := cli(t, t.TempDir(), "verify", "--backend", "inproc", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0; stderr: %s", r.code, r.err)
	}
	rows := decode[[]verify.Result](t, r)
	var got []string
	for _, row := range rows {
		got = append(got, row.Scenario+": "+string(row.Verdict))
		if row.Figure == "" || row.Note == "" {
			t.Errorf("row without figure or note: %+v", row)
		}
	}
	want := []string{
		"redelivery after a consumer dies: holds",
		"lease extension keeps a message: holds",
		"delayed retry accuracy: holds",
		"dead letters listed and replayed: holds",
		"ordering within a queue: holds",
		"a stalled consumer's message is redelivered after the lease: holds",
		"durability across a broker restart: not measured",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if want := "verify: redelivery after a consumer dies… holds"; !strings.Contains(r.err, want) {
		t.Errorf("stderr lacks the progress line %q:\n%s", want, r.err)
	}
}

func TestVerifyFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     verifyOptions
	}{
		{"defaults", nil, 0, verifyOptions{Lease: time.Second}},
		{"restart command", []string{"--restart-cmd", "systemctl restart redis"}, 0, verifyOptions{Lease: time.Second, RestartCmd: "systemctl restart redis"}},
		{"scratch lease", []string{"--scratch-lease", "300ms"}, 0, verifyOptions{Lease: 300 * time.Millisecond}},
		{"lease too short", []string{"--scratch-lease", "1ms"}, exitUsage, verifyOptions{}},
		{"positional argument", []string{"extra"}, exitUsage, verifyOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got verifyOptions
			cmd := newVerifyCmd(newApp(streams{}), func(_ context.Context, _ *app, o verifyOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			err := cmd.Execute()
			if code := exitCode(err); code != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.wantCode)
			}
			if tt.wantCode == 0 && got != tt.want {
				t.Errorf("options %+v, want %+v", got, tt.want)
			}
		})
	}
}
