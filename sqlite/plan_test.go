package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/sqlite"
	"github.com/bascule/bascule/storetest"
)

// bigTables grow with traffic: a statement that reads one of them without an index becomes
// slower with every visitor (as the numbering of livechat messages once did).
var bigTables = []string{"interactions", "dialogs", "changes", "feedback", "visits", "variables", "uploads", "livechat"}

// Every statement the store prepares while the conformance suite runs uses an index on the
// tables that grow.
func TestStatementsUseIndexes(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	t.Run("workload", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) bascule.Store {
			s, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { // runs after the suite closed the store
				mu.Lock()
				defer mu.Unlock()
				for _, q := range s.Statements() {
					seen[q] = true
				}
			})
			return s
		})
	})
	if len(seen) < 20 {
		t.Fatalf("only %d statements seen: the workload did not run", len(seen))
	}
	dir := t.TempDir()
	s, err := sqlite.Open(context.Background(), dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for q := range seen {
		args := make([]any, strings.Count(q, "?"))
		rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatalf("explain %q: %v", q, err)
		}
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			// "SCAN interactions" or "SEARCH interactions" without "USING ..." reads every row.
			f := strings.Fields(detail)
			if len(f) >= 2 && (f[0] == "SCAN" || f[0] == "SEARCH") && slices.Contains(bigTables, f[1]) && !strings.Contains(detail, "USING") {
				t.Errorf("%q reads all of %s:\n  %s", detail, f[1], q)
			}
		}
		rows.Close()
	}
}
