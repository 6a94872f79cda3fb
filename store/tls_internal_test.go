package store

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestTLSMismatch covers what the end-to-end test against a TLS server
// (e2e.TestPostgresStoreOverTLS) cannot provoke on loopback: a name the
// server's certificate does not hold. Errors that are not about TLS
// are left to the caller.
func TestTLSMismatch(t *testing.T) {
	cert := &x509.Certificate{DNSNames: []string{"db.example"}}
	tests := []struct {
		name string
		err  error
		want string // in the explanation; "" for none
	}{
		{name: "host name", err: fmt.Errorf("tls: failed to verify certificate: %w", x509.HostnameError{Certificate: cert, Host: "db.other"}), want: "sslmode=verify-ca"},
		{name: "unknown authority", err: fmt.Errorf("write failed: %w", x509.UnknownAuthorityError{}), want: "sslrootcert"},
		{name: "refused", err: errors.New("tls error: server refused TLS connection"), want: "does not speak TLS"},
		{name: "connection refused", err: errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")},
		{name: "password", err: errors.New("FATAL: password authentication failed for user \"postgres\" (SQLSTATE 28P01)")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tlsMismatch(tt.err)
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("tlsMismatch(%q) = %q, want it to say %q", tt.err, got, tt.want)
			}
		})
	}
}
