package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/bascule/bascule/internal/clock"
	"github.com/bascule/bascule/internal/sqlstore"
)

// ErrInUse is returned when a restore would replace the tables of running nodes.
var ErrInUse = errors.New("database in use")

// Replacement builds a new set of tables in a schema of its own beside the store's, then
// puts them in place of the store's tables in one transaction. It holds the exclusive side of
// the lock every running node holds shared, so no node runs meanwhile, and until that last
// transaction the tables in place are untouched: a restore that fails anywhere leaves the
// database as it was. It implements dump.Database.
type Replacement struct {
	cfg    *pgx.ConnConfig
	db     *sql.DB   // the store's schema
	lock   *sql.Conn // holds the exclusive lock
	schema string    // the store's schema (current_schema of the connection string)
	tmp    string    // the schema the new tables are built in
	newDB  *sql.DB   // connections whose search_path is tmp
}

// BeginReplace connects to the database of dsn and takes its exclusive lock. It fails with
// ErrInUse while a bascule node (a server, or a kb or dump command) has the database open.
func BeginReplace(ctx context.Context, dsn string) (*Replacement, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	r := &Replacement{cfg: cfg, db: db}
	if r.lock, err = db.Conn(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("PostgreSQL at %s is unreachable: %w", where(cfg), err)
	}
	free, err := r.tryLock(ctx)
	if err != nil {
		r.Close()
		return nil, err
	}
	if !free {
		r.lock.Close()
		db.Close()
		return nil, fmt.Errorf("%w: %s is open by running bascule nodes (servers, or kb or dump commands); stop them first", ErrInUse, where(cfg))
	}
	if err := r.lock.QueryRowContext(ctx, "SELECT current_schema()").Scan(&r.schema); err != nil {
		r.Close()
		return nil, err
	}
	r.tmp = r.schema + "_restore"
	// A schema left by a crashed restore is removed.
	if _, err := r.lock.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+ident(r.tmp)+" CASCADE"); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// inUseGrace is how long BeginReplace waits for the lock before it says the database is in
// use. A node that has just stopped closed its connections, but PostgreSQL releases the
// session's locks when the backend process exits, a moment later: an operator who stops the
// servers and runs the restore at once must not be refused.
const inUseGrace = 3 * time.Second

// tryLock takes the exclusive side of the nodes' lock, trying again within inUseGrace.
func (r *Replacement) tryLock(ctx context.Context) (bool, error) {
	deadline := time.Now().Add(inUseGrace)
	for {
		var free bool
		if err := r.lock.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", lockInUse).Scan(&free); err != nil || free {
			return free, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		if !clock.Sleep(ctx, 100*time.Millisecond) {
			return false, ctx.Err()
		}
	}
}

// ident quotes an identifier.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// Current implements dump.Database: the feed state of the tables in place, nil when the
// database holds none.
func (r *Replacement) Current(ctx context.Context) (*sqlstore.FeedState, error) {
	var meta sql.NullString
	if err := r.lock.QueryRowContext(ctx, "SELECT to_regclass('meta')::text").Scan(&meta); err != nil {
		return nil, err
	}
	if !meta.Valid {
		return nil, nil
	}
	st, err := sqlstore.ReadFeedState(ctx, r.db, Dialect)
	if err != nil {
		return nil, fmt.Errorf("the tables in %s cannot be read (%w): restore into an empty database", where(r.cfg), err)
	}
	return st, nil
}

// Schema implements dump.Database.
func (r *Replacement) Schema() int {
	n, _ := sqlstore.LatestSchema(Migrations()) // Open has checked the embedded migrations
	return n
}

// Create implements dump.Database: the new tables, migrated, in a schema of their own.
func (r *Replacement) Create(ctx context.Context) (*sqlstore.Loader, error) {
	if r.newDB != nil {
		return nil, errors.New("the new tables exist already")
	}
	if _, err := r.lock.ExecContext(ctx, "CREATE SCHEMA "+ident(r.tmp)); err != nil {
		return nil, fmt.Errorf("new schema: %w", err)
	}
	cfg := r.cfg.Copy()
	cfg.RuntimeParams["search_path"] = r.tmp
	r.newDB = stdlib.OpenDB(*cfg)
	if _, err := sqlstore.Migrate(ctx, r.newDB, Dialect, Migrations()); err != nil {
		return nil, fmt.Errorf("new tables: %w", err)
	}
	return sqlstore.NewLoader(ctx, r.newDB, Dialect)
}

