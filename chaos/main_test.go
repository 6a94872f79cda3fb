package chaos_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/palantir-lab/palantir/backends/redis"
	"github.com/palantir-lab/palantir/internal/testservices"
)

// binary is palantir, built once for the tests that run real processes
// (a worker to kill, the commands labs type).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "palantir-chaos")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "palantir")
	build := exec.Command("go", "build", "-o", binary, "../cmd/palantir")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build palantir:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lab is a Redis queue of its own and a SQLite store in a temp dir, the
// setting of palantir processes started by a test.
type lab struct {
	t     *testing.T
	dir   string
	queue string
	store string
	redis *goredis.Client
}

// newRedisLab skips (or fails, in CI) without Redis, and deletes the
// queue's keys when t ends.
func newRedisLab(t *testing.T) *lab {
	t.Helper()
	url := testservices.RedisURL()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		testservices.Unavailable(t, "Redis", url, err)
	}
	l := &lab{t: t, dir: t.TempDir(), queue: fmt.Sprintf("chaos-test-%d-%x", os.Getpid(), rand.Uint32()), redis: c}
	l.store = filepath.Join(l.dir, "palantir.db")
	t.Cleanup(func() {
		k := redis.Keys(l.queue)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Del(ctx, k.Stream, k.Delayed, k.Dead).Err(); err != nil {
			t.Errorf("delete the Redis keys of %s: %v", l.queue, err)
		}
		c.Close()
	})
	return l
}

func (l *lab) env() []string {
	return append(os.Environ(), "PALANTIR_BACKEND=redis", "PALANTIR_REDIS_URL="+testservices.RedisURL(),
		"PALANTIR_QUEUE="+l.queue, "PALANTIR_STORE="+l.store, "PALANTIR_LEASE=2s", "PALANTIR_SHUTDOWN_TIMEOUT=2s")
}

// palantir runs a command to its end.
func (l *lab) palantir(args ...string) (code int, stdout, stderr string) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, binary, args...)
	c.Dir, c.Env = l.dir, l.env()
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		l.t.Fatalf("palantir %v: %v", args, err)
	}
	return 0, out.String(), errb.String()
}

// start starts a long-running palantir process, logging into the temp dir;
// it is killed when the test ends if still running.
func (l *lab) start(name string, args ...string) *exec.Cmd {
	l.t.Helper()
	c := exec.Command(binary, args...)
	c.Dir, c.Env = l.dir, l.env()
	logf, err := os.Create(filepath.Join(l.dir, name+".log"))
	if err != nil {
		l.t.Fatal(err)
	}
	c.Stdout, c.Stderr = logf, logf
	if err := c.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
		logf.Close()
	})
	return c
}

func (l *lab) log(name string) string {
	b, _ := os.ReadFile(filepath.Join(l.dir, name+".log"))
	return string(b)
}

// waitFor polls cond every 100 ms until it holds or d has passed.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
