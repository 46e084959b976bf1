package dump

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bascule/bascule/internal/sqlstore"
)

// Schedule takes a dump every Every while a server runs, ships it to the target and applies
// retention. A failure is logged and shown in State and Check, and retried sooner; it never
// stops the server from serving.
type Schedule struct {
	Store *sqlstore.Store
	// Target opens the target for one dump (an SFTP connection lives for one dump only).
	Target func(ctx context.Context) (Target, error)
	// Where describes the target for the status (no secret).
	Where string
	Every time.Duration
	Keep  int
	Role  func() string
	Log   *slog.Logger

	mu    sync.Mutex
	state State
}

// retryAfter bounds the wait after a failed dump: a target down for a moment must not cost
// a day of dumps.
const retryAfter = 10 * time.Minute

// State is what the status API and the metrics show of the schedule.
type State struct {
	Target      string     `json:"target"`
	Every       string     `json:"every"`
	Keep        int        `json:"keep"`
	Running     bool       `json:"running"`
	Next        time.Time  `json:"next"`
	LastSuccess *Success   `json:"lastSuccess,omitempty"`
	LastError   string     `json:"lastError,omitempty"`
	LastErrorAt *time.Time `json:"lastErrorAt,omitempty"`
	Succeeded   int64      `json:"succeeded"` // dumps written since the server started
	Failed      int64      `json:"failed"`
}

// Success describes the last dump written.
type Success struct {
	Name     string    `json:"name"`
	At       time.Time `json:"at"`
	Bytes    int64     `json:"bytes"`
	Duration float64   `json:"seconds"`
	Rows     int64     `json:"rows"`
	Feed     int64     `json:"feed"`
	SHA256   string    `json:"sha256"`
}

// Start runs the schedule until ctx ends or stop is called; stop returns once a dump in
// progress was abandoned, so that the store can be closed after it.
func (s *Schedule) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.mu.Lock()
	s.state.Target, s.state.Every, s.state.Keep = s.Where, s.Every.String(), s.Keep
	s.mu.Unlock()
	go func() {
		defer close(done)
		s.run(ctx)
	}()
	return func() { cancel(); <-done }
}

func (s *Schedule) run(ctx context.Context) {
	next := s.first(ctx)
	for {
		s.mu.Lock()
		s.state.Next = next
		s.mu.Unlock()
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if s.once(ctx) {
			next = time.Now().Add(s.Every)
		} else {
			next = time.Now().Add(min(s.Every, retryAfter))
		}
	}
}

// first is when the first dump is due: Every after the newest dump of this server on the
// target, so that restarting a server neither skips nor repeats dumps; now when there is none
// or the target cannot say.
func (s *Schedule) first(ctx context.Context) time.Time {
	now := time.Now()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	t, err := s.Target(ctx)
	if err != nil {
		return now
	}
	defer t.Close()
	names, err := Dumps(ctx, t, s.Store.ServerID())
	if err != nil || len(names) == 0 {
		return now
	}
	_, at, _ := ParseFileName(names[len(names)-1])
	if due := at.Add(s.Every); due.After(now) {
		return due
	}
	return now
}

// once takes one dump and records the outcome; it reports success.
func (s *Schedule) once(ctx context.Context) bool {
	s.mu.Lock()
	s.state.Running = true
	s.mu.Unlock()
	// A dump never takes longer than the period it belongs to (at least 10 minutes): a hung
	// connection must not block the next ones.
	dctx, cancel := context.WithTimeout(ctx, max(s.Every, 10*time.Minute))
	defer cancel()
	res, err := s.dump(dctx)
	if ctx.Err() != nil {
		return false // the server is stopping: not a failure of the dumps
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Running = false
	now := time.Now().UTC()
	if res != nil {
		var rows int64
		for _, tc := range res.Manifest.Tables {
			rows += tc.Rows
		}
		s.state.Succeeded++
		s.state.LastSuccess = &Success{Name: res.Name, At: res.Manifest.CreatedAt, Bytes: res.Size, Duration: res.Duration.Seconds(),
			Rows: rows, Feed: res.Manifest.Feed, SHA256: res.Manifest.SHA256}
		s.Log.Info("dump written", "target", s.Where, "name", res.Name, "bytes", res.Size, "rows", rows, "duration", res.Duration.Round(time.Millisecond),
			"removed", len(res.Removed))
	}
	if err != nil {
		s.state.Failed++
		s.state.LastError, s.state.LastErrorAt = err.Error(), &now
		s.Log.Error("dump failed; the server goes on serving", "target", s.Where, "err", err, "retry", min(s.Every, retryAfter))
		return false
	}
	return true
}

func (s *Schedule) dump(ctx context.Context) (*Result, error) {
	t, err := s.Target(ctx)
	if err != nil {
		return nil, fmt.Errorf("dump to %s: %w", s.Where, err)
	}
	defer t.Close()
	role := ""
	if s.Role != nil {
		role = s.Role()
	}
	return Dump(ctx, s.Store, t, Options{Role: role, Keep: s.Keep})
}

// State returns the schedule's state.
func (s *Schedule) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Check reports the last dump's failure, for the status API's list of applications (a
// warning: a failed dump does not stop the server from serving).
func (s *Schedule) Check(context.Context) error {
	st := s.State()
	if st.LastError == "" || (st.LastSuccess != nil && st.LastSuccess.At.After(*st.LastErrorAt)) {
		return nil
	}
	return errors.New("last dump failed: " + st.LastError)
}
