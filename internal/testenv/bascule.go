package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// BasculeBinary builds cmd/bascule once per test process and returns its path. Tests that
// need a real server (failover, kill -9, replication) run it as a separate process.
func BasculeBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		dir, err := os.MkdirTemp("", "bascule-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "bascule")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/bascule")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/bascule: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Bascule is a bascule server process started by a test. Its data directory and
// configuration survive Stop, Kill and Start, as a real server's would.
type Bascule struct {
	Name    string // for messages: "main", "backup"...
	Addr    string // host:port it listens on
	URL     string // http://Addr (or https:// when the configuration serves TLS)
	DataDir string
	Config  string // path of its bascule.yml
	Home    string // its HOME: ~/.bascule/options.env is Home/.bascule/options.env

	t    testing.TB
	bin  string
	dir  string
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *syncBuffer
	runs int
}

// BasculeOptions describe a server to start.
type BasculeOptions struct {
	Name string
	// Config is the YAML configuration. The server listens on Addr and keeps its data in a
	// directory of the test, whatever it says ("{{data}}" is replaced by that directory).
	Config string
	// Addr is the address to listen on (default: a free 127.0.0.1 port).
	Addr string
	// TLS makes URL https:// (the configuration must set server.tls).
	TLS bool
}

// StartBascule starts a server and waits until it answers /healthz.
func StartBascule(t testing.TB, o BasculeOptions) *Bascule {
	t.Helper()
	if o.Name == "" {
		o.Name = "bascule"
	}
	if o.Addr == "" {
		o.Addr = FreeAddr(t)
	}
	b := &Bascule{Name: o.Name, Addr: o.Addr, URL: "http://" + o.Addr, t: t, bin: BasculeBinary(t), dir: t.TempDir(), logs: &syncBuffer{}}
	if o.TLS {
		b.URL = "https://" + o.Addr
	}
	b.DataDir, b.Home = filepath.Join(b.dir, "data"), b.dir
	cfg := strings.ReplaceAll(o.Config, "{{data}}", b.DataDir)
	b.Config = filepath.Join(b.dir, "bascule.yml")
	if err := os.WriteFile(b.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	b.args = []string{"serve", "-config", b.Config, "-listen", b.Addr, "-data", b.DataDir}
	b.Start()
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("%s logs:\n%s", b.Name, b.Logs())
		}
	})
	return b
}

// Start (re)starts the process on the same address, configuration and data, and waits until
// it answers /healthz.
func (b *Bascule) Start() {
	b.t.Helper()
	b.mu.Lock()
	if b.cmd != nil {
		b.mu.Unlock()
		b.t.Fatalf("%s is already running", b.Name)
	}
	b.runs++
	fmt.Fprintf(b.logs, "--- start %d ---\n", b.runs)
	cmd := exec.Command(b.bin, b.args...)
	cmd.Stdout, cmd.Stderr = b.logs, b.logs
	cmd.Env = append(os.Environ(), "HOME="+b.dir) // ~/.bascule/options.env is the test's own
	if err := cmd.Start(); err != nil {
		b.mu.Unlock()
		b.t.Fatalf("start %s: %v", b.Name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	b.WaitHealthy(20 * time.Second)
}

// WaitHealthy waits until /healthz answers 200.
func (b *Bascule) WaitHealthy(timeout time.Duration) {
	b.t.Helper()
	client := InsecureClient(time.Second)
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(b.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		b.mu.Lock()
		done := b.done
		b.mu.Unlock()
		select {
		case <-done:
			b.t.Fatalf("%s exited while starting:\n%s", b.Name, b.Logs())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s does not answer /healthz after %v:\n%s", b.Name, timeout, b.Logs())
		}
	}
}

// Stop ends the process gracefully (SIGTERM) and waits for it.
func (b *Bascule) Stop() { b.signal(syscall.SIGTERM) }

// Kill ends the process at once (SIGKILL, as a crash or kill -9 would) and waits for it.
func (b *Bascule) Kill() { b.signal(syscall.SIGKILL) }

// Hangup sends SIGHUP, on which a server reloads its options.env, and does not wait.
func (b *Bascule) Hangup() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		b.t.Fatalf("%s is not running", b.Name)
	}
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		b.t.Fatalf("SIGHUP %s: %v", b.Name, err)
	}
}

// Running reports whether the process runs.
func (b *Bascule) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cmd != nil
}

func (b *Bascule) signal(sig syscall.Signal) {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd, b.done = nil, nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	fmt.Fprintf(b.logs, "--- stopped (%v) ---\n", sig)
}

// Logs returns everything the process wrote, over all its runs.
func (b *Bascule) Logs() string { return b.logs.String() }

// syncBuffer is a bytes.Buffer safe for the process's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// Admin calls the server's admin API with token, sending in as JSON (when not nil) and
// decoding the answer into out (when not nil); an answer that is not 2xx fails the test.
func (b *Bascule) Admin(t testing.TB, token, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.URL+"/api/admin/v1/"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := InsecureClient(30 * time.Second).Do(req)
	if err != nil {
		t.Fatalf("admin %s %s on %s: %v", method, path, b.Name, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("admin %s %s on %s: %d %s", method, path, b.Name, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("admin %s %s on %s: %v: %s", method, path, b.Name, err, raw)
		}
	}
}
