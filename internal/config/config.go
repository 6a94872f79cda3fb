// Package config reads palantir's settings from flags, PALANTIR_*
// environment variables, a YAML file and defaults, in that order of
// precedence, into one typed Config. One viper instance per invocation;
// no globals.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/palantir-lab/palantir/mission"
)

// Config is every setting of the SPEC's global flags, plus worker tuning.
type Config struct {
	Backend         string        `mapstructure:"backend"`
	Queue           string        `mapstructure:"queue"`
	Store           string        `mapstructure:"store"`
	Output          string        `mapstructure:"output"`
	LogLevel        string        `mapstructure:"log_level"`
	Lease           time.Duration `mapstructure:"lease"`
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	MaxMessageSize  string        `mapstructure:"max_message_size"`
	MaxDeliveries   int           `mapstructure:"max_deliveries"`

	// URLs holds the backends' URL settings by key (redis_url: …): the
	// keys Load was given beside the general ones.
	URLs map[string]string `mapstructure:"-"`

	// Missions are the types the file's missions: section defines.
	Missions mission.Catalog `mapstructure:"-"`
	// Schedules are the file's periodic launches (schedules:).
	Schedules []Schedule `mapstructure:"-"`

	// File is the config file that was read, if any (not a key).
	File string `mapstructure:"-"`

	// sources says where each key's value came from (Source).
	sources map[string]string
}

// Source names what set key's value, for error messages: "flag
// --backend", "env PALANTIR_BACKEND", "key backend in palantir.yaml" or
// "the default". A Config not made by Load names every place that could.
func (c Config) Source(key string) string {
	if s, ok := c.sources[key]; ok {
		return s
	}
	s := fmt.Sprintf("flag --%s, env PALANTIR_%s", FlagName(key), strings.ToUpper(key))
	if c.File != "" {
		s += fmt.Sprintf(", or key %s in %s", key, c.File)
	}
	return s
}

// sourceOf is where Load took key's value from, in its order of
// precedence.
func sourceOf(fs *pflag.FlagSet, v *viper.Viper, key, file string) string {
	if f := fs.Lookup(FlagName(key)); f != nil && f.Changed {
		return "flag --" + FlagName(key)
	}
	// viper takes an empty variable for an unset one.
	if env := "PALANTIR_" + strings.ToUpper(key); os.Getenv(env) != "" {
		return "env " + env
	}
	if file != "" && v.InConfig(key) {
		return fmt.Sprintf("key %s in %s", key, file)
	}
	return "the default"
}

// Defaults are the SPEC's defaults of the general keys. Every key has
// one, or viper would not read its environment variable. The backends'
// URL settings come from the backend registry (see Load).
var Defaults = map[string]any{
	"backend":          "inproc",
	"queue":            "missions",
	"store":            "palantir.db",
	"output":           "table",
	"log_level":        "warn",
	"lease":            "30s",
	"shutdown_timeout": "30s",
	"max_message_size": "256KiB",
	"max_deliveries":   10,
}

// The bounds of max_message_size: an order is a few hundred bytes, and a
// broker batch of messages near 64 MiB would hold a worker's memory.
const (
	minMessageSize = 1 << 10
	maxMessageSize = 64 << 20
)

// MaxMessageBytes is max_message_size in bytes (Validate has checked it).
func (c Config) MaxMessageBytes() int {
	n, _ := humanize.ParseBytes(c.MaxMessageSize)
	return int(n)
}

// Keys lists the general keys and the URL keys in a stable order.
func Keys(urls map[string]string) []string {
	keys := make([]string, 0, len(Defaults)+len(urls))
	for k := range Defaults {
		keys = append(keys, k)
	}
	for k := range urls {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ErrInvalid wraps every configuration error (exit status 2).
var ErrInvalid = errors.New("invalid configuration")

// FlagName is the command-line flag of a key: redis_url → redis-url.
func FlagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// Load builds the Config from flags (those of fs that are keys), the
// environment, the file (explicit path, $PALANTIR_CONFIG, or ./palantir.yaml
// if present) and defaults. urls are the backends' URL settings (key:
// default), read like the general keys into Config.URLs.
func Load(fs *pflag.FlagSet, explicitFile string, urls map[string]string) (Config, error) {
	v := viper.New()
	defaults := maps.Clone(Defaults)
	for k, d := range urls {
		defaults[k] = d
	}
	for k, d := range defaults {
		v.SetDefault(k, d)
		if f := fs.Lookup(FlagName(k)); f != nil {
			if err := v.BindPFlag(k, f); err != nil {
				return Config{}, err
			}
		}
	}
	v.SetEnvPrefix("PALANTIR")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()

	file := explicitFile
	if file == "" {
		file = os.Getenv("PALANTIR_CONFIG")
	}
	if file == "" {
		if _, err := os.Stat("palantir.yaml"); err == nil {
			file = "palantir.yaml"
		}
	}
	var missions mission.Catalog
	var schedules []Schedule
	if file != "" {
		if err := readFile(v, file, defaults); err != nil {
			return Config{}, withWayOut(err, file)
		}
		var err error
		if missions, schedules, err = readSections(file); err != nil {
			return Config{}, withWayOut(err, file)
		}
	}
	sources := make(map[string]string, len(defaults))
	for k := range defaults {
		sources[k] = sourceOf(fs, v, k, file)
	}
	// Durations are parsed here rather than by Unmarshal, whose error
	// names neither the value nor where it came from.
	for _, k := range []string{"lease", "shutdown_timeout"} {
		if raw := v.GetString(k); raw != "" {
			if _, err := time.ParseDuration(raw); err != nil {
				return Config{}, fmt.Errorf("%w: %s %q is not a duration (use e.g. 500ms, 30s, 2m); set by %s",
					ErrInvalid, k, raw, sources[k])
			}
		}
	}
	for _, k := range []string{"max_deliveries"} {
		if !wholeNumber(v.Get(k)) {
			return Config{}, fmt.Errorf("%w: %s %v is not a whole number (e.g. 10); set by %s", ErrInvalid, k, v.Get(k), sources[k])
		}
	}
	var c Config
	if err := v.Unmarshal(&c); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrInvalid, oneLine(err))
	}
	c.File, c.sources, c.Missions, c.Schedules = file, sources, missions, schedules
	c.URLs = map[string]string{}
	for k := range urls {
		c.URLs[k] = v.GetString(k)
	}
	return c, c.Validate()
}

