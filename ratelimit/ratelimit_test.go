package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	b := New(2, 3) // 2/s, bursts of 3
	now := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := b.Allow("a", now); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := b.Allow("a", now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th request: ok=%v wait=%v, want refused for 500ms", ok, wait)
	}
	if ok, _ := b.Allow("b", now); !ok {
		t.Fatal("another key must have its own bucket")
	}
	if ok, _ := b.Allow("a", now.Add(500*time.Millisecond)); !ok {
		t.Fatal("a token must be back after 1/rate")
	}
	if ok, _ := New(0, 0).Allow("a", now); !ok {
		t.Fatal("rate 0 means no limit")
	}
}

func TestMemoryStaysBounded(t *testing.T) {
	b := New(1, 1)
	b.maxKeys = 100
	now := time.Unix(1000, 0)
	for i := range 100_000 {
		b.Allow(fmt.Sprint("client", i), now.Add(time.Duration(i)*time.Microsecond))
	}
	if n := b.Len(); n > 64*100 {
		t.Fatalf("%d buckets held, want at most %d", n, 64*100)
	}
}

func BenchmarkAllow(b *testing.B) {
	l := New(1e9, 1e9)
	now := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(fmt.Sprint(i%1000), now)
			i++
		}
	})
}
