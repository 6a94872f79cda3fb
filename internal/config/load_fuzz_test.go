package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: a config file of any bytes never makes Load panic, and every
// error wraps ErrInvalid (a file that does not parse, an unknown key, a
// bad value), naming the file or the key.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"queue: q\nstore: x.db\nlog_level: error\nlease: 5s\n",
		"backend: [unclosed\n",
		"backnd: redis\n",
		"lease: forever\n",
		"store: {password: secret}\n",
		"queue: [a, b]\n",
		"shutdown_timeout: -1s\n",
		"output: xml\n",
		"&a [*a]\n",
		"\xff\xfe\x00",
		"",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body []byte) {
		file := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(file, body, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(flags(t), file, testURLs)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Load of %q: %v does not wrap ErrInvalid", body, err)
		}
	})
}
