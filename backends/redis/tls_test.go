package redis_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/backends/redis"
)

// certs are PEM files in a temp dir: a CA, a server certificate for
// 127.0.0.1 and localhost, and a client certificate, all signed by the CA.
type certs struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func newCerts(t *testing.T) certs {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	keyPEM := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "PRIVATE KEY", der)
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "palantir test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage, k *ecdsa.PrivateKey) []byte {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "palantir test"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sk, ck := key(), key()
	return certs{
		ca:         write("ca.pem", "CERTIFICATE", caDER),
		serverCert: write("server.pem", "CERTIFICATE", leaf(2, x509.ExtKeyUsageServerAuth, sk)),
		serverKey:  keyPEM("server.key", sk),
		clientCert: write("client.pem", "CERTIFICATE", leaf(3, x509.ExtKeyUsageClientAuth, ck)),
		clientKey:  keyPEM("client.key", ck),
	}
}

// tlsRedis starts a private redis-server that speaks only TLS and
// returns its port.
func tlsRedis(t *testing.T, c certs, authClients string) string {
	t.Helper()
	return privateRedis(t, "--port", "0", "--tls-port", "{port}",
		"--tls-cert-file", c.serverCert, "--tls-key-file", c.serverKey,
		"--tls-ca-cert-file", c.ca, "--tls-auth-clients", authClients)
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
	d := receive(t, subscribe(t, q, "c", 1), 5*time.Second)
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("Ack over TLS: %v", err)
	}
	return nil
}

func TestTLS(t *testing.T) {
	c := newCerts(t)
	port := tlsRedis(t, c, "no")
	base := "rediss://127.0.0.1:" + port + "/0"
	tests := []struct {
		name  string
		query string
		err   string // in the error; "" for success
		warn  bool   // a warning about verification is logged
	}{
		{name: "trusted CA", query: "?cacertfile=" + c.ca},
		{name: "server name", query: "?cacertfile=" + c.ca + "&server_name_indication=localhost"},
		{name: "wrong server name", query: "?cacertfile=" + c.ca + "&server_name_indication=elsewhere", err: "server_name_indication"},
		{name: "unknown CA", query: "", err: "cacertfile"},
		{name: "no verification", query: "?skip_verify=true", warn: true},
		{name: "missing CA file", query: "?cacertfile=" + c.ca + ".missing", err: "cacertfile"},
		{name: "cert without key", query: "?cacertfile=" + c.ca + "&certfile=" + c.clientCert, err: "certfile and keyfile go together"},
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
	c := newCerts(t)
	port := tlsRedis(t, c, "yes")
	base := "rediss://127.0.0.1:" + port + "/0?cacertfile=" + c.ca
	t.Run("with", func(t *testing.T) {
		checkErr(t, roundTrip(t, base+"&certfile="+c.clientCert+"&keyfile="+c.clientKey, nil), "")
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
