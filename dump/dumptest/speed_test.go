package dumptest_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/dump"
	"github.com/bascule/bascule/dump/dumptest"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/samplebot"
	"github.com/bascule/bascule/sqlite"
)

// TestDumpSpeed times "bascule dump" and "bascule restore" of a database of a million
// interactions, and their peak memory, against reading every row of the same database
// without writing anything. It takes a few minutes, so it runs only when asked:
//
//	BASCULE_DUMP_SPEED=1 go test -run TestDumpSpeed -v -timeout 30m ./dump/dumptest/
//
// Targets: dump under 30 s, restore under 60 s, each under 150 MB of peak memory.
func TestDumpSpeed(t *testing.T) {
	if os.Getenv("BASCULE_DUMP_SPEED") != "1" {
		t.Skip("set BASCULE_DUMP_SPEED=1 to time dumps of a million interactions (a few minutes)")
	}
	const interactions = 1_000_000
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	start := time.Now()
	buildDatabase(t, dir, interactions)
	t.Logf("built a database of %d interactions in %s", interactions, time.Since(start).Round(time.Second))
	st, _ := os.Stat(filepath.Join(dir, sqlite.FileName))

	start = time.Now()
	rows := scanAll(t, filepath.Join(dir, sqlite.FileName))
	baseline := time.Since(start)

	bin := testenv.BasculeBinary(t)
	dumps := t.TempDir()
	dumpTime, dumpRSS := run(t, bin, "dump", "-data", dir, "-to", dumps)
	names, _ := dump.Dir(dumps).List(ctx)
	dst, _ := os.Stat(filepath.Join(dumps, names[0]))
	restoreTime, restoreRSS := run(t, bin, "restore", "-data", filepath.Join(t.TempDir(), "data"), filepath.Join(dumps, names[0]))

	t.Logf("database: %d rows, %d MB; dump file %d MB", rows, st.Size()>>20, dst.Size()>>20)
	t.Logf("baseline (read every row, write nothing): %s", baseline.Round(time.Millisecond))
	t.Logf("dump:    %6s  peak memory %3d MB  ratio to baseline %.2f", dumpTime.Round(time.Millisecond), dumpRSS>>20, dumpTime.Seconds()/baseline.Seconds())
	t.Logf("restore: %6s  peak memory %3d MB  ratio to baseline %.2f", restoreTime.Round(time.Millisecond), restoreRSS>>20, restoreTime.Seconds()/baseline.Seconds())
	if dumpTime > 30*time.Second || restoreTime > 60*time.Second || dumpRSS > 150<<20 || restoreRSS > 150<<20 {
		t.Fatal("over budget: dump 30 s, restore 60 s, 150 MB each")
	}
}

// run runs a bascule command and returns its wall time and peak resident memory.
func run(t *testing.T, bin string, args ...string) (time.Duration, int64) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("bascule %s: %v\n%s", args[0], err, out)
	}
	return elapsed, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // kilobytes on Linux
}

// scanAll reads every row of every dumped table, as the baseline.
func scanAll(t *testing.T, path string) int64 {
	db := dumptest.Open(t, path)
	var n int64
	for _, table := range append(dumptest.Tables, "meta", "counters", "changes", "cursors") {
		rows, err := db.Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			n++
		}
		rows.Close()
	}
	return n
}

// buildDatabase makes the database of a busy main server: the sample bot, and dialogs of four
// questions each with their changes in the feed, written by SQL inside SQLite (a million
// answers through the chat API would take an hour).
func buildDatabase(t *testing.T, dir string, interactions int) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceKnowledgeBase(ctx, samplebot.KnowledgeBase()); err != nil {
		t.Fatal(err)
	}
	id := s.ServerID()
	first, _ := s.LastSeq(ctx)
	s.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName)+"?_pragma=synchronous(OFF)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	dialogs := interactions / 4
	t0 := time.Now().Add(-30 * 24 * time.Hour).UnixMilli()
	// Dialog ids are spread over the key space, as random ids are; interaction ids grow with
	// time, as ordered ids do.
	did := func(expr string) string {
		return strings.ReplaceAll("printf('%08x%024x', (N * 2654435761) % 4294967296, N)", "N", expr)
	}
	iid := "printf('%012x%020x', ?4 + i * 250, i)"
	series := func(n int) string {
		return fmt.Sprintf("WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < %d) ", n-1)
	}
	stmts := []string{
		series(dialogs) + `INSERT INTO dialogs (seq, id, bot_id, client_id, language, space, origin, continues, continues_via, started_at, user_url, browser, os)
			SELECT i + 1, ` + did("i") + `, ?1, printf('c%014d', i), 'en', 'Defaut', ?2, '', '', ?4 + i * 1000,
			'https://shop.example.com/products/' || (i % 977), 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0', 'Linux' FROM c`,
		series(interactions) + `INSERT INTO interactions (id, dialog_id, dialog_seq, bot_id, n, at, server, question, answer, type, knowledge_id, score, language, space, author)
			SELECT ` + iid + `, ` + did("(i / 4)") + `, i / 4 + 1, ?1, i % 4 + 1, ?4 + i * 250, ?2,
			CASE i % 5 WHEN 0 THEN 'Where is my order ' || i WHEN 1 THEN 'how can i return an item i bought last week'
			WHEN 2 THEN 'Do you deliver to Belgium?' WHEN 3 THEN 'je voudrais changer mon adresse de livraison' ELSE 'hello' END,
			'<p>' || CASE i % 4 WHEN 0 THEN 'You can follow your order in <a href="https://shop.example.com/account/orders">your account</a>, under Orders. A tracking link is sent by email as soon as the parcel leaves our warehouse.'
			WHEN 1 THEN 'Returns are free within 30 days: print the label from your account and drop the parcel at any post office.'
			WHEN 2 THEN 'We deliver to France, Belgium, Luxembourg and Switzerland in 2 to 4 working days.' ELSE 'Hello! How can I help you?' END || '</p>',
			'DMUnderstoodQuestion', i % 60 + 1, 0.5 + (i % 50) / 100.0, 'en', 'Defaut', '' FROM c`,
		series(dialogs) + `INSERT INTO changes (origin, class, seq, entity, key, op, data, at) SELECT ?2, 'dialogs', ?3 + i + 1, 'dialog', ` + did("i") + `, 'put', '', ?4 + i * 1000 FROM c`,
		series(interactions) + `INSERT INTO changes (origin, class, seq, entity, key, op, data, at) SELECT ?2, 'dialogs', ?3 + ?5 + i + 1, 'interaction', ` + iid + `, 'put', '', ?4 + i * 250 FROM c`,
		`UPDATE counters SET value = ?3 + ?5 + ?6 WHERE name = 'feed'`,
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q, bascule.SampleBotID, id, first, t0, dialogs, interactions); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}
