package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// A server's CPU comes from its /metrics; a target without the metric gives no server figure
// rather than a wrong one.
func TestReadCPU(t *testing.T) {
	var millis atomic.Int64 // the server goroutine reads what the test sets
	millis.Store(1500)
	withMetric := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# HELP process_cpu_seconds_total x\nprocess_cpu_seconds_total %g\ngo_goroutines 7\n", float64(millis.Load())/1000)
	}))
	defer withMetric.Close()
	without := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "go_goroutines 7")
	}))
	defer without.Close()
	ctx, c := context.Background(), withMetric.Client()

	before := ReadCPU(ctx, c, []string{withMetric.URL, withMetric.URL + "/"})
	if before.Server != 3*time.Second {
		t.Fatalf("server CPU of two targets = %v, want 3s", before.Server)
	}
	if before.Generator <= 0 {
		t.Fatalf("generator CPU = %v, want the process's own", before.Generator)
	}
	if got := ReadCPU(ctx, c, []string{withMetric.URL, without.URL}); got.Server != 0 {
		t.Fatalf("server CPU with one target lacking the metric = %v, want 0", got.Server)
	}

	millis.Store(2500)
	after := ReadCPU(ctx, c, []string{withMetric.URL, withMetric.URL})
	r := Result{Requests: 1000}
	r.PerRequest(before, after)
	if r.ServerCPU != 2*time.Millisecond {
		t.Fatalf("server CPU per request = %v, want 2ms (2s over 1000 requests)", r.ServerCPU)
	}
	var none Result
	none.PerRequest(before, after)
	if none.ServerCPU != 0 || none.GeneratorCPU != 0 {
		t.Fatalf("a run without requests has CPU figures: %+v", none)
	}
}
