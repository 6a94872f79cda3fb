package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/palantir-lab/palantir/backends/all"
	"go.yaml.in/yaml/v3"
)

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	for _, k := range Keys(testURLs) {
		fs.String(FlagName(k), fmt.Sprint(defaultOf(k)), "")
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

// testURLs stands for the backends' URL settings, which the registry
// gives in palantir.
var testURLs = map[string]string{"broker_url": "broker://127.0.0.1:1", "other_url": "other://127.0.0.1:2"}

func defaultOf(k string) any {
	if d, ok := testURLs[k]; ok {
		return d
	}
	return Defaults[k]
}

// A backend's URL key is read like any other: flag, env, file, default.
func TestBackendURLKeysFollowThePrecedence(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("broker_url: broker://from-file\nother_url: other://from-file\n"), 0o644)
	t.Setenv("PALANTIR_BROKER_URL", "broker://from-env")
	c, err := Load(flags(t), file, testURLs)
	if err != nil {
		t.Fatal(err)
	}
	if c.URLs["broker_url"] != "broker://from-env" || c.URLs["other_url"] != "other://from-file" {
		t.Errorf("URLs = %v", c.URLs)
	}
	c, err = Load(flags(t, "--broker-url", "broker://from-flag"), "", testURLs)
	if err != nil {
		t.Fatal(err)
	}
	if c.URLs["broker_url"] != "broker://from-flag" || c.URLs["other_url"] != "other://127.0.0.1:2" {
		t.Errorf("URLs = %v", c.URLs)
	}
	os.WriteFile(file, []byte("brokr_url: x\n"), 0o644)
	if _, err := Load(flags(t), file, testURLs); err == nil || !strings.Contains(err.Error(), "broker_url") {
		t.Errorf("a misspelt URL key: %v, want an error listing broker_url", err)
	}
}

func TestPrecedenceFlagEnvFileDefault(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("queue: from-file\nstore: file.db\nlog_level: error\nlease: 5s\n"), 0o644)
	t.Setenv("PALANTIR_QUEUE", "from-env")
	t.Setenv("PALANTIR_STORE", "env.db")
	c, err := Load(flags(t, "--queue", "from-flag"), file, testURLs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ key, got, want string }{
		{"queue (flag beats env and file)", c.Queue, "from-flag"},
		{"store (env beats file)", c.Store, "env.db"},
		{"log_level (file beats default)", c.LogLevel, "error"},
		{"backend (default)", c.Backend, "inproc"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.key, tt.got, tt.want)
		}
	}
	if c.Lease != 5*time.Second {
		t.Errorf("lease from file: %v", c.Lease)
	}
}

// Sizes read as people write them; the limits reach the typed Config.
func TestLimitsAreParsed(t *testing.T) {
	t.Chdir(t.TempDir())
	for raw, want := range map[string]int{"256KiB": 256 << 10, "1 MiB": 1 << 20, "4096": 4096, "64kb": 64000} {
		c, err := Load(flags(t, "--max-message-size", raw, "--max-deliveries", "4"), "", testURLs)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if c.MaxMessageBytes() != want || c.MaxDeliveries != 4 {
			t.Errorf("%s: %d bytes, %d deliveries; want %d, 4", raw, c.MaxMessageBytes(), c.MaxDeliveries, want)
		}
	}
}

func TestPalantirYAMLInWorkingDirectoryIsRead(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("palantir.yaml", []byte("queue: local\n"), 0o644)
	c, err := Load(flags(t), "", testURLs)
	if err != nil || c.Queue != "local" || c.File != "palantir.yaml" {
		t.Fatalf("got %+v, %v", c, err)
	}
}

func TestInvalidValuesNameTheKey(t *testing.T) {
	t.Chdir(t.TempDir())
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"output", []string{"--output", "xml"}, nil, "output"},
		{"log level", nil, map[string]string{"PALANTIR_LOG_LEVEL": "loud"}, "log_level"},
		{"lease duration", []string{"--lease", "soon"}, nil, "lease"},
		{"lease too short", []string{"--lease", "1ms"}, nil, "lease"},
		{"queue", []string{"--queue", "has space"}, nil, "queue"},
		{"message size", []string{"--max-message-size", "huge"}, nil, "max_message_size"},
		{"message size too small", []string{"--max-message-size", "100"}, nil, "max_message_size"},
		{"message size too large", nil, map[string]string{"PALANTIR_MAX_MESSAGE_SIZE": "2GiB"}, "max_message_size"},
		{"deliveries", []string{"--max-deliveries", "0"}, nil, "max_deliveries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := Load(flags(t, tt.args...), "", testURLs)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestExampleConfigDocumentsEveryKey keeps config.example.yaml honest: the
// same keys as the defaults, with the same values.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	Defaults := everyDefault()
	raw, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var example map[string]any
	if err := yaml.Unmarshal(raw, &example); err != nil {
		t.Fatal(err)
	}
	for k, d := range Defaults {
		v, ok := example[k]
		if !ok {
			t.Errorf("config.example.yaml lacks key %q", k)
			continue
		}
		if fmt.Sprint(v) != fmt.Sprint(d) {
			t.Errorf("config.example.yaml %s = %v, default is %v", k, v, d)
		}
	}
	for k := range example {
		if _, ok := Defaults[k]; !ok {
			t.Errorf("config.example.yaml has unknown key %q", k)
		}
	}
}

