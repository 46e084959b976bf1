package outbound

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bascule/bascule/internal/clock"
)

// DefaultPollInterval is how often Watch looks at options.env when given no interval.
const DefaultPollInterval = time.Second

// Watcher holds the active proxy settings of one options.env and replaces them when the file
// changes (Watch) or when the server is told to (Reload, on SIGHUP): dydu needed a reboot for
// a new proxy, Bascule does not. A new file with any problem is refused as a whole and the
// previous settings stay active, so a typo never cuts a running server off its web services.
type Watcher struct {
	path   string
	log    *slog.Logger
	active atomic.Pointer[generation]

	mu        sync.Mutex // serialises loads, guards what follows
	seen      fileState  // the file as the last load saw it
	loadedAt  time.Time
	lastErr   error
	lastErrAt time.Time
}

// generation is one set of active settings; transports compare numbers to notice a change.
type generation struct {
	settings *ProxySettings
	n        uint64
}

// fileState tells whether the file changed without reading it: a rename over it (what editors
// and configuration tools do) changes the inode, an edit in place the size or the time.
type fileState struct {
	info os.FileInfo // nil: no file
}

func (a fileState) same(b fileState) bool {
	if a.info == nil || b.info == nil {
		return a.info == nil && b.info == nil
	}
	return os.SameFile(a.info, b.info) && a.info.Size() == b.info.Size() && a.info.ModTime().Equal(b.info.ModTime())
}

func stat(path string) fileState {
	info, err := os.Stat(path)
	if err != nil {
		return fileState{}
	}
	return fileState{info: info}
}

// Status is what the server status API shows about the proxy settings.
type Status struct {
	Path     string         `json:"path"`
	Settings *ProxySettings `json:"settings"` // the active settings, passwords masked
	LoadedAt time.Time      `json:"loadedAt"` // when the file was last read without a problem
	// LastError is why the last file read was refused ("" once a good file is read again);
	// its lines are those of a *ParseError.
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
}

// Load reads the options file at path once, at start. A missing file means "no proxy"; a file
// with problems is an error listing them all (a *ParseError), and the server should not start
// with it. logger may be nil for slog.Default().
func Load(path string, logger *slog.Logger) (*Watcher, error) {
	if logger == nil {
		logger = slog.Default()
	}
	w := &Watcher{path: path, log: logger}
	st := stat(path)
	s, err := ReadOptions(path)
	if err != nil {
		return nil, err
	}
	w.active.Store(&generation{settings: s, n: 1})
	w.seen, w.loadedAt = st, time.Now()
	return w, nil
}

// ReadOptions reads and checks the options file at path once, as Load and Reload do: a
// missing file is the zero settings (no proxy); a file with problems is a *ParseError.
func ReadOptions(path string) (*ProxySettings, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &ProxySettings{NonProxyHosts: slices.Clone(DefaultNonProxyHosts)}, nil // as an empty file
	}
	if err != nil {
		return nil, err
	}
	return ParseOptions(path, bytes.NewReader(data))
}

// Settings returns the active settings. They are never modified: a reload replaces them.
func (w *Watcher) Settings() *ProxySettings { return w.active.Load().settings }

func (w *Watcher) current() *generation { return w.active.Load() }

// Path returns the options file the watcher reads.
func (w *Watcher) Path() string { return w.path }

// Reload reads the file again now; the server calls it on SIGHUP. A file with problems is
// refused (logged, kept in Status, returned) and the previous settings stay active.
func (w *Watcher) Reload() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = stat(w.path)
	s, err := ReadOptions(w.path)
	if err != nil {
		w.lastErr, w.lastErrAt = err, time.Now()
		w.log.Error("options.env refused; the previous proxy settings stay active", "path", w.path, "err", err)
		return err
	}
	w.lastErr, w.lastErrAt, w.loadedAt = nil, time.Time{}, time.Now()
	cur := w.active.Load()
	if cur.settings.Equal(s) {
		w.log.Info("options.env read; proxy settings unchanged", "path", w.path)
		return nil
	}
	w.active.Store(&generation{settings: s, n: cur.n + 1})
	w.log.Info("options.env read; new proxy settings active", "path", w.path, "settings", s.String())
	return nil
}

// Watch reloads the file whenever it changes, until ctx is done; it polls every interval
// (DefaultPollInterval when 0), which costs one stat and needs nothing from the platform.
func (w *Watcher) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	clock.Every(ctx, interval, func() {
		w.mu.Lock()
		changed := !w.seen.same(stat(w.path))
		w.mu.Unlock()
		if changed {
			_ = w.Reload() // logged and kept in Status; the previous settings stay
		}
	})
}

// Status returns the active settings (masked), when they were read, and the last refusal.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := Status{Path: w.path, Settings: w.Settings().Masked(), LoadedAt: w.loadedAt, LastErrorAt: w.lastErrAt}
	if w.lastErr != nil {
		st.LastError = w.lastErr.Error()
	}
	return st
}
