package postgres

import (
	"context"
	"database/sql"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/ratelimit"
)

// buckets is the ratelimit.Store of the nodes sharing a database: one row per bucket, taken
// from in one statement, so concurrent requests on several nodes never take the same token.
type buckets struct {
	db        *sql.DB
	lastSweep atomic.Int64 // ms: when full buckets were last deleted
}

// refilled is a bucket's tokens refilled to $2 (ms) at $4 per second, up to $3 ({r} below).
const refilled = "LEAST($3::float8, b.tokens + GREATEST($2::bigint - b.at, 0) * $4::float8 / 1000)"

// takeQuery creates a full bucket less one token, or refills the bucket and takes a token if
// there is one; it records when the bucket will be full again.
var takeQuery = strings.NewReplacer("{r}", refilled).Replace(`INSERT INTO rate_buckets AS b (key, tokens, at, granted, full_at)
VALUES ($1, $3::float8 - 1, $2::bigint, true, $2::bigint + CEIL(1000 / $4::float8)::bigint)
ON CONFLICT (key) DO UPDATE SET
  tokens = CASE WHEN {r} >= 1 THEN {r} - 1 ELSE {r} END,
  granted = {r} >= 1,
  at = GREATEST(b.at, $2::bigint),
  full_at = GREATEST(b.at, $2::bigint) + CEIL(($3::float8 - CASE WHEN {r} >= 1 THEN {r} - 1 ELSE {r} END) * 1000 / $4::float8)::bigint
RETURNING granted, tokens`)

// sweepEvery is how often a node deletes the buckets that are full again.
const sweepEvery = time.Minute

// Take implements ratelimit.Store.
func (b *buckets) Take(ctx context.Context, key string, rate, burst float64, now time.Time) (bool, float64, error) {
	ms := bascule.Millis(now)
	if last := b.lastSweep.Load(); ms-last > sweepEvery.Milliseconds() && b.lastSweep.CompareAndSwap(last, ms) {
		go b.db.Exec("DELETE FROM rate_buckets WHERE full_at < $1", ms) // best effort: the next sweep tries again
	}
	var ok bool
	var tokens float64
	err := b.db.QueryRowContext(ctx, takeQuery, key, ms, burst, rate).Scan(&ok, &tokens)
	return ok, tokens, err
}

// Limiter returns a rate limit of rate requests per second and bursts up to burst that all
// the nodes sharing the database enforce together; name separates it from the other limits.
func (s *Store) Limiter(name string, rate float64, burst int) ratelimit.Limiter {
	return ratelimit.NewShared(s.limits, name, rate, burst)
}
