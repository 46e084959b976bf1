package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/sqlstore"
	"github.com/bascule/bascule/sqlite"
	"github.com/bascule/bascule/storetest"
)

// A dump carries sqlstore.Tables: a table added by a migration but missing there would be
// silently left out of every dump.
func TestDumpedTablesAreTheSchema(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.DB().QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_version'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	want := slices.Clone(sqlstore.Tables)
	slices.Sort(tables)
	slices.Sort(want)
	if !slices.Equal(tables, want) {
		t.Fatalf("schema tables %v, sqlstore.Tables %v", tables, want)
	}
}

// Stores share a data directory (a server and "bascule kb" beside it); a restore needs it for
// itself, and a store cannot open while a restore holds it.
func TestDataDirectoryLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatalf("a second store on the same directory: %v", err)
	}
	b.Close()
	if _, err := sqlite.BeginReplace(dir); !errors.Is(err, sqlite.ErrInUse) {
		t.Fatalf("replace while a store is open: %v, want ErrInUse", err)
	}
	a.Close()
	r, err := sqlite.BeginReplace(dir)
	if err != nil {
		t.Fatalf("replace once every store is closed: %v", err)
	}
	if _, err := sqlite.Open(ctx, dir, sqlite.Options{}); !errors.Is(err, sqlite.ErrInUse) {
		t.Fatalf("open during a replacement: %v, want ErrInUse", err)
	}
	r.Close()
	s, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatalf("open after the replacement ended: %v", err)
	}
	s.Close()
}

// A replacement abandoned before Commit leaves the directory as it was; a committed one
// puts the new database in place with its indexes.
func TestReplacement(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceKnowledgeBase(ctx, storetest.SmallKnowledgeBase()); err != nil {
		t.Fatal(err)
	}
	id := s.ServerID()
	s.Close()
	before, _ := os.ReadFile(filepath.Join(dir, sqlite.FileName))

	replace := func(commit bool) {
		r, err := sqlite.BeginReplace(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		cur, err := r.Current(ctx)
		if err != nil || cur == nil || cur.ServerID != id {
			t.Fatalf("current state %+v, %v", cur, err)
		}
		l, err := r.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st := &sqlstore.FeedState{ServerID: "new", Feed: 7, Cursors: map[sqlstore.Stream]int64{{Origin: "peer", Class: bascule.ClassDialogs}: 3},
			Meta: map[string]string{"pair_state": "kept"}}
		if err := l.SetFeedState(st); err != nil {
			t.Fatal(err)
		}
		if err := l.Commit(); err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := r.Commit(ctx, func(s *sqlstore.Store) error { _, err := s.Bots(ctx); return err }); err != nil {
				t.Fatal(err)
			}
		}
	}
	replace(false)
	after, _ := os.ReadFile(filepath.Join(dir, sqlite.FileName))
	if string(before) != string(after) {
		t.Fatal("an abandoned replacement changed the database")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".restore-*")); len(left) > 0 {
		t.Fatalf("an abandoned replacement left %v", left)
	}
	replace(true)
	s, err = sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.ServerID() != "new" {
		t.Fatalf("server id %s after the replacement", s.ServerID())
	}
	if seq, _ := s.LastSeq(ctx); seq != 7 {
		t.Fatalf("feed %d after the replacement", seq)
	}
	if c, _ := s.Cursor(ctx, "peer", bascule.ClassDialogs); c != 3 {
		t.Fatalf("cursor %d after the replacement", c)
	}
	if v, _ := s.Meta(ctx, "pair_state"); v != "kept" {
		t.Fatalf("meta %q after the replacement", v)
	}
	indexes := func(s *sqlstore.Store) (n int) {
		s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").Scan(&n)
		return n
	}
	fresh, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got, want := indexes(s), indexes(fresh); got != want || got == 0 {
		t.Fatalf("the replaced database has %d indexes, a new one %d", got, want)
	}
}
