// Package clock holds the two ways background work waits: a pause that ends early when the
// work is cancelled, and a task repeated at an interval until it is.
package clock

import (
	"context"
	"time"
)

// Sleep pauses for d, or less if ctx ends first; it reports whether the whole pause elapsed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Every calls f every d until ctx ends, the first time one interval after the call. A call
// that overruns delays the next one rather than piling them up.
func Every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ctx.Err() != nil { // both were ready: the end wins
			return
		}
		f()
	}
}
