package store

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseURL: no store location makes parseURL panic, errors wrap
// ErrBadURL, and a password planted in a postgres URL (well-formed or
// mistyped) or a key=value DSN appears neither in the error nor in the
// location printed in banners.
func FuzzParseURL(f *testing.F) {
	f.Add("palantir.db", "S3cretPw", uint8(0))
	f.Add("127.0.0.1:5432/db?sslmode=disable", "S3cretPw", uint8(1))
	f.Add("h/db", "S3cretPw", uint8(2))
	f.Add("h/db", "S3cretPw", uint8(3))
	f.Add("h", "S3cretPw", uint8(4))
	f.Add("sqlite:/tmp/x.db", "S3cretPw", uint8(5))
	f.Fuzz(func(t *testing.T, rest, pw string, form uint8) {
		if _, _, _, err := parseURL(rest); err != nil && !errors.Is(err, ErrBadURL) {
			t.Fatalf("parseURL(%q): %v does not wrap ErrBadURL", rest, err)
		}
		if len(pw) < 6 || strings.Trim(pw, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" ||
			strings.Contains(rest, pw) || strings.ContainsAny(rest, " \t\n\r\v\f") {
			return
		}
		raw := map[uint8]string{
			0: "postgres://u:" + pw + "@" + rest,
			1: "postgres://u@" + rest + "&password=" + pw,
			2: "postgres//u:" + pw + "@" + rest,
			3: "postgresql:/u:" + pw + "@" + rest,
			4: "host=" + rest + " password=" + pw + " dbname=d",
			5: "postgres://u@h/db?sslpassword=" + pw + "&x=" + rest,
		}[form%6]
		_, _, where, err := parseURL(raw)
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Fatalf("parseURL(%q): %v shows the password", raw, err)
		}
		if strings.Contains(where, pw) {
			t.Fatalf("parseURL(%q): location %q shows the password", raw, where)
		}
	})
}
