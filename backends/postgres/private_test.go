package postgres_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/palantir-lab/palantir/internal/testservices"
)

// privatePostgres is a PostgreSQL cluster of the test's own, on a free
// loopback port, that the test may stop and start: never the shared one.
type privatePostgres struct {
	t         *testing.T
	bin, data string
	port      int
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		testservices.Unavailable(t, "PostgreSQL's initdb", "", fmt.Errorf("not under /usr/lib/postgresql/*/bin (apt-get install postgresql)"))
	}
	// PostgreSQL refuses to run as root: the cluster belongs to the
	// postgres user, in a directory it can reach.
	root, err := os.MkdirTemp("", "palantir-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(root, 0o755)
	p := &privatePostgres{t: t, bin: filepath.Dir(bins[0]), data: filepath.Join(root, "data"), port: testservices.FreePort(t)}
	t.Cleanup(func() { p.stop(); os.RemoveAll(root) })
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres", root).CombinedOutput(); err != nil {
			testservices.Unavailable(t, "a private PostgreSQL (chown to postgres)", "", fmt.Errorf("%v: %s", err, out))
		}
	}
	p.run("initdb", "-D", p.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	p.start()
	return p
}

// command runs a PostgreSQL tool, as the postgres user when we are root.
func (p *privatePostgres) command(tool string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(p.bin, tool)}, args...)...)
	}
	return exec.Command(filepath.Join(p.bin, tool), args...)
}

func (p *privatePostgres) run(tool string, args ...string) {
	p.t.Helper()
	if out, err := p.command(tool, args...).CombinedOutput(); err != nil {
		p.t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
}

func (p *privatePostgres) start() {
	p.run("pg_ctl", "-D", p.data, "-w", "-l", filepath.Join(filepath.Dir(p.data), "log"), "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", p.port, filepath.Dir(p.data)), "start")
}

// stop is an immediate shutdown: what a crash does to the connections
// (committed work is in the WAL, and replayed at start).
func (p *privatePostgres) stop() {
	_ = p.command("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop").Run()
}

func (p *privatePostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}
