package outbound

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bascule/bascule/internal/testenv"
)

// syncBuffer collects log output written from the watcher's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLoadMissingFileMeansNoProxy(t *testing.T) {
	w, err := Load(filepath.Join(t.TempDir(), "options.env"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := w.Settings(); s.HTTP != nil || s.HTTPS != nil {
		t.Errorf("settings = %s", s)
	}
	if st := w.Status(); st.LastError != "" || st.LoadedAt.IsZero() {
		t.Errorf("status = %+v", st)
	}
}

func TestLoadRefusesABadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "options.env")
	testenv.ReplaceFile(t, path, "http.proxyHost=*\n")
	w, err := Load(path, nil)
	var pe *ParseError
	if w != nil || !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), path+":1: http.proxyHost: ") {
		t.Fatalf("Load = %v, %v", w, err)
	}
}

func TestReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "options.env")
	testenv.ReplaceFile(t, path, "http.proxyHost=first\nhttp.proxyUser=u\nhttp.proxyPassword=secret\n")
	var logs syncBuffer
	w, err := Load(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	gen := w.current().n

	// A good file replaces the settings.
	testenv.ReplaceFile(t, path, "http.proxyHost=second\nhttp.proxyUser=u\nhttp.proxyPassword=secret\n")
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := w.Settings().HTTP.Host; got != "second" {
		t.Fatalf("after reload, proxy %q", got)
	}
	if w.current().n == gen {
		t.Error("the generation did not change, transports would keep old connections")
	}

	// A bad file is refused as a whole; the previous settings stay.
	testenv.ReplaceFile(t, path, "http.proxyHost=third\nhttp.proxyPort=99999\n")
	err = w.Reload()
	if err == nil || err.Error() != path+`:2: http.proxyPort: "99999" is not a port: use a number from 1 to 65535` {
		t.Fatalf("bad reload: %v", err)
	}
	if got := w.Settings().HTTP.Host; got != "second" {
		t.Fatalf("after a refused reload, proxy %q", got)
	}
	st := w.Status()
	if st.LastError != err.Error() || st.LastErrorAt.IsZero() || st.Path != path {
		t.Errorf("status = %+v", st)
	}
	if st.Settings.HTTP.Password != "****" || w.Settings().HTTP.Password != "secret" {
		t.Errorf("status shows password %q", st.Settings.HTTP.Password)
	}
	if !strings.Contains(logs.String(), "options.env refused; the previous proxy settings stay active") {
		t.Errorf("refusal not logged:\n%s", logs.String())
	}

	// Same settings (a comment added): nothing to change, and the refusal is forgotten.
	gen = w.current().n
	testenv.ReplaceFile(t, path, "# edited\nhttp.proxyHost=second\nhttp.proxyUser=u\nhttp.proxyPassword=secret\n")
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if w.current().n != gen || w.Status().LastError != "" {
		t.Errorf("unchanged settings: generation %d -> %d, status %+v", gen, w.current().n, w.Status())
	}
	if strings.Contains(logs.String(), "secret") {
		t.Errorf("a password reached the log:\n%s", logs.String())
	}
}

func TestWatchFollowsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "options.env")
	var logs syncBuffer
	w, err := Load(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { w.Watch(ctx, 10*time.Millisecond); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	waitFor := func(what string, ok func(*ProxySettings) bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(w.Settings()); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: settings still %s\n%s", what, w.Settings(), logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	testenv.ReplaceFile(t, path, "https.proxyHost=created\n")
	waitFor("file created", func(s *ProxySettings) bool { return s.HTTPS != nil && s.HTTPS.Host == "created" })

	// An edit in place, same size: the modification time tells.
	time.Sleep(20 * time.Millisecond)
	if err := os.WriteFile(path, []byte("https.proxyHost=modifie\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("file edited in place", func(s *ProxySettings) bool { return s.HTTPS != nil && s.HTTPS.Host == "modifie" })

	// A bad file is refused once (not every poll) and the settings stay.
	testenv.ReplaceFile(t, path, "https.proxyHost=bad host\n")
	for deadline := time.Now().Add(5 * time.Second); w.Status().LastError == ""; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bad file not noticed")
		}
	}
	time.Sleep(100 * time.Millisecond) // ten polls
	if n := strings.Count(logs.String(), "options.env refused"); n != 1 {
		t.Errorf("refusal logged %d times", n)
	}
	if w.Settings().HTTPS.Host != "modifie" {
		t.Errorf("settings after a refused file: %s", w.Settings())
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor("file removed", func(s *ProxySettings) bool { return s.HTTPS == nil })
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("HOME", "/home/bot")
	if p, err := DefaultPath(); err != nil || p != "/home/bot/.bascule/options.env" {
		t.Errorf("DefaultPath = %q, %v", p, err)
	}
}
