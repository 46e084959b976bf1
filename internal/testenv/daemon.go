package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// daemon is a program a test started; it is stopped when the test ends, or before by stop.
// The rigs of this package share it.
type daemon struct {
	name   string
	out    string // its standard output and error
	stop   func() // SIGTERM, then SIGKILL if it lingers; once
	exited chan error
}

// startDaemon starts bin in the foreground, its output in dir.
func startDaemon(t testing.TB, dir, bin string, args ...string) *daemon {
	t.Helper()
	d := &daemon{name: filepath.Base(bin), exited: make(chan error, 1)}
	d.out = filepath.Join(dir, d.name+".out")
	out, err := os.Create(d.out)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start %s: %v", d.name, err)
	}
	done := make(chan struct{})
	go func() { d.exited <- cmd.Wait(); out.Close(); close(done) }()
	d.stop = sync.OnceFunc(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	t.Cleanup(d.stop)
	return d
}

// waitUntil polls ready until it holds, failing the test with the daemon's output and log
// when the daemon exits or the time is up.
func (d *daemon) waitUntil(t testing.TB, timeout time.Duration, what, logPath string, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ready() {
		select {
		case err := <-d.exited:
			t.Fatalf("%s exited (%v):\n%s\n%s", d.name, err, readFile(d.out), readFile(logPath))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not %s after %v:\n%s\n%s", d.name, what, timeout, readFile(d.out), readFile(logPath))
		}
	}
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}
