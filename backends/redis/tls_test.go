package redis_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/backendtest"
	"github.com/palantir-lab/palantir/backends/redis"
	"github.com/palantir-lab/palantir/internal/testservices"
)

// tlsRedis starts a private redis-server that speaks only TLS and
// returns its port.
func tlsRedis(t *testing.T, c testservices.Certs, authClients string) string {
	t.Helper()
	return privateRedis(t, "--port", "0", "--tls-port", "{port}",
		"--tls-cert-file", c.ServerCert, "--tls-key-file", c.ServerKey,
		"--tls-ca-cert-file", c.CA, "--tls-auth-clients", authClients)
}

// roundTrip publishes, receives and acks one message through url.
func roundTrip(t *testing.T, url string, logger *slog.Logger) error {
	t.Helper()
	ctx := context.Background()
	q, err := redis.Open(ctx, backends.Config{URL: url, Queue: "tls", Lease: time.Minute, Logger: logger})
	if err != nil {
		return err
	}
	defer q.Close()
	if err := q.Publish(ctx, messages("tls", 1)...); err != nil {
		t.Fatalf("Publish over TLS: %v", err)
	}
	d := backendtest.Receive(t, backendtest.Subscribe(t, q, "c", 1), 5*time.Second)
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("Ack over TLS: %v", err)
	}
	return nil
}

func TestTLS(t *testing.T) {
	c := testservices.NewCerts(t, "")
	port := tlsRedis(t, c, "no")
	base := "rediss://127.0.0.1:" + port + "/0"
	tests := []struct {
		name  string
		query string
		err   string // in the error; "" for success
		warn  bool   // a warning about verification is logged
	}{
		{name: "trusted CA", query: "?cacertfile=" + c.CA},
		{name: "server name", query: "?cacertfile=" + c.CA + "&server_name_indication=localhost"},
		{name: "wrong server name", query: "?cacertfile=" + c.CA + "&server_name_indication=elsewhere", err: "server_name_indication"},
		{name: "unknown CA", query: "", err: "cacertfile"},
		{name: "no verification", query: "?skip_verify=true", warn: true},
		{name: "missing CA file", query: "?cacertfile=" + c.CA + ".missing", err: "cacertfile"},
		{name: "cert without key", query: "?cacertfile=" + c.CA + "&certfile=" + c.ClientCert, err: "certfile and keyfile go together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			err := roundTrip(t, base+tt.query, slog.New(slog.NewTextHandler(&logs, nil)))
			checkErr(t, err, tt.err)
			if warned := strings.Contains(logs.String(), "skip_verify"); warned != tt.warn {
				t.Errorf("warned about verification: %v, want %v; logs:\n%s", warned, tt.warn, logs.String())
			}
		})
	}
}

func TestTLSClientCertificates(t *testing.T) {
	c := testservices.NewCerts(t, "")
	port := tlsRedis(t, c, "yes")
	base := "rediss://127.0.0.1:" + port + "/0?cacertfile=" + c.CA
	t.Run("with", func(t *testing.T) {
		checkErr(t, roundTrip(t, base+"&certfile="+c.ClientCert+"&keyfile="+c.ClientKey, nil), "")
	})
	t.Run("without", func(t *testing.T) {
		checkErr(t, roundTrip(t, base, nil), "certfile and keyfile")
	})
}

// TestTLSToPlainServer: rediss:// to a server without TLS is a clear,
// one-line configuration error.
func TestTLSToPlainServer(t *testing.T) {
	port := privateRedis(t)
	checkErr(t, roundTrip(t, "rediss://:secret@127.0.0.1:"+port+"/0", nil), "does not speak TLS")
}

// checkErr wants err to contain want, be one line, not show the
// password, and say the configuration is wrong (ErrBadURL: exit 2), or
// wants no error when want is "".
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Open succeeded, want an error saying %q", want)
	}
	msg := err.Error()
	if !strings.Contains(msg, want) || strings.Contains(msg, "\n") || strings.Contains(msg, "secret") {
		t.Errorf("error %q, want one line without the password that says %q", msg, want)
	}
	if !errors.Is(err, backends.ErrBadURL) {
		t.Errorf("error %q does not wrap ErrBadURL (a configuration error)", msg)
	}
}
