package rabbitmq

import (
	"errors"
	"strings"
	"testing"

	"github.com/palantir-lab/palantir/backends"
)

// FuzzParseURL: no URL makes parseURL panic, every error wraps ErrBadURL,
// and a password planted in the userinfo never appears in an error or in
// the redacted form kept for messages.
func FuzzParseURL(f *testing.F) {
	f.Add("127.0.0.1:5672", "/", "queue_type=quorum", "S3cretPw")
	f.Add("h", "/vhost", "connection_timeout=0", "S3cretPw")
	f.Add("h", "/", "heartbeat=10&cacertfile=/x", "S3cretPw")
	f.Add("h:port", "/#frag", "bogus=1", "S3cretPw")
	f.Fuzz(func(t *testing.T, host, path, query, pw string) {
		raw := "amqp://" + host + path + "?" + query
		if _, err := parseURL(raw); err != nil && !errors.Is(err, backends.ErrBadURL) {
			t.Fatalf("parseURL(%q): %v does not wrap ErrBadURL", raw, err)
		}
		if len(pw) < 6 || strings.Trim(pw, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" ||
			strings.Contains(host+path+query, pw) {
			return
		}
		for _, raw := range []string{
			"amqp://guest:" + pw + "@" + host + path + "?" + query,
			"amqps://:" + pw + "@" + host + path,
		} {
			s, err := parseURL(raw)
			if err != nil && strings.Contains(err.Error(), pw) {
				t.Fatalf("parseURL(%q): %v shows the password", raw, err)
			}
			if strings.Contains(s.redacted, pw) {
				t.Fatalf("parseURL(%q): redacted form %q shows the password", raw, s.redacted)
			}
		}
	})
}
