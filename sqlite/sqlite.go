// Package sqlite is Bascule's embedded store: SQLite through modernc.org/sqlite (pure Go, no
// cgo, so the binary stays one static file). The database runs in WAL mode so that readers
// never wait for the writer; writes go through one connection with group commit.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	"github.com/bascule/bascule/internal/sqlstore"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded schema migrations.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// FileName is the database file inside a data directory.
const FileName = "bascule.db"

// Options tune the SQLite store.
type Options struct {
	// Sync is the durability: "full" (default: every answer is on disk before it is sent, even
	// through a power cut) or "normal" (answers survive a crash of the process but not of the
	// machine). Either way SQLite itself runs with synchronous=NORMAL; with "full" the store
	// syncs the write-ahead log once for all the batches committed meanwhile, before answering
	// (sqlstore.Options.Sync), so that the disk's latency does not cap the answers per second.
	Sync string
	// ReadConns bounds the reading connections (default: 2 per CPU, at least 4).
	ReadConns int
	sqlstore.Options
}

// syncLog puts the write-ahead log on disk: every transaction committed before the call is
// then durable (SQLite recovers the log's committed frames after a crash). The file is opened
// by name each time: SQLite may recreate it, and a descriptor kept open would sync an old one.
// No log means everything is in the database file, which its checkpoint synced.
func syncLog(path string) error {
	f, err := os.OpenFile(path+"-wal", os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// restartAt is the size of the write-ahead log, in pages, past which a checkpoint also makes
// the log start again from its beginning (16 MiB with 4 KiB pages).
const restartAt = 4096

// checkpoint copies the write-ahead log into the database without waiting for readers or the
// writer (PASSIVE). A passive checkpoint never rewinds the log while some reader is always
// active, and a log that only grows makes every read slower and ends in SQLite's own
// checkpoint inside a commit: past restartAt pages, a RESTART checkpoint waits for the readers
// of the moment (milliseconds) and lets the next write start the log again.
func checkpoint(ctx context.Context, db *sql.DB) error {
	var busy, logPages, done int
	if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &done); err != nil {
		return err
	}
	if logPages < restartAt {
		return nil
	}
	_, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(RESTART)")
	return err
}

// Dialect is SQLite's flavour of the shared SQL.
var Dialect = sqlstore.Dialect{Name: "sqlite", Greatest: "MAX"}

// Open opens (creating it if needed) the database of the data directory dir and migrates it.
func Open(ctx context.Context, dir string, o Options) (*sqlstore.Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	sync := o.Sync
	switch sync {
	case "":
		sync = "full"
	case "full", "normal":
	default:
		return nil, fmt.Errorf("sqlite sync %q: must be full or normal", o.Sync)
	}
	lock, err := lockDir(dir, false)
	if err != nil {
		return nil, err
	}
	o.OnClose = func() { lock.Close() }
	s, err := open(ctx, dir, sync, o)
	if err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

// open opens the database of dir, whose lock the caller holds: the store releases it on
// Close through o.OnClose.
func open(ctx context.Context, dir, sync string, o Options) (*sqlstore.Store, error) {
	path := filepath.Join(dir, FileName)
	pragmas := url.Values{}
	// The write-ahead log is checkpointed every second by a passive checkpoint beside the
	// writer (see checkpoint); the automatic checkpoint is only a safety net, set high so it
	// never runs inside an answer's commit. Temporary storage stays in memory: the multi-row
	// inserts of a batch keep a statement journal, which would otherwise spill to a temporary
	// file created, written and deleted on every commit (about 4% of a talk's CPU).
	// The writer's page cache is kept small (8 MB) on purpose: while the database is under
	// 1 GiB, a page split gives a page the lock-byte page's number for a moment, and the commit
	// that follows then walks the cache's whole hash table, whose size follows the cache's.
	// Under `bascule bench` a commit took 214-240 us with 32 MB and 188-192 us with 8 MB on a
	// new database, 255-303 us and 182-273 us on one of a million interactions (690 MB), the
	// writer's time per write unchanged (/metrics). The writer mostly touches the right edges of
	// its tables and indexes, which 8 MB holds with room for the leaves of client indexes.
	for _, p := range []string{"journal_mode(WAL)", "synchronous(normal)", "busy_timeout(10000)", "foreign_keys(OFF)",
		"cache_size(-8000)", "wal_autocheckpoint(50000)", "temp_store(MEMORY)"} {
		pragmas.Add("_pragma", p)
	}
	w, err := sql.Open("sqlite", "file:"+path+"?"+pragmas.Encode()+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	// One goroutine writes (group commit), so transactions never contend; the second
	// connection lets a statement be prepared while the writer's transaction holds the first.
	w.SetMaxOpenConns(2)
	w.SetMaxIdleConns(2)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if _, err := sqlstore.Migrate(ctx, w, Dialect, Migrations()); err != nil {
		w.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rp := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "query_only(1)", "cache_size(-16000)"} {
		rp.Add("_pragma", p)
	}
	r, err := sql.Open("sqlite", "file:"+path+"?"+rp.Encode())
	if err != nil {
		w.Close()
		return nil, err
	}
	n := o.ReadConns
	if n <= 0 {
		n = max(4, 2*runtime.NumCPU())
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	// Checkpoints get a connection of their own: a RESTART holds new writers back until the
	// readers of the moment are done, and on the writer's pool it could take the connection
	// the writer needs to prepare a statement, and wait for that writer.
	cp, err := sql.Open("sqlite", "file:"+path+"?"+pragmas.Encode())
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	cp.SetMaxOpenConns(1)
	opts := o.Options
	opts.Maintain = func(ctx context.Context) error { return checkpoint(ctx, cp) }
	if sync == "full" {
		opts.Sync = func(context.Context) error { return syncLog(path) }
	}
	onClose := opts.OnClose
	opts.OnClose = func() {
		cp.Close()
		if onClose != nil {
			onClose()
		}
	}
	if opts.DialogCache == 0 {
		opts.DialogCache = 100_000 // one process owns an SQLite database: its cache is exact
	}
	s, err := sqlstore.New(ctx, Dialect, w, r, opts)
	if err != nil {
		w.Close()
		r.Close()
		cp.Close()
		return nil, err
	}
	return s, nil
}
