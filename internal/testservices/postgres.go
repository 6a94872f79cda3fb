package testservices

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// PostgresCluster is a PostgreSQL cluster of the test's own, on a free
// loopback port, that the test may stop, reconfigure and start: never the
// shared one.
type PostgresCluster struct {
	t    *testing.T
	bin  string
	Data string // the data directory (postgresql.conf, pg_hba.conf)
	Port int
}

// StartPostgres initialises a cluster with initdb (trust authentication,
// user postgres) and starts it; it is stopped and removed when t ends.
// Without initdb the test skips, or fails under PALANTIR_REQUIRE_SERVICES=1.
func StartPostgres(t *testing.T) *PostgresCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		Unavailable(t, "PostgreSQL's initdb", "", fmt.Errorf("not under /usr/lib/postgresql/*/bin (apt-get install postgresql)"))
	}
	// PostgreSQL refuses to run as root: the cluster belongs to the
	// postgres user, in a directory it can reach.
	root, err := os.MkdirTemp("", "palantir-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(root, 0o755)
	p := &PostgresCluster{t: t, bin: filepath.Dir(bins[0]), Data: filepath.Join(root, "data"), Port: FreePort(t)}
	t.Cleanup(func() { p.Stop(); os.RemoveAll(root) })
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres", root).CombinedOutput(); err != nil {
			Unavailable(t, "a private PostgreSQL (chown to postgres)", "", fmt.Errorf("%v: %s", err, out))
		}
	}
	p.Run("initdb", "-D", p.Data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	p.Start()
	return p
}

// command runs a PostgreSQL tool, as the postgres user when we are root.
func (p *PostgresCluster) command(tool string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(p.bin, tool)}, args...)...)
	}
	return exec.Command(filepath.Join(p.bin, tool), args...)
}

// Run runs a PostgreSQL tool (pg_ctl, psql, …) and fails the test if it
// fails.
func (p *PostgresCluster) Run(tool string, args ...string) {
	p.t.Helper()
	if out, err := p.command(tool, args...).CombinedOutput(); err != nil {
		p.t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
}

// Start starts the cluster on its port, listening on 127.0.0.1 only.
func (p *PostgresCluster) Start() {
	p.t.Helper()
	p.Run("pg_ctl", "-D", p.Data, "-w", "-l", filepath.Join(filepath.Dir(p.Data), "log"), "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", p.Port, filepath.Dir(p.Data)), "start")
}

// Stop is an immediate shutdown: what a crash or a pulled cable does to
// the connections (committed work is in the WAL, replayed at start).
func (p *PostgresCluster) Stop() {
	_ = p.command("pg_ctl", "-D", p.Data, "-m", "immediate", "-w", "stop").Run()
}

// URL is the cluster's postgres database as user postgres, without TLS.
func (p *PostgresCluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
}
