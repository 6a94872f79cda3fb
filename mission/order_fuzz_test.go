package mission

import (
	"errors"
	"testing"
)

// FuzzDecode: no body makes Decode panic; a body it accepts is a valid
// order that re-encodes to a body decoding to the same order.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"id":"m1","type":"raven","hero":"frodo","fail_rate":0.2,"max_attempts":3,"speed":1,"seed":7,"created_at":"2026-12-01T10:00:00Z"}`,
		`{"id":"m2","type":"recon","hero":"gandalf","fail_rate":1,"max_attempts":100,"speed":100000,"seed":18446744073709551615,"created_at":"2026-12-01T10:00:00.123456789+05:30","pad":"xxxx"}`,
		`{"id":"m3","type":"consult","hero":"eowyn","fail_rate":0,"max_attempts":1,"speed":1e-300,"created_at":"0001-01-01T00:00:00Z"}`,
		`{"id":"\u0000","type":"raven","hero":"frodo","max_attempts":1,"speed":1}`,
		`{"id":"m4","type":"raven","hero":"frodo","max_attempts":1,"speed":1,"id":"dup"}`,
		`{"id":"m5","type":"fellowship","hero":"frodo","max_attempts":1,"speed":1}`,
		`{"id":"m6","type":"raven","hero":"sauron","max_attempts":1,"speed":1}`,
		`{"id":"\xff\xfe","type":"raven","hero":"frodo","max_attempts":1,"speed":1}`,
		`{"id":"m7","type":"raven","hero":"frodo","max_attempts":1,"speed":1,"created_at":"9999-12-31T23:59:59-23:59"}`,
		`[]`, `null`, `{}`, `{"id":1}`, `not json`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := Decode(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("Decode accepted an order that does not validate: %v", err)
		}
		again, err := o.Encode()
		if err != nil {
			t.Fatalf("a decoded order does not encode: %v (%+v)", err, o)
		}
		o2, err := Decode(again)
		if err != nil {
			t.Fatalf("a re-encoded order does not decode: %v\nbody %s", err, again)
		}
		if !o2.CreatedAt.Equal(o.CreatedAt) {
			t.Fatalf("created_at %v became %v", o.CreatedAt, o2.CreatedAt)
		}
		o.CreatedAt = o2.CreatedAt
		if o2 != o {
			t.Fatalf("round trip changed the order:\n got %+v\nwant %+v", o2, o)
		}
	})
}
