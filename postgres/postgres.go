// Package postgres is Bascule's store on PostgreSQL, for a server that has outgrown one
// machine: several stateless bascule nodes of the same role share one database, and
// PostgreSQL (with its own replication) is the distributed engine. The SQL is internal/sqlstore,
// shared with the SQLite store through database/sql (pgx's stdlib adapter); what several nodes
// need on top of it lives here: notifications between nodes (LISTEN/NOTIFY), the event bus,
// rate limits shared by the nodes, and restores.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded schema migrations. They follow sqlite's one for one (same
// numbers, tables and columns): a dump records one schema version for both stores.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// Options tune the PostgreSQL store.
type Options struct {
	// MaxConns bounds the connections of this node's read pool (default 16). The writer has
	// two more (see writeConns) and the listener one: a node opens at most MaxConns+3.
	MaxConns int
	// MaxIdleConns is how many read connections stay open while idle (default MaxConns).
	MaxIdleConns int
	// ConnMaxLifetime closes connections older than this (0: never), so that a pooler or a
	// failover's new primary gets its share of new connections.
	ConnMaxLifetime time.Duration
	// ConnMaxIdleTime closes connections idle for this long (0: never).
	ConnMaxIdleTime time.Duration
	// ConnectTimeout bounds the first connection at start (default 10s): an unreachable
	// database is reported at once, not after the kernel's TCP timeout.
	ConnectTimeout time.Duration
	sqlstore.Options
}

// writeConns is the writer's pool: one goroutine writes (group commit) and holds one
// connection for its transaction; the second lets a statement be prepared meanwhile.
const writeConns = 2

// Store is a bascule.Store on PostgreSQL: the shared SQL store, plus the node's listening
// connection, its bus and its shared rate limits.
type Store struct {
	*sqlstore.Store
	db     *sql.DB // the read pool: also the bus's and the rate limits'
	listen *listener
	limits *buckets
}

// Lock keys of the advisory locks nodes take (PostgreSQL's advisory locks are per database).
const (
	// lockMigrate serialises migrations: nodes that start together migrate once.
	lockMigrate = 0x0ba5c01e
	// lockInUse is held shared by every open store (on its listening connection) and exclusive
	// by a restore, which must never replace tables under a running node.
	lockInUse = 0x0ba5c02e
)

// Open connects to the database of dsn (a PostgreSQL URL or key=value string), migrates it
// and starts the node's listener. It fails with a message naming the server when the
// database cannot be reached, and refuses a schema newer than this binary's.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 16
	}
	if o.MaxIdleConns <= 0 || o.MaxIdleConns > o.MaxConns {
		o.MaxIdleConns = o.MaxConns
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	w, r := stdlib.OpenDB(*cfg), stdlib.OpenDB(*cfg)
	closeAll := func() { w.Close(); r.Close() }
	w.SetMaxOpenConns(writeConns)
	w.SetMaxIdleConns(writeConns)
	r.SetMaxOpenConns(o.MaxConns)
	r.SetMaxIdleConns(o.MaxIdleConns)
	for _, db := range []*sql.DB{w, r} {
		db.SetConnMaxLifetime(o.ConnMaxLifetime)
		db.SetConnMaxIdleTime(o.ConnMaxIdleTime)
	}
	pctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	err = w.PingContext(pctx)
	cancel()
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("PostgreSQL at %s is unreachable: %w", where(cfg), err)
	}
	if err := migrate(ctx, w); err != nil {
		closeAll()
		return nil, fmt.Errorf("PostgreSQL at %s: %w", where(cfg), err)
	}
	s := &Store{db: r, limits: &buckets{db: r}}
	s.listen, err = startListener(ctx, cfg, s)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("PostgreSQL at %s: %w", where(cfg), err)
	}
	opts := o.Options
	// Another node may write any dialog at any moment: a cache of dialogs would serve a
	// stale last activity (a dialog archived too early or too late) and stale positions.
	opts.DialogCache = 0
	// Other nodes' commits are announced by NOTIFY: no need to poll the feed counter.
	opts.Notified = true
	onClose := opts.OnClose
	opts.OnClose = func() {
		s.listen.close()
		if onClose != nil {
			onClose()
		}
	}
	s.Store, err = sqlstore.New(ctx, s.listen.dialect(), w, r, opts)
	if err != nil {
		s.listen.close()
		closeAll()
		return nil, err
	}
	s.listen.ready(s.Store)
	return s, nil
}

// parseDSN reads data.dsn and fixes what the store relies on whatever the server's defaults.
func parseDSN(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the string, whose password it may fail to mask: say what is
		// expected instead.
		return nil, errors.New("data.dsn is not a PostgreSQL connection string " +
			"(postgres://user:password@host:5432/database?sslmode=verify-full, or host=... dbname=... user=...)")
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	// The feed stays gap-free because a writer that waits for the feed counter's row lock
	// reads the committed value once the lock is free: that is READ COMMITTED, whatever the
	// database's default (under REPEATABLE READ the second writer would fail instead).
	cfg.RuntimeParams["default_transaction_isolation"] = "read committed"
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "bascule"
	}
	return cfg, nil
}

// where names a database for messages, without its password.
func where(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("%s:%d/%s (user %s)", cfg.Host, cfg.Port, cfg.Database, cfg.User)
}

// migrate applies the migrations under an advisory lock, so that nodes started together do
// not run the same migration twice.
func migrate(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", lockMigrate); err != nil {
		return fmt.Errorf("wait for other nodes' migrations: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockMigrate)
	_, err = sqlstore.Migrate(ctx, db, Dialect, Migrations())
	return err
}

// Dialect is PostgreSQL's flavour of the shared SQL. A store's own dialect adds the NOTIFY
// that tells the other nodes about its commits (see listener.dialect).
var Dialect = sqlstore.Dialect{Name: "postgres", Positional: true, Greatest: "GREATEST"}

var _ bascule.Store = (*Store)(nil)
