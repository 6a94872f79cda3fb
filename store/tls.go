package store

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrTLS: the TLS settings of a PostgreSQL URL (sslmode, sslrootcert,
// sslcert, sslkey) cannot work, or do not match the server's. It is an
// ErrBadURL, a configuration error (exit 2): waiting does not help, as it
// does for a server that is down.
var ErrTLS = fmt.Errorf("%w: TLS", ErrBadURL)

// tlsMismatch explains a connection that failed because the TLS settings
// of the two ends differ, naming what to set, or returns "" for any other
// error.
func tlsMismatch(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var alert tls.AlertError
	switch {
	// pgconn's answer when the server says no to SSLRequest; it has no type.
	case strings.Contains(err.Error(), "server refused TLS connection"):
		return "the server does not speak TLS (it runs with ssl = off): use sslmode=disable (or prefer), or turn ssl on in the server's postgresql.conf"
	case errors.As(err, &unknownCA):
		// verify-full, verify-ca, and require with an sslrootcert.
		return "the server's certificate is signed by an unknown authority (set sslrootcert=/path/ca.pem to the CA that signed it)"
	case errors.As(err, &host):
		return fmt.Sprintf("%v (connect by a name the certificate holds, or use sslmode=verify-ca)", host)
	case errors.As(err, &invalid):
		return fmt.Sprintf("the server's certificate is not valid: %v", invalid)
	case errors.As(err, &verify):
		return fmt.Sprintf("the server's certificate is not valid: %v", verify.Err)
	case errors.As(err, &alert):
		return fmt.Sprintf("the server refused the handshake (%v): compare the server's ssl_* settings with the URL's sslmode, sslcert and sslkey", alert)
	}
	return ""
}

// tlsParseError returns the cause of a URL that pgx could not parse
// because its TLS parameters cannot work (a CA file that cannot be read,
// sslkey without sslcert), or nil for any other parse error.
func tlsParseError(err error) error {
	var pe *pgconn.ParseConfigError
	// pgx says so only in the message.
	if !errors.As(err, &pe) || !strings.Contains(pe.Error(), "failed to configure TLS") {
		return nil
	}
	return pe.Unwrap()
}
