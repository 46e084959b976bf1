package ratelimit

import (
	"context"
	"math"
	"time"
)

// Store holds buckets that several nodes share: nodes of one role behind a load balancer
// must together allow what one server would, not one budget each (postgres implements it).
type Store interface {
	// Take refills the bucket of key to now at rate tokens per second, up to burst, and takes
	// one token when there is one. It returns whether it did and the tokens left.
	Take(ctx context.Context, key string, rate, burst float64, now time.Time) (ok bool, tokens float64, err error)
}

// Shared is a Limiter whose buckets live in a Store. Each node remembers the last state the
// store gave for a key: other nodes can only have taken tokens since, so when that state,
// refilled to now, holds less than one token the answer is no without asking the store. A
// flood from one address is then turned away by the node it hits, at no cost to the store.
// While the store fails, each node limits alone, as one server would.
type Shared struct {
	store   Store
	prefix  string
	rate    float64
	burst   float64
	known   *Buckets // the store's last answer per key
	alone   *Buckets // the node's own buckets, while the store fails
	timeout time.Duration
}

// sharedTimeout bounds a call to the store: a request is not held up by a slow database
// longer than this; it is decided by the node alone instead.
const sharedTimeout = 250 * time.Millisecond

// NewShared returns a Limiter of rate requests per second and bursts up to burst over the
// buckets of store; name separates its keys from other limiters' in the store ("client",
// "bot"). A rate of 0 means no limit.
func NewShared(store Store, name string, rate float64, burst int) *Shared {
	return &Shared{store: store, prefix: name + ":", rate: rate, burst: float64(max(burst, 1)),
		known: New(rate, burst), alone: New(rate, burst), timeout: sharedTimeout}
}

// Allow implements Limiter.
func (s *Shared) Allow(key string, now time.Time) (bool, time.Duration) {
	if s.rate <= 0 {
		return true, 0
	}
	if tokens, ok := s.known.peek(key, now); ok && tokens < 1 {
		return false, s.wait(tokens)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	ok, tokens, err := s.store.Take(ctx, s.prefix+key, s.rate, s.burst, now)
	if err != nil {
		return s.alone.Allow(key, now)
	}
	s.known.remember(key, tokens, now)
	if ok {
		return true, 0
	}
	return false, s.wait(tokens)
}

// wait is how long until a bucket holding tokens has one.
func (s *Shared) wait(tokens float64) time.Duration {
	return max(time.Duration((1-tokens)/s.rate*float64(time.Second)), time.Millisecond)
}

// peek returns the tokens of key's bucket refilled to now, without taking any; ok is false
// when the key has no bucket.
func (b *Buckets) peek(key string, now time.Time) (tokens float64, ok bool) {
	sh := b.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	bk := sh.m[key]
	if bk == nil {
		return 0, false
	}
	return math.Min(b.burst, bk.tokens+max(now.Sub(bk.last).Seconds(), 0)*b.rate), true
}

// remember sets key's bucket to tokens at now.
func (b *Buckets) remember(key string, tokens float64, now time.Time) {
	sh := b.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	bk := b.bucketLocked(sh, key, now)
	bk.tokens, bk.last = tokens, now
}
