package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/sqlstore"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/postgres"
	"github.com/bascule/bascule/sqlite"
	"github.com/bascule/bascule/storetest"
)

// open opens a store on a new database of the test cluster.
func open(t *testing.T) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), testenv.Postgres(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) bascule.Store { return open(t) })
}

// The schema mirrors SQLite's, table for table and column for column in the same order: a
// dump of either store loads into the other, and the dumps' tables are the schema's.
func TestSchemaMirrorsSQLite(t *testing.T) {
	ctx := context.Background()
	pg := open(t)
	defer pg.Close()
	lite, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pgTables := queryStrings(t, pg.DB(), "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "+
		"AND table_name NOT IN ('schema_version', 'rate_buckets') ORDER BY table_name")
	want := slices.Sorted(slices.Values(sqlstore.Tables))
	if !slices.Equal(pgTables, want) {
		t.Fatalf("PostgreSQL tables %v, sqlstore.Tables %v", pgTables, want)
	}
	for _, table := range sqlstore.Tables {
		got := queryStrings(t, pg.DB(), "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "+
			"AND table_name = '"+table+"' ORDER BY ordinal_position")
		want := queryStrings(t, lite.DB(), "SELECT name FROM pragma_table_info('"+table+"') ORDER BY cid")
		if !slices.Equal(got, want) {
			t.Errorf("table %s: PostgreSQL columns %v, SQLite %v", table, got, want)
		}
	}
}

func queryStrings(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// A node refuses a database migrated by a newer bascule, and says why.
func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, "UPDATE schema_version SET version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = postgres.Open(ctx, dsn, postgres.Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("opening a database of a newer version: got %v", err)
	}
}

// A database that cannot be reached, or a DSN that is not one, is reported at once, naming
// the server but never the password.
func TestUnreachableOrBadDSN(t *testing.T) {
	port := testenv.FreePort(t) // nothing listens there
	for _, tc := range []struct {
		name, dsn string
		want      []string
	}{
		{"refused", fmt.Sprintf("postgres://bascule:s3cret@127.0.0.1:%d/bascule?sslmode=disable", port),
			[]string{"unreachable", fmt.Sprintf("127.0.0.1:%d/bascule", port)}},
		{"not a DSN", "postgres://bascule:s3cret@[::1/x", []string{"data.dsn is not a PostgreSQL connection string"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := postgres.Open(context.Background(), tc.dsn, postgres.Options{ConnectTimeout: 3 * time.Second})
			if err == nil {
				t.Fatal("opened")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the password", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v to report", d)
			}
		})
	}
}