// TestConfigReferenceListsEveryKey keeps docs/config.md in step.
func TestConfigReferenceListsEveryKey(t *testing.T) {
	Defaults := everyDefault()
	raw, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	for k, d := range Defaults {
		row := fmt.Sprintf("| `%s` | ", k)
		if !contains(string(raw), row) {
			t.Errorf("docs/config.md has no row for %q", k)
		}
		if !contains(string(raw), fmt.Sprintf("`%v`", d)) {
			t.Errorf("docs/config.md does not show the default of %s (%v)", k, d)
		}
		if !contains(string(raw), "`PALANTIR_"+strings.ToUpper(k)+"`") {
			t.Errorf("docs/config.md does not name PALANTIR_%s", strings.ToUpper(k))
		}
	}
}

// everyDefault is the general keys' defaults and the URL settings of
// every registered backend: what the documentation must cover.
func everyDefault() map[string]any {
	d := maps.Clone(Defaults)
	for _, s := range all.Registry().Settings() {
		d[s.Key] = s.Default
	}
	return d
}

// A whole number is a whole number: a file's 5.5 or true, or an
// environment's "abc", is refused with a line naming the key and where it
// is set, not rounded, taken for 1, or answered with a decoder's message.
func TestMaxDeliveriesMustBeAWholeNumber(t *testing.T) {
	for _, tt := range []struct{ name, file, env string }{
		{"fraction in the file", "max_deliveries: 5.5\n", ""},
		{"bool in the file", "max_deliveries: true\n", ""},
		{"text in the file", "max_deliveries: many\n", ""},
		{"text in the environment", "", "abc"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			file := ""
			if tt.file != "" {
				file = filepath.Join(dir, "c.yaml")
				os.WriteFile(file, []byte(tt.file), 0o644)
			}
			if tt.env != "" {
				t.Setenv("PALANTIR_MAX_DELIVERIES", tt.env)
			}
			_, err := Load(flags(t), file, testURLs)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "max_deliveries") ||
				!strings.Contains(err.Error(), "whole number") || strings.Contains(err.Error(), "decoding") {
				t.Errorf("err = %v, want ErrInvalid naming max_deliveries and asking for a whole number", err)
			}
		})
	}
	t.Chdir(t.TempDir())
	os.WriteFile("c.yaml", []byte("max_deliveries: 7\n"), 0o644)
	if c, err := Load(flags(t), "c.yaml", testURLs); err != nil || c.MaxDeliveries != 7 {
		t.Errorf("max_deliveries: 7 gave %d, %v", c.MaxDeliveries, err)
	}
}

// An error about a value names the one place that set it, not every
// place that could have (a user with --backend redi does not have
// PALANTIR_BACKEND set, and should not go looking for it).
func TestSourceNamesWhatSetTheKey(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("queue: from-file\nstore: file.db\n"), 0o644)
	t.Setenv("PALANTIR_STORE", "env.db")
	c, err := Load(flags(t, "--queue", "from-flag"), file, testURLs)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"queue":   "flag --queue",
		"store":   "env PALANTIR_STORE",
		"backend": "the default",
	} {
		if got := c.Source(key); got != want {
			t.Errorf("Source(%s) = %q, want %q", key, got, want)
		}
	}
	c, err = Load(flags(t), file, testURLs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Source("queue"), "key queue in "+file; got != want {
		t.Errorf("Source(queue) = %q, want %q", got, want)
	}
	os.WriteFile(file, []byte("lease: forever\n"), 0o644)
	_, err = Load(flags(t), file, testURLs)
	if err == nil || !strings.Contains(err.Error(), "set by key lease in "+file) || strings.Contains(err.Error(), "env PALANTIR_LEASE") {
		t.Errorf("a bad lease in the file: %v, want it to name the file's key alone", err)
	}
}

func TestQueueLists(t *testing.T) {
	tests := []struct {
		queue, want, err string
	}{
		{"missions", "[{missions 0}]", ""},
		{"high,low", "[{high 0} {low 0}]", ""},
		{"high=3,low", "[{high 3} {low 1}]", ""},
		{"high=3, low=1", "[{high 3} {low 1}]", ""},
		{"a,a", "", "listed twice"},
		{"a=0,b", "", "weight"},
		{"a=x", "", "weight"},
		{"a=1001", "", "weight"},
		{"a,,b", "", "letters"},
		{"has space", "", "letters"},
	}
	for _, tt := range tests {
		qs, err := Config{Queue: tt.queue}.Queues()
		if tt.err != "" {
			if err == nil || !contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want one saying %q", tt.queue, err, tt.err)
			}
			continue
		}
		if got := fmt.Sprint(qs); err != nil || got != tt.want {
			t.Errorf("%q: %s, %v; want %s", tt.queue, got, err, tt.want)
		}
	}
}
