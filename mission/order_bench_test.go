package mission

import (
	"strings"
	"testing"
	"time"
)

func benchOrder() Order {
	return Order{ID: "b0000000001", Type: Raven, Hero: "gandalf", FailRate: 0, MaxAttempts: DefaultMaxAttempts,
		Speed: MaxSpeed, Seed: 42, CreatedAt: time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)}
}

// TestPadKeepsOrdersDecodable: bench pads orders to a chosen size; the pad
// travels, decodes, and is left out of the wire form when empty.
func TestPadKeepsOrdersDecodable(t *testing.T) {
	o := benchOrder()
	plain, err := o.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(plain), `"pad"`) {
		t.Errorf("an order without pad encodes %s, want no pad field", plain)
	}
	o.Pad = strings.Repeat("x", 200)
	body, err := o.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(body), len(plain)+len(`,"pad":""`)+200; got != want {
		t.Errorf("padded order is %d bytes, want %d", got, want)
	}
	got, err := Decode(body)
	if err != nil {
		t.Fatalf("Decode(padded): %v", err)
	}
	if got != o {
		t.Errorf("Decode(padded) = %+v, want %+v", got, o)
	}
}

// BenchmarkOrderEncode and BenchmarkOrderDecode measure the envelope at
// bench's default 256-byte payload.
//
//	go test -run '^$' -bench Order -benchmem ./mission/
func BenchmarkOrderEncode(b *testing.B) {
	o := benchOrder()
	plain, _ := o.Encode()
	o.Pad = strings.Repeat("x", max(0, 256-len(plain)-len(`,"pad":""`)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOrderDecode(b *testing.B) {
	o := benchOrder()
	plain, _ := o.Encode()
	o.Pad = strings.Repeat("x", max(0, 256-len(plain)-len(`,"pad":""`)))
	body, _ := o.Encode()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}
