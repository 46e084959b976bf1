package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"

	"github.com/bascule/bascule/internal/sqlstore"
)

// Replacement builds a new database for a data directory and puts it in place of the current
// one with one rename. It holds the directory's exclusive lock from start to end, so no server
// or command has the database open meanwhile, and until the rename the current database is
// untouched: a restore that fails anywhere leaves the directory as it was.
type Replacement struct {
	dir     string
	lock    *os.File
	tmp     string   // directory of the new database, inside dir (same file system: rename is atomic)
	db      *sql.DB  // the new database while it is loaded
	indexes []string // CREATE INDEX statements dropped for the load, run again by Commit
}

// restoreDirPrefix names the directories where new databases are built; one left by a
// crashed restore is removed by the next.
const restoreDirPrefix = ".restore-"

// BeginReplace takes the exclusive lock of the data directory dir (creating it if needed). It
// fails with ErrInUse, naming the directory, when a server or a command has its database open.
func BeginReplace(dir string) (*Replacement, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	lock, err := lockDir(dir, true)
	if err != nil {
		return nil, err
	}
	stale, _ := filepath.Glob(filepath.Join(dir, restoreDirPrefix+"*"))
	for _, d := range stale {
		os.RemoveAll(d)
	}
	return &Replacement{dir: dir, lock: lock}, nil
}

// Current reads the feed state of the database in place; it is nil when the directory holds
// none. The database is checkpointed and closed: its write-ahead log, which must not outlive
// the file it belongs to, is folded into it and removed.
func (r *Replacement) Current(ctx context.Context) (*sqlstore.FeedState, error) {
	path := filepath.Join(r.dir, FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	st, err := sqlstore.ReadFeedState(ctx, db, Dialect)
	if err != nil {
		return nil, fmt.Errorf("the database in %s cannot be read (%w): move it away to restore into an empty directory", r.dir, err)
	}
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return st, db.Close()
}

// Schema is the schema version a new database gets: the last migration of this binary.
func (r *Replacement) Schema() int {
	n, _ := sqlstore.LatestSchema(Migrations()) // Open has checked the embedded migrations
	return n
}

// Create makes the new, empty database (schema migrated) and returns a Loader into it. It is
// tuned for one bulk load into a file that is thrown away on any error: no sync, an in-memory
// journal, and no secondary index (Commit builds them once, which is far faster than updating
// them for every row).
func (r *Replacement) Create(ctx context.Context) (*sqlstore.Loader, error) {
	if r.db != nil {
		return nil, errors.New("the new database exists already")
	}
	tmp, err := os.MkdirTemp(r.dir, restoreDirPrefix)
	if err != nil {
		return nil, err
	}
	r.tmp = tmp
	p := url.Values{}
	for _, v := range []string{"journal_mode(MEMORY)", "synchronous(OFF)", "cache_size(-16000)", "foreign_keys(OFF)"} {
		p.Add("_pragma", v)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(tmp, FileName)+"?"+p.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	r.db = db
	if _, err := sqlstore.Migrate(ctx, db, Dialect, Migrations()); err != nil {
		return nil, fmt.Errorf("new database: %w", err)
	}
	rows, err := db.QueryContext(ctx, "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var name, stmt string
		if err := rows.Scan(&name, &stmt); err != nil {
			rows.Close()
			return nil, err
		}
		names, r.indexes = append(names, name), append(r.indexes, stmt)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, name := range names {
		if _, err := db.ExecContext(ctx, `DROP INDEX "`+name+`"`); err != nil {
			return nil, err
		}
	}
	return sqlstore.NewLoader(ctx, db, Dialect)
}

// Commit builds the indexes, checks that the new database opens with Open and passes check,
// syncs it and renames it into place.
func (r *Replacement) Commit(ctx context.Context, check func(*sqlstore.Store) error) error {
	if r.db == nil {
		return errors.New("no new database to commit")
	}
	for _, stmt := range r.indexes {
		if _, err := r.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("build index: %w", err)
		}
	}
	err := r.db.Close()
	r.db = nil
	if err != nil {
		return err
	}
	s, err := Open(ctx, r.tmp, Options{})
	if err != nil {
		return fmt.Errorf("the restored database does not open: %w", err)
	}
	err = check(s)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("the restored database fails its checks: %w", err)
	}
	newPath := filepath.Join(r.tmp, FileName)
	if st, err := os.Stat(newPath + "-wal"); err == nil && st.Size() > 0 {
		return errors.New("the restored database kept a write-ahead log after closing; nothing was replaced")
	}
	if err := syncPath(newPath); err != nil {
		return err
	}
	// The old log and shared memory were emptied by Current; they must not meet the new file.
	path := filepath.Join(r.dir, FileName)
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(newPath, path); err != nil {
		return err
	}
	return syncPath(r.dir)
}

// Close ends the replacement: what is left of the new database (all of it, unless it was
// committed) is removed, and the lock is released.
func (r *Replacement) Close() error {
	var err error
	if r.db != nil {
		err = r.db.Close()
	}
	if r.tmp != "" {
		err = errors.Join(err, os.RemoveAll(r.tmp))
	}
	return errors.Join(err, r.lock.Close())
}

// syncPath flushes a file or a directory (a rename is durable once its directory is).
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// Some file systems cannot sync a directory (EINVAL); there is nothing more to do there.
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
