package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"
)

// memStore is a Store in memory that counts its calls and can fail.
type memStore struct {
	b     *Buckets
	calls int
	fail  bool
}

func (m *memStore) Take(_ context.Context, key string, _, _ float64, now time.Time) (bool, float64, error) {
	m.calls++
	if m.fail {
		return false, 0, errors.New("database down")
	}
	ok, _ := m.b.Allow(key, now)
	tokens, _ := m.b.peek(key, now)
	return ok, tokens, nil
}

func TestShared(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		name     string
		requests int  // on each of two nodes, at the same instant
		fail     bool // the store is down
		allowed  int  // in all
		maxCalls int  // calls that reached the store
		wantWait time.Duration
	}{
		// Burst 3 for both nodes together, not 3 each; once a node learns the bucket is
		// empty it refuses without asking the store again.
		{name: "one budget for two nodes", requests: 5, allowed: 3, maxCalls: 4, wantWait: 500 * time.Millisecond},
		// The store down: each node limits alone, as a single server would.
		{name: "store down", requests: 5, fail: true, allowed: 6, maxCalls: 10, wantWait: 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &memStore{b: New(2, 3), fail: tc.fail}
			nodes := []*Shared{NewShared(st, "client", 2, 3), NewShared(st, "client", 2, 3)}
			allowed := 0
			var wait time.Duration
			for range tc.requests {
				for _, n := range nodes {
					ok, w := n.Allow("a", now)
					if ok {
						allowed++
					} else {
						wait = w
					}
				}
			}
			if allowed != tc.allowed || st.calls > tc.maxCalls || wait != tc.wantWait {
				t.Fatalf("allowed %d (want %d), store calls %d (at most %d), wait %v (want %v)",
					allowed, tc.allowed, st.calls, tc.maxCalls, wait, tc.wantWait)
			}
			if ok, _ := nodes[1].Allow("a", now.Add(500*time.Millisecond)); !ok {
				t.Fatal("after 1/rate the bucket must have a token again")
			}
		})
	}
	if ok, _ := NewShared(&memStore{fail: true}, "bot", 0, 0).Allow("x", now); !ok {
		t.Fatal("rate 0 means no limit")
	}
}
