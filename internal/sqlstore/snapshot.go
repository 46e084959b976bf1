package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bascule/bascule"
)

// Tables are the tables of the shared schema that hold data, in the order a dump carries them
// and a restore loads them. Every store (sqlite, postgres) has them with the same columns, so
// a dump of one loads into the other. schema_version is not among them: a restore migrates
// its new database itself. A migration that adds a table adds it here (a test compares this
// list with the schema).
var Tables = []string{"meta", "counters", "bots", "knowledge", "matching_groups", "sentences",
	"dialogs", "interactions", "variables", "feedback", "visits", "uploads", "erased_clients", "erased_dialogs",
	"accounts", "livechat",
	"changes", "cursors"}

// Snapshot is a consistent view of the whole database: one read transaction, so that every
// table is read as of the same commit while the server goes on writing. SQLite in WAL mode
// and PostgreSQL in REPEATABLE READ both give such a reader its own snapshot without blocking
// the writer, so a dump needs no lock and no stop.
type Snapshot struct {
	tx *sql.Tx
	d  Dialect
	// Schema is the schema version of the database (its last migration).
	Schema int
}

// Snapshot begins a snapshot; Close ends it.
func (s *Store) Snapshot(ctx context.Context) (*Snapshot, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("begin snapshot: %w", err)
	}
	sn := &Snapshot{tx: tx, d: s.d}
	// SQLite fixes a deferred transaction's snapshot at its first read: this one.
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&sn.Schema); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	return sn, nil
}

// Close ends the snapshot's transaction.
func (sn *Snapshot) Close() error { return sn.tx.Rollback() }

// Rows reads every row of a table, in storage order (no sort: a dump must not make the
// database sort millions of rows).
func (sn *Snapshot) Rows(ctx context.Context, table string) (*TableRows, error) {
	if !slices.Contains(Tables, table) {
		return nil, fmt.Errorf("no table %q in the schema", table)
	}
	rows, err := sn.tx.QueryContext(ctx, "SELECT * FROM "+table)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	cols, err := rows.Columns()
	if err != nil {
		rows.Close()
		return nil, err
	}
	t := &TableRows{rows: rows, Columns: cols, vals: make([]any, len(cols)), ptrs: make([]any, len(cols))}
	for i := range t.vals {
		t.ptrs[i] = &t.vals[i]
	}
	return t, nil
}

// TableRows iterates over the rows of one table of a snapshot.
type TableRows struct {
	// Columns are the table's column names, in the order of Values.
	Columns []string
	rows    *sql.Rows
	vals    []any
	ptrs    []any
}

// Next advances to the next row; it returns false at the end or on an error (see Err).
func (t *TableRows) Next() bool { return t.rows.Next() }

// Values returns the current row: nil, int64, float64, string or []byte as the driver gives
// them. The slice is reused by the next call.
func (t *TableRows) Values() ([]any, error) {
	if err := t.rows.Scan(t.ptrs...); err != nil {
		return nil, err
	}
	return t.vals, nil
}

// Err returns the error that ended the iteration, if any.
func (t *TableRows) Err() error { return t.rows.Err() }

// Close releases the rows.
func (t *TableRows) Close() error { return t.rows.Close() }

// Stream is one class of changes of one origin, pulled with its own cursor.
type Stream struct {
	Origin string
	Class  bascule.FeedClass
}

// FeedState is where a database stands in the replication between the servers: whose it is,
// how far its own feed goes, what it applied from each peer's streams, and what it keeps about
// itself.
type FeedState struct {
	ServerID string
	Feed     int64                       // counters.feed: the Seq of its newest own change
	Last     map[bascule.FeedClass]int64 // the Seq of its newest own change of each class
	Cursors  map[Stream]int64            // the last Seq applied from each stream
	// Meta is what the server keeps about itself besides its id (its place in the pair).
	Meta map[string]string
}

// FeedState reads the feed state of the snapshot.
func (sn *Snapshot) FeedState(ctx context.Context) (*FeedState, error) {
	return ReadFeedState(ctx, sn.tx, sn.d)
}

