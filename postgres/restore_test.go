package postgres_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/bascule/bascule/dump"
	"github.com/bascule/bascule/dump/dumptest"
	"github.com/bascule/bascule/internal/sqlstore"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/postgres"
	"github.com/bascule/bascule/sqlite"
	"github.com/bascule/bascule/storetest"
)

// A store kind for the dump tests: how to open one, and how to restore into it.
type kind struct {
	name    string
	open    func(t *testing.T, where string) *sqlstore.Store
	replace func(ctx context.Context, where string) (dump.Database, func() error, error)
	where   func(t *testing.T) string
}

var kinds = map[string]kind{
	"sqlite": {
		name: "sqlite",
		open: func(t *testing.T, dir string) *sqlstore.Store {
			s, err := sqlite.Open(context.Background(), dir, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		replace: func(_ context.Context, dir string) (dump.Database, func() error, error) {
			r, err := sqlite.BeginReplace(dir)
			if err != nil {
				return nil, nil, err
			}
			return r, r.Close, nil
		},
		where: func(t *testing.T) string { return t.TempDir() },
	},
	"postgres": {
		name: "postgres",
		open: func(t *testing.T, dsn string) *sqlstore.Store {
			s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s.Store
		},
		replace: func(ctx context.Context, dsn string) (dump.Database, func() error, error) {
			r, err := postgres.BeginReplace(ctx, dsn)
			if err != nil {
				return nil, nil, err
			}
			return r, r.Close, nil
		},
		where: func(t *testing.T) string { return testenv.Postgres(t) },
	},
}

// A dump written from one store restores into the other with equal content, both ways, and
// the restored store goes on numbering dialogs after the restored ones. On PostgreSQL a
// restore also replaces tables in place: into the database the dump was taken from.
func TestDumpCrossesStores(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		inPlace  bool
	}{{"sqlite", "postgres", false}, {"postgres", "sqlite", false}, {"postgres", "postgres", false}, {"postgres", "postgres", true}} {
		name := tc.from + " to " + tc.to
		if tc.inPlace {
			name += " in place"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			from, to := kinds[tc.from], kinds[tc.to]
			srcWhere := from.where(t)
			src := from.open(t, srcWhere)
			defer src.Close()
			dumptest.Populate(t, src)
			want := dumptest.Digests(t, src.DB())
			target := dump.Dir(t.TempDir())
			res, err := dump.Dump(ctx, src, target, dump.Options{Role: "main", Keep: 1})
			if err != nil {
				t.Fatal(err)
			}
			where := srcWhere
			if tc.inPlace {
				src.Close()
			} else {
				where = to.where(t)
			}
			db, done, err := to.replace(ctx, where)
			if err != nil {
				t.Fatal(err)
			}
			open := func(ctx context.Context) (io.ReadCloser, error) { return target.Open(ctx, res.Name) }
			r, err := dump.Restore(ctx, db, open, dump.RestoreOptions{})
			if cerr := done(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.KeptID != tc.inPlace {
				t.Fatalf("server id kept: %v, want %v", r.KeptID, tc.inPlace)
			}
			got := to.open(t, where)
			defer got.Close()
			dumptest.Equal(t, "the restored "+to.name+" database", dumptest.Digests(t, got.DB()), want)
			dumptest.Talk(t, got, 1) // a new dialog takes a number after the restored ones
			var dup int
			if err := got.DB().QueryRowContext(ctx, "SELECT COUNT(*) - COUNT(DISTINCT seq) FROM dialogs").Scan(&dup); err != nil || dup != 0 {
				t.Fatalf("dialog numbers after the restore: %d duplicated (%v)", dup, err)
			}
		})
	}
}

// A restore never replaces the tables of a running node, and a node does not start while a
// restore runs.
func TestRestoreAndNodesExcludeEachOther(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.BeginReplace(ctx, dsn); !errors.Is(err, postgres.ErrInUse) {
		t.Fatalf("restore beside a running node: %v, want ErrInUse", err)
	}
	s.Close()
	r, err := postgres.BeginReplace(ctx, dsn)
	if err != nil {
		t.Fatalf("restore once the node stopped: %v", err)
	}
	if _, err := postgres.Open(ctx, dsn, postgres.Options{ConnectTimeout: 2 * time.Second}); err == nil {
		t.Fatal("a node started during a restore")
	}
	r.Close()
	s, err = postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatalf("a node after the restore: %v", err)
	}
	if err := s.ReplaceKnowledgeBase(ctx, storetest.SmallKnowledgeBase()); err != nil {
		t.Fatal(err)
	}
	s.Close()
}
