// Package sqlstore is the SQL implementation of bascule.Store shared by the sqlite and
// postgres packages. Both engines speak the same portable SQL (upserts with ON CONFLICT,
// RETURNING); the few differences sit in a Dialect. Sharing the code means the two stores
// cannot drift apart: they pass the same conformance suite because they are the same code.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bascule/bascule"
)

// Dialect holds what differs between SQL engines.
type Dialect struct {
	// Name is "sqlite" or "postgres", for messages.
	Name string
	// Positional turns the '?' placeholders of the shared queries into $1, $2... (postgres).
	Positional bool
	// Greatest is the name of the two-argument maximum function (MAX in SQLite, GREATEST in
	// PostgreSQL).
	Greatest string
	// BeforeCommit runs last inside every write transaction; postgres uses it to NOTIFY the
	// other nodes. feed says whether the transaction appended changes; bots lists the bots
	// whose knowledge changed.
	BeforeCommit func(ctx context.Context, tx *sql.Tx, feed bool, bots []string) error
}

// Store is a bascule.Store over database/sql.
type Store struct {
	d        Dialect
	w        *sql.DB // writes: used by the single writer goroutine only
	r        *sql.DB // reads
	serverID string
	now      func() time.Time

	queue      chan *op
	lastBatch  int // size of the writer's last batch; the writer goroutine alone uses it
	stop       chan struct{}
	stopped    chan struct{}
	background sync.WaitGroup
	closeMu    sync.RWMutex
	closed     bool

	sigMu sync.Mutex
	sig   chan struct{}

	kbMu  sync.RWMutex
	kbFns []func(botID string)

	rebound sync.Map // query -> rebound query
	stmts   sync.Map // stmtKey -> *sql.Stmt

	dialogs *dialogCache
	stats   stats

	// seen is the newest feed sequence this process knows of: its own commits move it, and a
	// poll finds commits of other processes (a "bascule kb import" beside a running server).
	seen atomic.Int64
	// durable is the newest feed sequence known to be on disk: with a Sync, the feed is shown
	// (to the peer) only up to it, so a change lost in a power cut was never shipped. Its
	// number will be given again after the restart, and a peer that had applied the lost
	// change would skip the new one.
	durable   atomic.Int64
	sync      func(context.Context) error
	syncQueue chan *settlement
	synced    chan struct{}

	onClose func()
}

// Options tune a Store.
type Options struct {
	// MaxBatch bounds how many writes share one transaction (group commit). Default 256.
	MaxBatch int
	// Now replaces the clock in tests.
	Now func() time.Time
	// DialogCache is how many live dialogs to keep in memory (0: none). Only a store that is
	// the sole writer of its database may cache them.
	DialogCache int
	// Sync, when set, makes committed transactions durable: commits do not wait for the disk,
	// and a writer is answered only after Sync returned (SQLite with synchronous=NORMAL syncs
	// its log there, for many batches at once). Nil: a commit is durable when it returns.
	Sync func(ctx context.Context) error
	// Maintain, when set, runs every second beside the writer (SQLite
	// checkpoints its write-ahead log there, off the path of the answers).
	Maintain func(ctx context.Context) error
	// OnClose, when set, runs after Close has closed the databases (SQLite releases its
	// data directory's lock there).
	OnClose func()
	// Notified says that commits of other processes are announced to the store (postgres:
	// LISTEN/NOTIFY calls NotifyChange and NotifyKnowledge), so the feed counter is not
	// polled. A poll cannot tell which bots changed: every commit of another node would
	// make every node reload every bot.
	Notified bool
}

var _ bascule.Store = (*Store)(nil)

// New wraps open databases whose schema is already migrated. w must allow one connection
// only where the engine has a single writer (SQLite); r may be the same pool as w.
func New(ctx context.Context, d Dialect, w, r *sql.DB, o Options) (*Store, error) {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Store{d: d, w: w, r: r, now: o.Now,
		queue: make(chan *op, o.MaxBatch), stop: make(chan struct{}), stopped: make(chan struct{}),
		sig: make(chan struct{}), dialogs: newDialogCache(o.DialogCache), onClose: o.OnClose,
		sync: o.Sync, syncQueue: make(chan *settlement, 64), synced: make(chan struct{})}
	id, err := s.ensureServerID(ctx)
	if err != nil {
		return nil, err
	}
	s.serverID = id
	last, err := s.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	s.seen.Store(last)
	s.durable.Store(last) // what an earlier run committed was synced before it was answered
	if s.sync != nil {
		go s.syncer()
	} else {
		close(s.synced)
	}
	go s.writer(o.MaxBatch)
	s.background.Add(1)
	go s.housekeeping(time.Second, o.Maintain, !o.Notified)
	return s, nil
}

// housekeeping runs beside the writer: when poll is set it notices writes made to the
// database by another process and tells the callbacks (caches reload all bots, botID "", and
// feed readers wake up), and it runs the engine's maintenance.
func (s *Store) housekeeping(every time.Duration, maintain func(context.Context) error, poll bool) {
	defer s.background.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if maintain != nil {
			_ = maintain(context.Background()) // best effort: the next tick tries again
		}
		if !poll {
			continue
		}
		last, err := s.LastSeq(context.Background())
		if err != nil || last <= s.seen.Load() {
			continue
		}
		s.seen.Store(last)
		// Another process wrote and answered its writers: its changes are on disk.
		s.durable.Store(max(s.durable.Load(), last))
		s.dialogs.clear()
		s.NotifyChange()
		s.NotifyKnowledge("")
	}
}