// ReadFeedState reads the feed state of a database (a *sql.DB or a *sql.Tx).
func ReadFeedState(ctx context.Context, db queryer, d Dialect) (*FeedState, error) {
	q := (&Store{d: d}).q
	st := &FeedState{Last: map[bascule.FeedClass]int64{}, Cursors: map[Stream]int64{}, Meta: map[string]string{}}
	rows, err := db.QueryContext(ctx, "SELECT key, value FROM meta")
	if err != nil {
		return nil, fmt.Errorf("read meta: %w", err)
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return nil, err
		}
		if k == "server_id" {
			st.ServerID = v
		} else {
			st.Meta[k] = v
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if st.ServerID == "" {
		return nil, errors.New("no server id")
	}
	if err := db.QueryRowContext(ctx, "SELECT value FROM counters WHERE name = 'feed'").Scan(&st.Feed); err != nil {
		return nil, fmt.Errorf("read feed counter: %w", err)
	}
	for _, c := range bascule.FeedClasses {
		var last int64
		if err := db.QueryRowContext(ctx, q("SELECT COALESCE(MAX(seq), 0) FROM changes WHERE origin = ? AND class = ?"), st.ServerID, string(c)).Scan(&last); err != nil {
			return nil, fmt.Errorf("read the feed: %w", err)
		}
		st.Last[c] = last
	}
	rows, err = db.QueryContext(ctx, "SELECT origin, class, seq FROM cursors")
	if err != nil {
		return nil, fmt.Errorf("read cursors: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s Stream
		var seq int64
		if err := rows.Scan(&s.Origin, &s.Class, &seq); err != nil {
			return nil, err
		}
		st.Cursors[s] = seq
	}
	return st, rows.Err()
}

// Loader writes dumped rows into a new database whose schema is migrated, in one transaction:
// a load that fails leaves nothing half-written. Rows go in with multi-row INSERTs, prepared
// once per table.
type Loader struct {
	s     *Store // for the dialect's placeholders only
	ctx   context.Context
	tx    *sql.Tx
	table string
	cols  int
	batch []any
	rows  int // rows in batch
	per   int // rows per statement
	stmt  *sql.Stmt
	query string
}

// loadValues bounds the values of one INSERT, well under the limits of SQLite (32766) and
// PostgreSQL (65535); larger statements gain nothing.
const loadValues = 2000

// NewLoader begins the load of db.
func NewLoader(ctx context.Context, db *sql.DB, d Dialect) (*Loader, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &Loader{s: &Store{d: d}, ctx: ctx, tx: tx}, nil
}

// Table starts a table: it must be one of Tables and have every column named. Rows a
// migration put there (the feed counter) are removed first: the dump says what they are.
func (l *Loader) Table(name string, columns []string) error {
	if err := l.flush(); err != nil {
		return err
	}
	if !slices.Contains(Tables, name) {
		return fmt.Errorf("table %q is not in this version's schema", name)
	}
	if len(columns) == 0 {
		return fmt.Errorf("table %s: no columns", name)
	}
	rows, err := l.tx.QueryContext(l.ctx, "SELECT * FROM "+name+" LIMIT 0")
	if err != nil {
		return fmt.Errorf("table %s: %w", name, err)
	}
	have, err := rows.Columns()
	rows.Close()
	if err != nil {
		return err
	}
	for i, c := range columns {
		if !slices.Contains(have, c) {
			return fmt.Errorf("table %s has no column %q in this version's schema", name, c)
		}
		if slices.Contains(columns[:i], c) {
			return fmt.Errorf("table %s: column %q named twice", name, c)
		}
	}
	if _, err := l.tx.ExecContext(l.ctx, "DELETE FROM "+name); err != nil {
		return fmt.Errorf("empty %s: %w", name, err)
	}
	l.table, l.cols = name, len(columns)
	l.per = max(1, loadValues/len(columns))
	l.query = "INSERT INTO " + name + " (" + strings.Join(columns, ", ") + ") VALUES "
	l.batch = make([]any, 0, l.per*len(columns))
	l.stmt, l.rows = nil, 0
	return nil
}

// Row adds a row of the current table; values are copied.
func (l *Loader) Row(values []any) error {
	if l.table == "" {
		return errors.New("row outside a table")
	}
	if len(values) != l.cols {
		return fmt.Errorf("table %s: row of %d values, want %d", l.table, len(values), l.cols)
	}
	l.batch = append(l.batch, values...)
	l.rows++
	if l.rows == l.per {
		return l.flush()
	}
	return nil
}

// flush inserts the rows of the batch.
func (l *Loader) flush() error {
	if l.rows == 0 {
		return nil
	}
	var err error
	if l.rows == l.per {
		if l.stmt == nil {
			if l.stmt, err = l.tx.PrepareContext(l.ctx, l.s.q(l.query+rowMarks(l.cols, l.per))); err != nil {
				return fmt.Errorf("load %s: %w", l.table, err)
			}
		}
		_, err = l.stmt.ExecContext(l.ctx, l.batch...)
	} else {
		_, err = l.tx.ExecContext(l.ctx, l.s.q(l.query+rowMarks(l.cols, l.rows)), l.batch...)
	}
	if err != nil {
		return fmt.Errorf("load %s: %w", l.table, err)
	}
	clear(l.batch) // drop the references to the strings of the batch
	l.batch, l.rows = l.batch[:0], 0
	return nil
}

// SetFeedState makes the loaded database belong to st.ServerID, with st's feed counter and
// exactly st's cursors and meta (a restore decides them: see package dump). st.Last is not
// written: it follows from the feed's rows.
func (l *Loader) SetFeedState(st *FeedState) error {
	if err := l.flush(); err != nil {
		return err
	}
	l.table = ""
	exec := func(q string, args ...any) error {
		_, err := l.tx.ExecContext(l.ctx, l.s.q(q), args...)
		return err
	}
	if err := exec("DELETE FROM meta"); err != nil {
		return err
	}
	if err := exec("INSERT INTO meta (key, value) VALUES ('server_id', ?)", st.ServerID); err != nil {
		return fmt.Errorf("set server id: %w", err)
	}
	for k, v := range st.Meta {
		if err := exec("INSERT INTO meta (key, value) VALUES (?, ?)", k, v); err != nil {
			return fmt.Errorf("set meta %s: %w", k, err)
		}
	}
	if err := exec("INSERT INTO counters (name, value) VALUES ('feed', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", st.Feed); err != nil {
		return fmt.Errorf("set feed counter: %w", err)
	}
	if err := exec("DELETE FROM cursors"); err != nil {
		return err
	}
	for s, seq := range st.Cursors {
		if err := exec("INSERT INTO cursors (origin, class, seq) VALUES (?, ?, ?)", s.Origin, string(s.Class), seq); err != nil {
			return fmt.Errorf("set cursor of %s %s: %w", s.Origin, s.Class, err)
		}
	}
	return nil
}

// Commit commits the load.
func (l *Loader) Commit() error {
	if err := l.flush(); err != nil {
		l.tx.Rollback()
		return err
	}
	return l.tx.Commit()
}

// Rollback abandons the load.
func (l *Loader) Rollback() error { return l.tx.Rollback() }