// Commit implements dump.Database: it moves the dialogs' numbering past the restored
// numbers, checks the new tables as a store, then swaps them for the tables in place in one
// transaction.
func (r *Replacement) Commit(ctx context.Context, check func(*sqlstore.Store) error) error {
	if r.newDB == nil {
		return errors.New("no new tables to commit")
	}
	if err := r.moveIdentities(ctx); err != nil {
		return err
	}
	s, err := sqlstore.New(ctx, Dialect, r.newDB, r.newDB, sqlstore.Options{Notified: true})
	if err != nil {
		return fmt.Errorf("the restored tables do not open: %w", err)
	}
	err = check(s)
	// Close closes newDB too: nothing uses it after the check.
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	r.newDB = nil
	if err != nil {
		return fmt.Errorf("the restored tables fail their checks: %w", err)
	}
	tx, err := r.lock.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// The schema's tables, and its functions (a trigger's), go in place of the store's.
	tables, err := sqlstore.ScanStrings(tx.QueryContext(ctx, "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = $1", r.tmp))
	if err != nil {
		return err
	}
	funcs, err := sqlstore.ScanStrings(tx.QueryContext(ctx, "SELECT quote_ident(proname) || '(' || pg_get_function_identity_arguments(oid) || ')' "+
		"FROM pg_proc WHERE pronamespace = to_regnamespace($1)", r.tmp))
	if err != nil {
		return err
	}
	to, from := ident(r.schema)+".", ident(r.tmp)+"."
	var stmts []string
	for _, t := range tables {
		stmts = append(stmts, "DROP TABLE IF EXISTS "+to+t)
	}
	for _, f := range funcs {
		stmts = append(stmts, "DROP FUNCTION IF EXISTS "+to+f, "ALTER FUNCTION "+from+f+" SET SCHEMA "+ident(r.schema))
	}
	for _, t := range tables {
		stmts = append(stmts, "ALTER TABLE "+from+t+" SET SCHEMA "+ident(r.schema))
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("put the restored tables in place (%s): %w", q, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "DROP SCHEMA "+ident(r.tmp)); err != nil {
		return err
	}
	return tx.Commit()
}

// moveIdentities moves every identity column's sequence past the numbers the dump gave
// explicitly (dialogs.seq, and any identity a later migration adds): the next row must not
// take a restored row's number.
func (r *Replacement) moveIdentities(ctx context.Context) error {
	rows, err := r.newDB.QueryContext(ctx, "SELECT table_name, column_name FROM information_schema.columns "+
		"WHERE table_schema = current_schema() AND is_identity = 'YES'")
	if err != nil {
		return err
	}
	var cols [][2]string
	for rows.Next() {
		var c [2]string
		if err := rows.Scan(&c[0], &c[1]); err != nil {
			rows.Close()
			return err
		}
		cols = append(cols, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range cols {
		table, col := ident(c[0]), ident(c[1])
		if _, err := r.newDB.ExecContext(ctx, "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX("+col+"), 1), MAX("+col+") IS NOT NULL) FROM "+table,
			table, c[1]); err != nil {
			return fmt.Errorf("number the next rows of %s: %w", c[0], err)
		}
	}
	return nil
}

// Close ends the replacement: what is left of the new tables (all of them, unless they were
// committed) is removed, and the lock is released.
func (r *Replacement) Close() error {
	var err error
	if r.newDB != nil {
		err = r.newDB.Close()
		r.newDB = nil
	}
	if r.lock != nil {
		ctx := context.Background()
		if r.tmp != "" {
			_, e := r.lock.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+ident(r.tmp)+" CASCADE")
			err = errors.Join(err, e)
		}
		// Unlocked here rather than by closing the session: PostgreSQL releases a closed
		// session's locks only when its backend has exited, and a node started right after the
		// restore must find the database free.
		_, e := r.lock.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", lockInUse)
		err = errors.Join(err, e, r.lock.Close())
	}
	return errors.Join(err, r.db.Close())
}
