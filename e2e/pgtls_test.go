package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/internal/testservices"
	"github.com/palantir-lab/palantir/store"
)

// Planted in every URL of TestPostgresStoreOverTLS: the private cluster
// trusts loopback, so neither is checked, and neither may ever be printed.
const (
	tlsTestPassword    = "s3cr3t-pw"
	tlsTestKeyPassword = "k3y-s3cr3t"
)

// TestPostgresStoreOverTLS runs palantir against a private PostgreSQL,
// first plain, then with ssl = on and a server certificate signed by a CA
// the test generates. Through store.Open and the real CLI (launch, status,
// doctor): sslmode=verify-full with the server's CA stores a mission and
// reads it back; a wrong CA, or TLS to a plain server, is one line on
// stderr saying what to set, exit 2 (a configuration error, as for
// rediss://), with no password on stdout or stderr.
func TestPostgresStoreOverTLS(t *testing.T) {
	start := time.Now()
	pg := testservices.StartPostgres(t)
	e := &env{t: t, backend: "inproc", dir: t.TempDir(),
		vars: []string{"PALANTIR_BACKEND=inproc", "PALANTIR_SHUTDOWN_TIMEOUT=5s"}}
	url := func(host, db, query string) string {
		return fmt.Sprintf("postgres://postgres:%s@%s:%d/%s?sslpassword=%s&%s", tlsTestPassword, host, pg.Port, db, tlsTestKeyPassword, query)
	}
	local := func(query string) string { return url("127.0.0.1", "postgres", query) }

	// A database that only takes connections with a client certificate.
	createDatabase(t, local("sslmode=disable"), "certonly")

	plain := []tlsCase{
		{name: "require, plain server", url: local("sslmode=require"), code: 2, want: "does not speak TLS"},
		{name: "verify-full, plain server", url: local("sslmode=verify-full"), code: 2, want: "does not speak TLS"},
		{name: "prefer (the default), plain server", url: local("sslmode=prefer")},
	}
	for _, tt := range plain {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, e) })
	}

	c := enableTLS(t, pg)
	other := testservices.NewCerts(t, "") // a CA that signed nothing the server holds
	client := "sslcert=" + c.ClientCert + "&sslkey=" + c.ClientKey
	secure := []tlsCase{
		{name: "verify-full, the server's CA", url: local("sslmode=verify-full&sslrootcert=" + c.CA)},
		{name: "verify-full, the server's CA, by host name", url: url("localhost", "postgres", "sslmode=verify-full&sslrootcert="+c.CA)},
		{name: "require, no CA (encrypted, not verified)", url: local("sslmode=require")},
		{name: "verify-full, wrong CA", url: local("sslmode=verify-full&sslrootcert=" + other.CA), code: 2, want: "sslrootcert"},
		{name: "verify-ca, wrong CA", url: local("sslmode=verify-ca&sslrootcert=" + other.CA), code: 2, want: "sslrootcert"},
		{name: "require with a wrong CA verifies it", url: local("sslmode=require&sslrootcert=" + other.CA), code: 2, want: "sslrootcert"},
		{name: "verify-full, the system's CAs", url: local("sslmode=verify-full"), code: 2, want: "sslrootcert"},
		{name: "verify-full, CA file missing", url: local("sslmode=verify-full&sslrootcert=" + c.CA + ".missing"), code: 2, want: "unable to read CA file"},
		{name: "client certificate", url: url("127.0.0.1", "certonly", "sslmode=verify-full&sslrootcert="+c.CA+"&"+client)},
		{name: "client certificate missing", url: url("127.0.0.1", "certonly", "sslmode=verify-full&sslrootcert="+c.CA), code: 3, want: "client certificate"},
		{name: "client key without certificate", url: url("127.0.0.1", "certonly", "sslmode=verify-full&sslrootcert="+c.CA+"&sslkey="+c.ClientKey), code: 2, want: "sslcert"},
	}
	for _, tt := range secure {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, e) })
	}
	t.Logf("%d cases in %v", len(plain)+len(secure), time.Since(start).Round(100*time.Millisecond))
}

// tlsCase is one store URL, and what palantir must make of it: code is
// the exit status (0: a mission is stored and read back), want a phrase of
// the one-line error.
type tlsCase struct {
	name, url string
	code      int
	want      string
}

