package main

import (
	"bytes"
	"context"
	"database/sql"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/internal/testservices"
	"github.com/palantir-lab/palantir/store"
	"github.com/palantir-lab/palantir/telemetry"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// A follower rides out a store that stops answering: it says so once,
// keeps trying, says so again when the store is back, and goes on
// printing. Before, the first failed poll ended `events --follow`.
func TestEventsFollowRidesOutAStoreOutage(t *testing.T) {
	ctx := context.Background()
	dbURL := testservices.PostgresDB(t)
	u, _ := url.Parse(dbURL)
	dbName := strings.TrimPrefix(u.Path, "/")
	admin, err := sql.Open("pgx", testservices.PostgresAdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	emit := func(id string) {
		t.Helper()
		if err := st.InsertEvents(ctx, []telemetry.Event{{At: time.Now(), Name: telemetry.MissionProgress, MissionID: id, Attempt: 1, Service: "worker:w"}}); err != nil {
			t.Fatal(err)
		}
	}
	emit("before")
	var out, errb lockedBuf
	fctx, stop := context.WithCancel(ctx)
	exited := make(chan int, 1)
	go func() {
		exited <- run(fctx, []string{"--store", dbURL, "events", "--follow"}, streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	}()
	waitFor(t, "the first event printed", func() bool { return strings.Contains(out.String(), "before") })

	// The outage: the database refuses connections and drops those open.
	for _, q := range []string{`ALTER DATABASE "` + dbName + `" ALLOW_CONNECTIONS false`,
		`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '` + dbName + `' AND pid <> pg_backend_pid()`} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the outage said", func() bool { return strings.Contains(errb.String(), "still following") })
	time.Sleep(2 * time.Second)
	select {
	case code := <-exited:
		t.Fatalf("events --follow exited %d during the outage; stderr: %s", code, errb.String())
	default:
	}
	if _, err := admin.ExecContext(ctx, `ALTER DATABASE "`+dbName+`" ALLOW_CONNECTIONS true`); err != nil {
		t.Fatal(err)
	}
	emit("after")
	waitFor(t, "the event stored after the outage printed", func() bool { return strings.Contains(out.String(), "after") })
	stop()
	if code := <-exited; code != 0 {
		t.Errorf("exit %d after the interrupt, want 0", code)
	}
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "answering again") {
		t.Errorf("stderr, want one line when the store goes and one when it is back:\n%s", errb.String())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
