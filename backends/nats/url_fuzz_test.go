package nats

import (
	"errors"
	"strings"
	"testing"

	"github.com/palantir-lab/palantir/backends"
)

// FuzzParseURL: no URL makes parseURL panic, every error wraps ErrBadURL,
// and a password or token planted in the userinfo never appears in an
// error or in the redacted form kept for messages.
func FuzzParseURL(f *testing.F) {
	f.Add("127.0.0.1:4222", "", "", "S3cretPw")
	f.Add("h", "/", "cacertfile=/ca.pem", "S3cretPw")
	f.Add("h:port", "/#frag", "bogus=1", "S3cretPw")
	f.Add("h,nats://x", "", "certfile=/c", "S3cretPw")
	f.Fuzz(func(t *testing.T, host, path, query, pw string) {
		raw := "nats://" + host + path + "?" + query
		if _, err := parseURL(raw); err != nil && !errors.Is(err, backends.ErrBadURL) {
			t.Fatalf("parseURL(%q): %v does not wrap ErrBadURL", raw, err)
		}
		if len(pw) < 6 || strings.Trim(pw, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" ||
			strings.Contains(host+path+query, pw) {
			return
		}
		for _, raw := range []string{
			"nats://palantir:" + pw + "@" + host + path + "?" + query,
			"tls://" + pw + "@" + host + path,
			"nats://" + pw + "@" + host + ",nats://" + pw + "@" + host,
		} {
			s, err := parseURL(raw)
			if err != nil && strings.Contains(err.Error(), pw) {
				t.Fatalf("parseURL(%q): %v shows the secret", raw, err)
			}
			if strings.Contains(s.redacted, pw) {
				t.Fatalf("parseURL(%q): redacted form %q shows the secret", raw, s.redacted)
			}
		}
	})
}
