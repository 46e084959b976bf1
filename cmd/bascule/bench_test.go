package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/bascule/bascule/internal/testenv"
)

// bascule bench against a real server: both phases measured and printed with the ratio, and
// a bench that gets no answer says why and fails.
func TestBench(t *testing.T) {
	srv := testenv.StartBascule(t, testenv.BasculeOptions{Name: "benched"})

	code, out, errOut := runCLI(t, "bench", "-target", srv.URL, "-c", "4", "-d", "1s")
	if code != 0 {
		t.Fatalf("bench: exit %d\n%s%s", code, out, errOut)
	}
	for _, phase := range []string{"talk", "healthz"} {
		m := regexp.MustCompile(`(?m)^` + phase + ` +(\d+) req +([\d.]+) req/s +p50 +\S+ +p99 +\S+ +errors (\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %s line in:\n%s", phase, out)
		}
		if n, _ := strconv.Atoi(m[1]); n == 0 || m[3] != "0" {
			t.Errorf("%s: %s requests, %s errors\n%s", phase, m[1], m[3], out)
		}
	}
	m := regexp.MustCompile(`ratio talk/healthz: ([\d.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no ratio in:\n%s", out)
	}
	if r, _ := strconv.ParseFloat(m[1], 64); r <= 0 {
		t.Errorf("ratio %s", m[1])
	}

	code, out, errOut = runCLI(t, "bench", "-target", srv.URL, "-c", "2", "-d", "1s", "-json", "-bot", "00000000-0000-4000-8000-00000000dead")
	if code != 1 || !strings.Contains(errOut, "no question was answered") {
		t.Fatalf("unknown bot: exit %d\n%s%s", code, out, errOut)
	}
	var figures struct {
		Talk struct {
			Requests, Errors int
		}
		Ratio float64
	}
	if err := json.Unmarshal([]byte(out), &figures); err != nil {
		t.Fatalf("-json output %q: %v", out, err)
	}
	if figures.Talk.Requests != 0 || figures.Talk.Errors == 0 || figures.Ratio != 0 {
		t.Errorf("unknown bot: %+v", figures)
	}
}
