package backends

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// plantable is a password Redact must be able to find: long enough not to
// occur by chance, and made of characters that need no escaping.
func plantable(pw string) bool {
	if len(pw) < 6 {
		return false
	}
	for _, c := range pw {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// FuzzRedact plants a password in every shape a URL (or a mistyped one)
// can carry it and checks that neither Redact, RedactText nor Resolve's
// error ever shows it; arbitrary input never panics them.
func FuzzRedact(f *testing.F) {
	f.Add("redis", "u", "S3cretPw", "127.0.0.1:6379", "/0", "password", uint8(0))
	f.Add("postgres", "postgres", "S3cretPw", "h:5432", "/db", "sslpassword", uint8(1))
	f.Add("amqp", "guest", "S3cretPw", "h:5672", "/vhost", "x", uint8(2))
	f.Add("redis", "", "S3cretPw", "host", "/0", "token", uint8(3))
	f.Add("postgres", "u", "S3cretPw", "h", "/d", "password", uint8(4))
	f.Add("amqp", "u@x", "S3cretPw", "h@i", "/v@w", "secret", uint8(5))
	f.Add("", "", "S3cretPw", "", "", "", uint8(6))
	f.Fuzz(func(t *testing.T, scheme, user, pw, host, path, param string, form uint8) {
		// Arbitrary input: no panic.
		_ = Redact(scheme + user + pw + host + path + param)
		_ = RedactText(scheme + " " + user + pw + host + path + param)
		r := NewRegistry(Backend{Name: "redis", Schemes: []string{"redis", "rediss"}, Open: func(context.Context, Config) (Queue, error) { return nil, nil }})
		_, _ = r.Resolve(scheme + user + pw + host + path)

		if !plantable(pw) || strings.Contains(scheme+user+host+path+param, pw) {
			return
		}
		var raw string
		switch form % 7 {
		case 0: // userinfo of a well-formed URL
			raw = (&url.URL{Scheme: "redis", User: url.UserPassword(user, pw), Host: host, Path: path}).String()
		case 1: // a secret query parameter
			if !secretParam(param) {
				return
			}
			raw = (&url.URL{Scheme: "postgres", Host: host, Path: path, RawQuery: url.Values{param: {pw}}.Encode()}).String()
		case 2: // no scheme separator: "amqp//user:pw@host/path"
			raw = scheme + "//" + url.PathEscape(user) + ":" + pw + "@" + host + path
		case 3: // one slash: "redis:/user:pw@host/path"
			raw = scheme + ":/" + url.PathEscape(user) + ":" + pw + "@" + host + path
		case 4: // a key=value DSN
			raw = "host=" + url.PathEscape(host) + " user=" + url.PathEscape(user) + " password=" + pw + " dbname=x"
		case 5: // a quoted DSN value
			raw = "host=h password='" + pw + " x' dbname=d"
		case 6: // the userinfo of a URL whose other parts do not parse
			raw = scheme + "://" + url.PathEscape(user) + ":" + pw + "@" + host + path
		}
		if strings.ContainsAny(raw, " \t\n") && form%7 < 4 {
			return
		}
		if got := Redact(raw); strings.Contains(got, pw) {
			t.Fatalf("Redact(%q) = %q shows the password", raw, got)
		}
		if got := RedactText("open " + raw + ": refused"); strings.Contains(got, pw) {
			t.Fatalf("RedactText(%q) = %q shows the password", raw, got)
		}
		if _, err := r.Resolve(raw); err != nil && strings.Contains(err.Error(), pw) {
			t.Fatalf("Resolve(%q): %v shows the password", raw, err)
		}
	})
}
