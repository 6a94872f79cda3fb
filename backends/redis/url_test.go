package redis

import (
	"errors"
	"strings"
	"testing"

	"github.com/palantir-lab/palantir/backends"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want topology
		err  string // substring of the error; "" for success
	}{
		{name: "default", url: "redis://127.0.0.1:6379/0", want: single},
		{name: "tls with options", url: "rediss://u:secret@h:6380/2?dial_timeout=1s&skip_verify=true", want: single},
		{name: "sentinel", url: "redis://:secret@s1:26379/1?master_name=mymaster&addr=s2:26379", want: sentinel},
		{name: "cluster by addrs", url: "redis://:secret@n1:7000?addr=n2:7000&addr=n3:7000", want: cluster},
		{name: "cluster by flag", url: "redis://n1:7000/0?cluster=true", want: cluster},
		{name: "unknown parameter", url: "redis://:secret@h/0?timeout=3&foo=1", err: "unknown query parameter foo, timeout (known: addr,"},
		{name: "password in the query", url: "redis://h/0?password=secret", err: "unknown query parameter password"},
		{name: "cluster has no databases", url: "redis://:secret@n1:7000/3?addr=n2:7000", err: "only database 0"},
		{name: "sentinel and cluster", url: "redis://h?master_name=m&cluster=1", err: "exclude each other"},
		{name: "bad boolean", url: "redis://h?cluster=maybe", err: "not a boolean"},
		{name: "bad duration", url: "redis://:secret@h?read_timeout=later", err: "read_timeout"},
		{name: "bad database", url: "redis://:secret@h/zero", err: "database"},
		{name: "wrong scheme", url: "http://:secret@h/", err: "scheme"},
		{name: "unparseable", url: "redis://:sec ret@h:port/", err: "does not parse"},
		{name: "skip_verify without TLS", url: "redis://:secret@h/0?skip_verify=true", err: "skip_verify is a TLS parameter: use a rediss:// URL"},
		{name: "CA file without TLS", url: "redis://:secret@h/0?cacertfile=/ca.pem", err: "cacertfile is a TLS parameter"},
		{name: "automatic retries", url: "redis://:secret@h/0?max_retries=5", err: "max_retries: palantir turns go-redis's automatic retries off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := parseURL(tt.url)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("parseURL: %v", err)
				}
				if spec.topology != tt.want {
					t.Errorf("topology %s, want %s", spec.topology, tt.want)
				}
				return
			}
			if !errors.Is(err, backends.ErrBadURL) {
				t.Fatalf("err = %v, want ErrBadURL", err)
			}
			if !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err = %q, want it to contain %q", err, tt.err)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "sec ret") {
				t.Errorf("err = %q shows the password", err)
			}
		})
	}
}

func TestParseURLOptions(t *testing.T) {
	spec, err := parseURL("rediss://u:pw@h:6380/2?skip_verify=true")
	if err != nil {
		t.Fatal(err)
	}
	o := spec.singleOpts
	if o.Addr != "h:6380" || o.DB != 2 || o.Username != "u" || o.Password != "pw" {
		t.Errorf("options %s db %d user %q password %q, want h:6380 2 u pw", o.Addr, o.DB, o.Username, o.Password)
	}
	if o.TLSConfig == nil || !o.TLSConfig.InsecureSkipVerify {
		t.Errorf("TLS config %+v, want InsecureSkipVerify", o.TLSConfig)
	}
	if o.DialTimeout != defaultDialTimeout || !o.ContextTimeoutEnabled || o.MaxRetries != noRetries {
		t.Errorf("dial timeout %v, context timeouts %v, max retries %d; want %v, true, %d",
			o.DialTimeout, o.ContextTimeoutEnabled, o.MaxRetries, defaultDialTimeout, noRetries)
	}

	spec, err = parseURL("redis://:pw@s1:26379/1?master_name=mymaster&addr=s2:26379")
	if err != nil {
		t.Fatal(err)
	}
	f := spec.failoverOpts
	if f.MasterName != "mymaster" || f.Password != "pw" || f.SentinelPassword != "" || f.DB != 1 || len(f.SentinelAddrs) != 2 || f.MaxRetries != noRetries {
		t.Errorf("sentinel options master %q password %q sentinel password %q db %d sentinels %v",
			f.MasterName, f.Password, f.SentinelPassword, f.DB, f.SentinelAddrs)
	}

	spec, err = parseURL("redis://n1:7000?addr=n2:7000")
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.clusterOpts.Addrs; len(got) != 2 || got[0] != "n1:7000" || got[1] != "n2:7000" {
		t.Errorf("cluster addrs %v, want [n1:7000 n2:7000]", got)
	}
	if got := spec.clusterOpts.MaxRetries; got != noRetries {
		t.Errorf("cluster max retries %d, want %d", got, noRetries)
	}
}
