package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migrate applies the numbered migrations of dir (files named NNNN_what.sql) that the
// database has not seen, each in its own transaction with the new version. It refuses a
// database whose schema is newer than the binary: an older binary would misread it.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, migrations fs.FS) (int, error) {
	files, err := migrationFiles(migrations)
	if err != nil {
		return 0, err
	}
	latest := len(files)
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); err != nil {
		return 0, fmt.Errorf("create schema_version: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&current); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if current > latest {
		return current, fmt.Errorf("the database schema is version %d, newer than this binary's %d: run a newer bascule (downgrades are not supported)", current, latest)
	}
	for _, f := range files[current:] {
		script, err := fs.ReadFile(migrations, f)
		if err != nil {
			return current, err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return current, err
		}
		if _, err := tx.ExecContext(ctx, string(script)); err != nil {
			tx.Rollback()
			return current, fmt.Errorf("%s migration %s: %w", d.Name, f, err)
		}
		current++
		q := "DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (" + strconv.Itoa(current) + ")"
		if _, err := tx.ExecContext(ctx, q); err != nil {
			tx.Rollback()
			return current - 1, err
		}
		if err := tx.Commit(); err != nil {
			return current - 1, err
		}
	}
	return current, nil
}

// LatestSchema is the schema version the migrations lead to: the number of the last one.
func LatestSchema(migrations fs.FS) (int, error) {
	files, err := migrationFiles(migrations)
	return len(files), err
}

// migrationFiles lists the migrations in order, checking that they are numbered 0001, 0002...
// without gaps: the schema version is then the number of files applied.
func migrationFiles(migrations fs.FS) ([]string, error) {
	files, err := fs.Glob(migrations, "*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	for i, f := range files {
		n, err := strconv.Atoi(strings.SplitN(path.Base(f), "_", 2)[0])
		if err != nil || n != i+1 {
			return nil, fmt.Errorf("migration %s: files must be numbered 0001, 0002... without gaps", f)
		}
	}
	return files, nil
}
