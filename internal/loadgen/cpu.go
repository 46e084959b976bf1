package loadgen

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU is processor time spent by the servers measured and by this generator. Per request, it
// says where the processors go and bounds what a run can reach: with every core busy, one
// kind of request cannot be served faster than the cores pay for it.
type CPU struct {
	Server    time.Duration // sum over the targets; zero when one does not show it
	Generator time.Duration
}

// ReadCPU reads process_cpu_seconds_total from each target's /metrics and this process's own
// CPU time. A target without the metric gives no server figure (Server stays zero).
func ReadCPU(ctx context.Context, client *http.Client, targets []string) CPU {
	var c CPU
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.Generator = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for _, t := range targets {
		s, ok := serverCPU(ctx, client, strings.TrimRight(t, "/")+"/metrics")
		if !ok {
			c.Server = 0
			return c
		}
		c.Server += s
	}
	return c
}

func serverCPU(ctx context.Context, client *http.Client, u string) (time.Duration, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, false
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return time.Duration(f * float64(time.Second)), err == nil
		}
	}
	return 0, false
}

// PerRequest sets r's CPU figures from readings taken before and after its run.
func (r *Result) PerRequest(before, after CPU) {
	if r.Requests == 0 {
		return
	}
	if before.Server > 0 && after.Server > 0 {
		r.ServerCPU = (after.Server - before.Server) / time.Duration(r.Requests)
	}
	r.GeneratorCPU = (after.Generator - before.Generator) / time.Duration(r.Requests)
}