func readFile(v *viper.Viper, file string, known map[string]any) error {
	v.SetConfigFile(file)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return fmt.Errorf("%w: config file %s: %v", ErrInvalid, file, oneLine(err))
	}
	// Keys the file sets that nobody reads are typos; say so.
	probe := viper.New()
	probe.SetConfigFile(file)
	probe.SetConfigType("yaml")
	_ = probe.ReadInConfig()
	for _, k := range probe.AllKeys() {
		if _, ok := known[k]; !ok && !sectionKey(k) {
			return fmt.Errorf("%w: config file %s: unknown key %q (known: %s)", ErrInvalid, file, k, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
	}
	return nil
}

// oneLine is err's text on one line, its runs of spaces (a YAML error's
// indented lines) made one.
// sectionKey reports whether k is in a section read on its own
// (missions:, schedules:), not a setting.
func sectionKey(k string) bool {
	for _, section := range []string{missionsKey, schedulesKey} {
		if k == section || strings.HasPrefix(k, section+".") {
			return true
		}
	}
	return false
}

// withWayOut adds to an error of the config file how to run without it:
// a broken file must not keep anyone from `palantir cancel` in an
// emergency, least of all a ./palantir.yaml read because it is there.
func withWayOut(err error, file string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return fmt.Errorf("%w; fix %s, or run with --config /dev/null to leave it out", err, file)
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

var queueName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// Validate checks every value, naming the key and the accepted values.
func (c Config) Validate() error {
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("%w: %s (%s): %s", ErrInvalid, key, c.Source(key), fmt.Sprintf(format, a...))
	}
	switch {
	case strings.TrimSpace(c.Backend) == "":
		return bad("backend", "empty (a backend name or a broker URL; palantir --help lists them)")
	case !slices.Contains([]string{"table", "json", "markdown"}, c.Output):
		// markdown is for bench only; the command line rejects it elsewhere.
		return bad("output", "%q (known: table, json, markdown)", c.Output)
	case !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.LogLevel)):
		return bad("log_level", "%q (known: debug, info, warn, error)", c.LogLevel)
	case c.Lease < 100*time.Millisecond:
		return bad("lease", "%v is too short (at least 100ms)", c.Lease)
	case c.ShutdownTimeout < 0:
		return bad("shutdown_timeout", "%v is negative", c.ShutdownTimeout)
	case c.MaxDeliveries < 1 || c.MaxDeliveries > 1000:
		return bad("max_deliveries", "%d (between 1 and 1000)", c.MaxDeliveries)
	}
	if _, err := c.Queues(); err != nil {
		return bad("queue", "%v", err)
	}
	if n, err := humanize.ParseBytes(c.MaxMessageSize); err != nil || n < minMessageSize || n > maxMessageSize {
		return bad("max_message_size", "%q (a size between 1KiB and 64MiB, e.g. 256KiB)", c.MaxMessageSize)
	}
	for t, k := range c.Missions {
		if k.Payload > c.MaxMessageBytes() {
			return bad("max_message_size", "%s; the missions: type %s in %s has a payload of %d bytes, over it", c.MaxMessageSize, t, c.File, k.Payload)
		}
	}
	switch {
	case strings.TrimSpace(c.Store) == "":
		return bad("store", "empty (a SQLite file path or a postgres:// URL)")
	}
	return nil
}

// wholeNumber reports whether a value read for an integer key is one: an
// int from a flag, the default or YAML, or a string of digits from the
// environment. A YAML 5.5 or true would otherwise be rounded or taken
// for 1 by the decoder.
func wholeNumber(v any) bool {
	switch v := v.(type) {
	case int, int32, int64, uint, uint32, uint64:
		return true
	case string:
		_, err := strconv.Atoi(strings.TrimSpace(v))
		return err == nil
	}
	return false
}
