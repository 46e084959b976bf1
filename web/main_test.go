package web

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// The figures a release note needs (sizes of the chatbox, failover timings) are collected by
// the tests and printed once at the end, so that they come out together and in order. go test
// shows them with -v, or with -bench (go test -bench ChatboxSize -benchtime 1x ./web/).
var (
	reportMu    sync.Mutex
	reportLines []string
)

// report adds a line to the figures printed at the end of the run.
func report(format string, args ...any) {
	reportMu.Lock()
	defer reportMu.Unlock()
	reportLines = append(reportLines, fmt.Sprintf(format, args...))
}

func TestMain(m *testing.M) {
	code := m.Run()
	reportMu.Lock()
	if len(reportLines) > 0 {
		fmt.Println("--- chatbox figures ---")
		for _, l := range reportLines {
			fmt.Println(l)
		}
	}
	reportMu.Unlock()
	os.Exit(code)
}