// ensureServerID reads the server id stored with the database, creating it on first use.
// The id belongs to the database, not the process: nodes sharing one database are one server.
func (s *Store) ensureServerID(ctx context.Context) (string, error) {
	var id string
	err := s.w.QueryRowContext(ctx, s.q("SELECT value FROM meta WHERE key = 'server_id'")).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("read server id: %w", err)
	}
	if _, err := s.w.ExecContext(ctx, s.q("INSERT INTO meta (key, value) VALUES ('server_id', ?) ON CONFLICT (key) DO NOTHING"), bascule.NewID()); err != nil {
		return "", fmt.Errorf("create server id: %w", err)
	}
	err = s.w.QueryRowContext(ctx, s.q("SELECT value FROM meta WHERE key = 'server_id'")).Scan(&id)
	return id, err
}

// ServerID implements bascule.FeedStore.
func (s *Store) ServerID() string { return s.serverID }

// Meta returns a value of the meta table ("" when absent).
func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, s.q("SELECT value FROM meta WHERE key = ?"), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetMeta stores a value in the meta table.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	return s.write(ctx, func(t *Tx) error {
		return t.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
	})
}

// Close stops the writer after the writes already queued, then closes the databases.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	close(s.stop)
	<-s.stopped
	if s.sync != nil {
		close(s.syncQueue) // the writer has settled its last batch: the syncer finishes them
	}
	<-s.synced
	s.background.Wait()
	s.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	if s.onClose != nil {
		s.onClose()
	}
	return err
}

// OnKnowledgeChange implements bascule.KnowledgeStore. An empty bot id means "any bot": the
// change came from elsewhere and its extent is unknown.
func (s *Store) OnKnowledgeChange(fn func(botID string)) {
	s.kbMu.Lock()
	s.kbFns = append(s.kbFns, fn)
	s.kbMu.Unlock()
}

// NotifyKnowledge tells the registered callbacks that a bot's knowledge changed. The store
// calls it after its own commits; postgres calls it for other nodes' commits too.
func (s *Store) NotifyKnowledge(botID string) {
	s.kbMu.RLock()
	fns := s.kbFns
	s.kbMu.RUnlock()
	for _, fn := range fns {
		fn(botID)
	}
}

// ChangeSignal implements bascule.FeedStore.
func (s *Store) ChangeSignal() <-chan struct{} {
	s.sigMu.Lock()
	defer s.sigMu.Unlock()
	return s.sig
}

// NotifyChange wakes whoever waits on ChangeSignal. The store calls it after commits that
// appended to the feed; postgres calls it when another node did.
func (s *Store) NotifyChange() {
	s.sigMu.Lock()
	close(s.sig)
	s.sig = make(chan struct{})
	s.sigMu.Unlock()
}

// q adapts a shared query to the dialect, once per distinct query.
func (s *Store) q(query string) string {
	if !s.d.Positional {
		return query
	}
	if v, ok := s.rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	v := b.String()
	s.rebound.Store(query, v)
	return v
}

type stmtKey struct {
	db    *sql.DB
	query string
}

// prepared returns the statement for query on db, preparing it once. Preparing is the biggest
// cost of a small statement (SQLite parses the SQL each time otherwise); database/sql keeps
// one prepared copy per connection of the pool.
func (s *Store) prepared(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	k := stmtKey{db, query}
	if st, ok := s.stmts.Load(k); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, s.q(query))
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(k, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// stats count the writer's work, for the metrics.
type stats struct {
	batches, writes, batchNanos, commitNanos, syncs, syncNanos atomic.Int64
}

// Stats is what the writer did since the store opened.
type Stats struct {
	Batches int64         // transactions committed by the writer
	Writes  int64         // writes they carried (answers, knowledge edits, applied batches...)
	Busy    time.Duration // time spent running batches, commits included
	Commit  time.Duration // time spent committing (the sync to disk included when commits sync)
	Syncs   int64         // syncs of committed batches (when commits do not sync themselves)
	Sync    time.Duration // time spent in them
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{Batches: s.stats.batches.Load(), Writes: s.stats.writes.Load(),
		Busy: time.Duration(s.stats.batchNanos.Load()), Commit: time.Duration(s.stats.commitNanos.Load()),
		Syncs: s.stats.syncs.Load(), Sync: time.Duration(s.stats.syncNanos.Load())}
}

// Statements lists the queries the store has prepared (its hot paths), as the engine received
// them: tests check their query plans.
func (s *Store) Statements() []string {
	var out []string
	s.stmts.Range(func(k, _ any) bool {
		out = append(out, s.q(k.(stmtKey).query))
		return true
	})
	slices.Sort(out)
	return slices.Compact(out)
}

// queryRow runs a single-row read on the read pool with a prepared statement.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.prepared(ctx, s.r, query)
	if err != nil {
		return s.r.QueryRowContext(ctx, s.q(query), args...) // reports the same error on Scan
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a read on the read pool with a prepared statement.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.prepared(ctx, s.r, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// DB returns the read pool, for the packages that extend a store (dump, conformance checks).
func (s *Store) DB() *sql.DB { return s.r }

// Dialect returns the store's dialect.
func (s *Store) Dialect() Dialect { return s.d }
