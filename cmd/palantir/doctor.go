package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/internal/config"
	"github.com/palantir-lab/palantir/store"
)

// doctorOptions are doctor's flags: none yet. The root's settings are
// what it checks.
type doctorOptions struct{}

// validate has nothing to refuse: a bad setting is doctor's first check.
func (o doctorOptions) validate() error { return nil }

func newDoctorCmd(a *app, runF func(context.Context, *app, doctorOptions) error) *cobra.Command {
	var o doctorOptions
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check config, broker and store, one line each",
		Long: `Check that the configuration is valid, the broker answers and the store
opens, one line each, with the cause and a fix where something fails. Also
warns when the broker is networked but the store is a local SQLite file
(workers on other machines would not share it).

EXIT STATUS
  0  everything works (warnings allowed)
  2  the configuration is invalid (a broker or store URL that does not parse included)
  3  the broker or the store is unreachable`,
		Example: `  palantir doctor
  palantir doctor --backend rabbitmq --store postgres://postgres@127.0.0.1/palantir`,
		Args: argsUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), a, o)
			}
			return runDoctor(cmd.Context(), a, o)
		},
	}
}

type check struct {
	Check  string `json:"check"`
	Status string `json:"status"` // ok, warn, fail
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

func runDoctor(ctx context.Context, a *app, _ doctorOptions) error {
	file := a.cfg.File
	if file == "" {
		file = "none (flags, PALANTIR_* and defaults)"
	}
	checks := []check{{Check: "config", Status: "ok", Detail: fmt.Sprintf("file %s; backend %s; queue %q; output %s", file, a.be.Name, a.cfg.Queue, a.cfg.Output)}}
	var failed error

	start := a.now()
	var st *store.Store
	var err error
	if path, missing := a.missingStoreFile(); missing {
		// Checking must not make one in whatever directory doctor runs.
		c := storeToCome(path)
		if c.Status == "fail" {
			failed = fmt.Errorf("%w: %s", store.ErrUnreachable, c.Detail)
		}
		checks = append(checks, c)
	} else if st, err = a.Store(ctx); err != nil {
		failed = err
		checks = append(checks, check{Check: "store", Status: "fail", Detail: err.Error(), Fix: storeFix(err)})
	} else {
		n, cerr := st.CountMissions(ctx)
		detail := fmt.Sprintf("%s %s answers in %v; %d mission(s)", st.Driver(), st.Location(), a.now().Sub(start).Round(time.Millisecond), n)
		if cerr != nil {
			detail = cerr.Error()
		}
		checks = append(checks, check{Check: "store", Status: "ok", Detail: detail})
	}

	// The broker is checked whatever the store did: a queue opens without
	// the store (inproc's dead-letter book opens it lazily).
	broker := checkBroker(ctx, a, &failed)
	checks = append(checks, broker)
	if st != nil && broker.Status == "ok" && a.be.Networked && st.Local() {
		checks = append(checks, check{Check: "sharing", Status: "warn",
			Detail: fmt.Sprintf("broker %s is networked but the store is the local SQLite file %s: workers on other machines would not share it", a.be.Name, st.Location()),
			Fix:    "on one machine this is fine; across machines use --store postgres://user@host/db"})
	}
	if a.json() {
		if err := a.writeJSON(checks); err != nil {
			return err
		}
	} else {
		marks := map[string]string{"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
		for _, c := range checks {
			fmt.Fprintf(a.Out, "%s %-8s %s\n", marks[c.Status], c.Check, c.Detail)
			if c.Fix != "" {
				fmt.Fprintf(a.Out, "              fix: %s\n", c.Fix)
			}
		}
	}
	return failed
}

func brokerFix(a *app, err error) string {
	if errors.Is(err, backends.ErrBadURL) {
		return "correct the broker URL: the error names the part palantir does not understand"
	}
	if errors.Is(err, config.ErrInvalid) {
		return "choose a --backend and --store that go together: the error says which"
	}
	if a.be.Hint != nil {
		return a.be.Hint(err)
	}
	return "check --backend"
}

func storeFix(err error) string {
	if errors.Is(err, store.ErrTLS) {
		return "make the URL's sslmode, sslrootcert (and sslcert, sslkey) match the server's TLS set-up (docs/postgres.md#tls)"
	}
	if errors.Is(err, store.ErrBadURL) {
		return "use a SQLite file path or a postgres:// URL"
	}
	return "for SQLite, make sure the directory of --store exists and is writable; for PostgreSQL, that the server runs and the URL's database and user exist"
}

// checkBroker opens the queue and reads its counts within five seconds.
func checkBroker(ctx context.Context, a *app, failed *error) check {
	start := a.now()
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	q, err := a.InspectQueue(qctx)
	var s backends.Stats
	if err == nil {
		s, err = q.Stats(qctx)
	}
	if errors.Is(err, backends.ErrNoQueue) {
		return check{Check: "broker", Status: "ok", Detail: fmt.Sprintf("%s answers in %v; %s",
			a.be.Name, a.now().Sub(start).Round(time.Millisecond), a.noQueue())}
	}
	if err != nil {
		*failed = errors.Join(*failed, err)
		return check{Check: "broker", Status: "fail", Detail: err.Error(), Fix: brokerFix(a, err)}
	}
	url, _ := a.brokerURL() // Queue succeeded: so did it
	where := a.be.Redact(url)
	if where == "" {
		where = "this process's memory"
	}
	return check{Check: "broker", Status: "ok", Detail: fmt.Sprintf("%s at %s answers in %v; queue %q: %s ready, %s in flight, %s delayed, %s dead letters",
		a.be.Name, where, a.now().Sub(start).Round(time.Millisecond), a.cfg.Queue, count(&s.Ready), count(&s.InFlight), count(&s.Delayed), count(&s.DeadLetters))}
}

// storeToCome checks a SQLite store whose file does not exist yet: ok if
// launch will be able to make it (its directory takes a file).
func storeToCome(path string) check {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".palantir-doctor-*")
	if err != nil {
		return check{Check: "store", Status: "fail",
			Detail: fmt.Sprintf("sqlite %s does not exist, and launch could not create it: %v", path, err),
			Fix:    "create the directory, or name another file with --store or PALANTIR_STORE"}
	}
	f.Close()
	os.Remove(f.Name())
	return check{Check: "store", Status: "ok", Detail: fmt.Sprintf("sqlite %s does not exist yet; launch creates it", path)}
}
