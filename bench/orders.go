package bench

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/palantir-lab/palantir/mission"
)

// orders are the missions of one palantir phase, made and encoded before
// the clock starts (as any load generator prepares its messages).
type orders struct {
	prefix string
	list   []mission.Order
	bodies [][]byte
}

// newOrders makes n zero-duration raven missions that never fail, each
// encoded at payload bytes when that is more than the bare order. Their
// ids are a random prefix (unique to this call, so that a shared store
// never sees an id twice) and the index, fixed width.
func newOrders(n, payload int) (*orders, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	os := &orders{prefix: "bench" + hex.EncodeToString(b[:]) + "-", list: make([]mission.Order, n), bodies: make([][]byte, n)}
	now := time.Now().UTC()
	for i := range n {
		o := mission.Order{ID: os.prefix + fmt.Sprintf("%08d", i), Type: mission.Raven, Hero: mission.HeroFor(i),
			FailRate: 0, MaxAttempts: mission.DefaultMaxAttempts, Speed: mission.MaxSpeed, Seed: uint64(i),
			CreatedAt: now}
		o.PadTo(payload)
		body, err := o.Encode()
		if err != nil {
			return nil, err
		}
		os.list[i], os.bodies[i] = o, body
	}
	return os, nil
}

// index is the position of the mission with this id, or -1 for an id
// that is not one of these orders.
func (os *orders) index(id string) int {
	rest, ok := strings.CutPrefix(id, os.prefix)
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || i >= len(os.list) {
		return -1
	}
	return i
}

// size is the encoded size of the first order (they differ by a few bytes
// at most: the time and the hero name).
func (os *orders) size() int { return len(os.bodies[0]) }

// sample is a body the ceiling sends, of the same size as the orders.
func (os *orders) sample() []byte { return os.bodies[0] }
