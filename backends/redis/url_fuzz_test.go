package redis

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/palantir-lab/palantir/backends"
)

// FuzzParseURL: no URL makes parseURL panic, every error wraps ErrBadURL,
// and a password planted in the userinfo or the query never appears in
// an error.
func FuzzParseURL(f *testing.F) {
	f.Add("127.0.0.1:6379", "/0", "dial_timeout=1s", "S3cretPw")
	f.Add("s1:26379", "/1", "master_name=m&addr=s2:26379", "S3cretPw")
	f.Add("n1:7000", "", "addr=n2:7000&cluster=true", "S3cretPw")
	f.Add("h", "/zero", "password=x", "S3cretPw")
	f.Add("h:port", "/", "read_timeout=later", "S3cretPw")
	f.Fuzz(func(t *testing.T, host, path, query, pw string) {
		raw := "redis://" + host + path + "?" + query
		if _, err := parseURL(raw); err != nil && !errors.Is(err, backends.ErrBadURL) {
			t.Fatalf("parseURL(%q): %v does not wrap ErrBadURL", raw, err)
		}
		if len(pw) < 6 || strings.Trim(pw, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" ||
			strings.Contains(host+path+query, pw) {
			return
		}
		for _, raw := range []string{
			"redis://u:" + pw + "@" + host + path + "?" + query,
			"rediss://:" + pw + "@" + host + path + "?" + query + "&password=" + pw,
			"redis://" + host + path + "?" + url.Values{"password": {pw}}.Encode(),
		} {
			if _, err := parseURL(raw); err != nil && strings.Contains(err.Error(), pw) {
				t.Fatalf("parseURL(%q): %v shows the password", raw, err)
			}
		}
	})
}
