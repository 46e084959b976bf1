package dump

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/sqlstore"
)

// Opener opens a dump for reading. A restore opens it twice: to verify it, then to load it.
type Opener func(ctx context.Context) (io.ReadCloser, error)

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// Force restores over a database that originated changes the dump does not include; they
	// are lost.
	Force bool
}

// Restored says what a restore did.
type Restored struct {
	Manifest *Manifest
	ServerID string // the restored database's server id
	KeptID   bool   // the server id of the database in place was kept (otherwise it is new)
	Feed     int64  // the restored database's feed counter
	Cursors  map[sqlstore.Stream]int64
	Lost     []Lost // changes of the database in place dropped by Force
}

// Database is the database a restore replaces, locked against any other use meanwhile
// (sqlite.Replacement for SQLite: a running server's database cannot be one).
type Database interface {
	// Current is the feed state of the database in place; nil when there is none.
	Current(ctx context.Context) (*sqlstore.FeedState, error)
	// Schema is the schema version of the new database (the binary's last migration).
	Schema() int
	// Create makes the new, empty database, beside the one in place, and a Loader into it.
	Create(ctx context.Context) (*sqlstore.Loader, error)
	// Commit checks the loaded database as a store, then puts it in place of the current one
	// at once: until then the database in place is untouched.
	Commit(ctx context.Context, check func(*sqlstore.Store) error) error
}

