// Package ratelimit holds the token buckets that protect the chat API from floods: one bucket
// per client address and one per bot. Buckets live in memory, sharded so that concurrent
// requests rarely share a lock, and idle buckets are dropped so that a stream of new
// addresses cannot grow memory without bound. Nodes that serve one role together share their
// buckets in a Store (see Shared).
package ratelimit

import (
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// Limiter decides whether one more request of a key may go now. When it may not, it says how
// long to wait (the Retry-After of a 429).
type Limiter interface {
	Allow(key string, now time.Time) (ok bool, retryAfter time.Duration)
}

// Buckets is an in-memory Limiter.
type Buckets struct {
	rate    float64 // tokens per second
	burst   float64
	maxKeys int // per shard
	seed    maphash.Seed
	shards  [64]shard
}

type shard struct {
	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns buckets of rate requests per second with bursts up to burst. A rate of 0 means
// no limit: Allow always says yes.
func New(rate float64, burst int) *Buckets {
	return &Buckets{rate: rate, burst: float64(max(burst, 1)), maxKeys: 1 << 14, seed: maphash.MakeSeed()}
}

// Allow implements Limiter.
func (b *Buckets) Allow(key string, now time.Time) (bool, time.Duration) {
	if b == nil || b.rate <= 0 {
		return true, 0
	}
	sh := b.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	bk := b.bucketLocked(sh, key, now)
	if elapsed := now.Sub(bk.last).Seconds(); elapsed > 0 {
		bk.tokens = math.Min(b.burst, bk.tokens+elapsed*b.rate)
		bk.last = now
	}
	if bk.tokens >= 1 {
		bk.tokens--
		return true, 0
	}
	wait := time.Duration((1 - bk.tokens) / b.rate * float64(time.Second))
	return false, max(wait, time.Millisecond)
}

// shard returns the shard of key.
func (b *Buckets) shard(key string) *shard {
	return &b.shards[maphash.String(b.seed, key)%uint64(len(b.shards))]
}

// bucketLocked returns key's bucket in its shard (locked by the caller), a full one for a key
// not seen, making room first when the shard is full.
func (b *Buckets) bucketLocked(sh *shard, key string, now time.Time) *bucket {
	if sh.m == nil {
		sh.m = make(map[string]*bucket)
	}
	bk := sh.m[key]
	if bk == nil {
		if len(sh.m) >= b.maxKeys {
			b.evict(sh, now)
		}
		bk = &bucket{tokens: b.burst, last: now}
		sh.m[key] = bk
	}
	return bk
}

// evict drops the buckets that have refilled completely (they hold no information), and if
// none has, the oldest half: memory stays bounded even under a flood of new addresses.
func (b *Buckets) evict(sh *shard, now time.Time) {
	full := time.Duration(b.burst / b.rate * float64(time.Second))
	for k, bk := range sh.m {
		if now.Sub(bk.last) >= full {
			delete(sh.m, k)
		}
	}
	if len(sh.m) < b.maxKeys {
		return
	}
	var cutoff time.Time
	n := 0
	for _, bk := range sh.m {
		if n == 0 || bk.last.Before(cutoff) {
			cutoff = bk.last
		}
		n++
	}
	// Drop entries older than the midpoint between the oldest and now.
	mid := cutoff.Add(now.Sub(cutoff) / 2)
	for k, bk := range sh.m {
		if !bk.last.After(mid) {
			delete(sh.m, k)
		}
	}
}

// Len returns the number of buckets held, for tests and metrics.
func (b *Buckets) Len() int {
	n := 0
	for i := range b.shards {
		b.shards[i].mu.Lock()
		n += len(b.shards[i].m)
		b.shards[i].mu.Unlock()
	}
	return n
}
