package postgres_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/postgres"
)

// Two nodes enforce one budget together: requests of one client spread over both nodes, many
// at once, get the burst once, not once per node, and a token comes back after 1/rate.
func TestRateLimitsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	now := time.Now()
	for _, tc := range []struct {
		name     string
		rate     float64
		burst    int
		requests int // on each node
		allowed  int64
	}{
		{"burst shared", 1, 10, 20, 10},
		{"no limit", 0, 0, 20, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var limits [2]interface {
				Allow(string, time.Time) (bool, time.Duration)
			}
			for i := range limits {
				s, err := postgres.Open(ctx, dsn, postgres.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				limits[i] = s.Limiter("client-"+tc.name, tc.rate, tc.burst)
			}
			var allowed atomic.Int64
			var wg sync.WaitGroup
			for i := range 2 * tc.requests {
				wg.Go(func() {
					if ok, _ := limits[i%2].Allow("203.0.113.7", now); ok {
						allowed.Add(1)
					}
				})
			}
			wg.Wait()
			if allowed.Load() != tc.allowed {
				t.Fatalf("%d requests allowed over two nodes, want %d", allowed.Load(), tc.allowed)
			}
			if ok, _ := limits[1].Allow("203.0.113.7", now.Add(time.Second)); !ok {
				t.Fatal("no token after 1/rate")
			}
			if ok, _ := limits[0].Allow("198.51.100.1", now); !ok {
				t.Fatal("another client shares the bucket")
			}
		})
	}
}