// Restore replaces a database with the content of a dump. It verifies the whole dump before
// it writes anything, loads it into a new database and checks it, and only then replaces
// the database in place: on any error that one is left as it was. The restored database's
// identity follows the rules of plan.
func Restore(ctx context.Context, into Database, open Opener, o RestoreOptions) (*Restored, error) {
	feeds := &feedCollector{}
	m, err := readFrom(ctx, open, feeds)
	if err != nil {
		return nil, err
	}
	if m.Schema > into.Schema() {
		return nil, fmt.Errorf("the dump's schema is version %d, newer than this binary's %d: restore it with a newer bascule", m.Schema, into.Schema())
	}
	dumped, err := feeds.state(m)
	if err != nil {
		return nil, err
	}
	current, err := into.Current(ctx)
	if err != nil {
		return nil, err
	}
	id, err := plan(dumped, current, o.Force)
	if err != nil {
		return nil, err
	}
	l, err := into.Create(ctx)
	if err != nil {
		return nil, err
	}
	load := &loader{l: l, id: id, counts: map[string]int64{}}
	again, err := readFrom(ctx, open, load)
	if err == nil && again.SHA256 != m.SHA256 {
		err = fmt.Errorf("the dump changed between its verification and its load (checksum %s, then %s)", m.SHA256, again.SHA256)
	}
	if err == nil {
		err = l.SetFeedState(&id.state)
	}
	if err != nil {
		l.Rollback()
		return nil, err
	}
	if err := l.Commit(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := into.Commit(ctx, func(s *sqlstore.Store) error { return check(ctx, s, id, load.counts) }); err != nil {
		return nil, err
	}
	return &Restored{Manifest: m, ServerID: id.state.ServerID, KeptID: id.kept, Feed: id.state.Feed, Cursors: id.state.Cursors, Lost: id.lost}, nil
}

// readFrom opens and reads a dump, stopping when ctx ends.
func readFrom(ctx context.Context, open Opener, v Visitor) (*Manifest, error) {
	rc, err := open(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return Read(&ctxReader{ctx: ctx, r: rc}, v)
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// feedCollector keeps the rows that say where the dumped server stood in the replication.
type feedCollector struct {
	table    string
	cols     []string
	serverID string
	feed     int64
	hasFeed  bool
	cursors  map[sqlstore.Stream]int64
}

func (f *feedCollector) Table(name string, columns []string) error {
	f.table, f.cols = name, columns
	return nil
}

func (f *feedCollector) Row(values []any) error {
	if f.table != "meta" && f.table != "counters" && f.table != "cursors" {
		return nil
	}
	col := func(name string) any {
		if i := slices.Index(f.cols, name); i >= 0 {
			return values[i]
		}
		return nil
	}
	switch f.table {
	case "meta":
		if col("key") == "server_id" {
			id, ok := col("value").(string)
			if !ok {
				return fmt.Errorf("%w: meta server_id is not text", ErrDamaged)
			}
			f.serverID = id
		}
	case "counters":
		if col("name") == "feed" {
			v, ok := col("value").(int64)
			if !ok {
				return fmt.Errorf("%w: the feed counter is not an integer", ErrDamaged)
			}
			f.feed, f.hasFeed = v, true
		}
	case "cursors":
		origin, ok1 := col("origin").(string)
		class, ok2 := col("class").(string)
		seq, ok3 := col("seq").(int64)
		if !ok1 || !ok2 || !ok3 {
			return fmt.Errorf("%w: a cursor is not an origin, a class and a sequence", ErrDamaged)
		}
		if f.cursors == nil {
			f.cursors = map[sqlstore.Stream]int64{}
		}
		f.cursors[sqlstore.Stream{Origin: origin, Class: bascule.FeedClass(class)}] = seq
	}
	return nil
}

// state returns the dumped server's feed state, which must agree with the manifest.
func (f *feedCollector) state(m *Manifest) (*sqlstore.FeedState, error) {
	if f.serverID == "" || !f.hasFeed {
		return nil, fmt.Errorf("%w: it holds no server id or no feed counter", ErrDamaged)
	}
	if f.serverID != m.ServerID || f.feed != m.Feed {
		return nil, fmt.Errorf("%w: its tables say server %s at %d, its manifest server %s at %d", ErrDamaged, f.serverID, f.feed, m.ServerID, m.Feed)
	}
	return &sqlstore.FeedState{ServerID: f.serverID, Feed: f.feed, Cursors: f.cursors}, nil
}

// loader loads rows into the new database, giving the feed its new identity on the way.
type loader struct {
	l      *sqlstore.Loader
	id     *identity
	table  string
	origin int // column of the origin in changes
	counts map[string]int64
}

func (ld *loader) Table(name string, columns []string) error {
	ld.table = name
	if name == "changes" {
		if ld.origin = slices.Index(columns, "origin"); ld.origin < 0 {
			return fmt.Errorf("%w: table changes has no origin column", ErrDamaged)
		}
	}
	ld.counts[name] = 0
	return ld.l.Table(name, columns)
}

func (ld *loader) Row(values []any) error {
	if ld.table == "changes" {
		origin, ok := values[ld.origin].(string)
		if !ok {
			return fmt.Errorf("%w: a change's origin is not text", ErrDamaged)
		}
		if values[ld.origin], ok = ld.id.change(origin); !ok {
			return nil
		}
	}
	ld.counts[ld.table]++
	return ld.l.Row(values)
}

// check proves the restored database usable before it replaces anything: it opens as a
// store, has the identity planned and every row loaded, and answers the reads a server makes
// first.
func check(ctx context.Context, s *sqlstore.Store, id *identity, counts map[string]int64) error {
	if s.ServerID() != id.state.ServerID {
		return fmt.Errorf("server id %s, want %s", s.ServerID(), id.state.ServerID)
	}
	if seq, err := s.LastSeq(ctx); err != nil || seq != id.state.Feed {
		return fmt.Errorf("feed counter %d (%v), want %d", seq, err, id.state.Feed)
	}
	for st, want := range id.state.Cursors {
		if got, err := s.Cursor(ctx, st.Origin, st.Class); err != nil || got != want {
			return fmt.Errorf("cursor of %s %s %d (%v), want %d", st.Origin, st.Class, got, err, want)
		}
	}
	for table, want := range counts {
		if table == "meta" || table == "counters" || table == "cursors" {
			continue // the identity changed them
		}
		var got int64
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&got); err != nil {
			return fmt.Errorf("count %s: %w", table, err)
		}
		if got != want {
			return fmt.Errorf("table %s holds %d rows, %d were loaded", table, got, want)
		}
	}
	bots, err := s.Bots(ctx)
	if err != nil {
		return fmt.Errorf("read bots: %w", err)
	}
	for _, b := range bots {
		if _, err := s.KnowledgeBase(ctx, b.ID); err != nil {
			return fmt.Errorf("read the knowledge of bot %s: %w", b.ID, err)
		}
	}
	for _, c := range bascule.FeedClasses {
		if _, err := s.Changes(ctx, c, 0, 100); err != nil {
			return fmt.Errorf("read the feed: %w", err)
		}
	}
	return nil
}