func (tt tlsCase) run(t *testing.T, e *env) {
	e.t = t
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, openErr := store.Open(ctx, tt.url)
	if st != nil {
		st.Close()
	}
	code, out, errs := e.palantir("launch", "raven", "--speed", "10", "--fail-rate", "0", "--store", tt.url, "-o", "json")
	noSecret(t, "launch", out+errs)
	if code != tt.code {
		t.Fatalf("launch: exit %d, want %d\nstderr: %s", code, tt.code, errs)
	}
	if tt.code == 0 {
		if openErr != nil {
			t.Fatalf("store.Open: %v", openErr)
		}
		readBack(t, e, tt.url, out)
		return
	}
	if openErr == nil {
		t.Fatal("store.Open succeeded, want an error")
	}
	if tt.code == 2 && !errors.Is(openErr, store.ErrBadURL) {
		t.Errorf("store.Open: %v, want an ErrBadURL (a configuration error)", openErr)
	}
	if tt.code == 3 && !errors.Is(openErr, store.ErrUnreachable) {
		t.Errorf("store.Open: %v, want an ErrUnreachable", openErr)
	}
	line := strings.TrimSuffix(errs, "\n")
	if strings.Contains(line, "\n") || !strings.HasPrefix(line, "palantir: ") || !strings.Contains(line, tt.want) {
		t.Errorf("launch's stderr %q, want one line saying %q", errs, tt.want)
	}
	if out != "" {
		t.Errorf("launch's stdout %q, want nothing", out)
	}

	code, out, errs = e.palantir("doctor", "--store", tt.url)
	noSecret(t, "doctor", out+errs)
	if code != tt.code {
		t.Errorf("doctor: exit %d, want %d", code, tt.code)
	}
	if !strings.Contains(out, "FAIL store") || !strings.Contains(out, tt.want) {
		t.Errorf("doctor's stdout does not fail the store saying %q:\n%s", tt.want, out)
	}
	if tt.code == 2 && !strings.Contains(out, "fix: ") || strings.Contains(out, "fix: use a SQLite file path") {
		t.Errorf("doctor's fix does not fit a TLS mismatch:\n%s", out)
	}
}

// readBack finds the missions launch printed (as JSON) in the store,
// through another palantir process and through store.Open, finished.
func readBack(t *testing.T, e *env, storeURL, launched string) {
	t.Helper()
	ids := missionIDs(t, launched)
	ms := e.missions(append([]string{"status", "--store", storeURL}, ids...)...)
	if len(ms) != 1 || ms[0].ID != ids[0] || ms[0].Status != "SUCCESS" {
		t.Fatalf("status %s: %+v, want it SUCCESS", ids[0], ms)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, storeURL)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	defer st.Close()
	got, err := st.Missions(ctx, ids)
	if err != nil || len(got) != 1 || string(got[0].Status) != "SUCCESS" {
		t.Fatalf("store.Missions(%v): %+v, %v; want it SUCCESS", ids, got, err)
	}
}

func missionIDs(t *testing.T, launched string) []string {
	t.Helper()
	var ms []mission
	if err := json.Unmarshal([]byte(launched), &ms); err != nil || len(ms) != 1 {
		t.Fatalf("launch -o json: %v: %s", err, launched)
	}
	return []string{ms[0].ID}
}

func noSecret(t *testing.T, what, output string) {
	t.Helper()
	for _, secret := range []string{tlsTestPassword, tlsTestKeyPassword} {
		if strings.Contains(output, secret) {
			t.Errorf("%s printed the password %q:\n%s", what, secret, output)
		}
	}
}

// enableTLS turns ssl on in pg with a fresh CA's server certificate, makes
// the database certonly take only connections with a client certificate
// that CA signed, and restarts the server.
func enableTLS(t *testing.T, pg *testservices.PostgresCluster) testservices.Certs {
	t.Helper()
	// The server reads its key only if the key is its own and private.
	dir := filepath.Join(filepath.Dir(pg.Data), "tls")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := testservices.NewCerts(t, dir)
	if out, err := exec.Command("chown", "-R", "postgres", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v: %s", dir, err, out)
	}
	appendTo(t, filepath.Join(pg.Data, "postgresql.conf"), fmt.Sprintf(
		"ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'\nssl_ca_file = '%s'\n", c.ServerCert, c.ServerKey, c.CA))
	hba := filepath.Join(pg.Data, "pg_hba.conf")
	rules, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	// The first matching line wins.
	rules = append([]byte("hostssl certonly all 127.0.0.1/32 trust clientcert=verify-ca\nhost certonly all 127.0.0.1/32 reject\n"), rules...)
	if err := os.WriteFile(hba, rules, 0o600); err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	pg.Start()
	return c
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func createDatabase(t *testing.T, url, name string) {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
}
