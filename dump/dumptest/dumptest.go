// Package dumptest helps tests judge dumps and restores with code that shares nothing with
// the dump format: plain SQL over the databases compared.
package dumptest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/storetest"
	_ "modernc.org/sqlite" // the "sqlite" driver, for Open
)

// Digest is the content of one table: its row count and a SHA-256 of its rows in key order.
type Digest struct {
	Rows int64
	SHA  string
}

func (d Digest) String() string { return fmt.Sprintf("%d rows %s", d.Rows, d.SHA[:12]) }

// TableDigest reads a table (or a query: "SELECT ... FROM ... WHERE ...") and digests its rows,
// sorted on every column so that storage order does not matter. Columns named in exclude are
// left out of the digest (an origin that a restore renames, say).
func TableDigest(t testing.TB, db *sql.DB, from string, exclude ...string) Digest {
	t.Helper()
	ctx := context.Background()
	query := from
	if !strings.HasPrefix(strings.ToUpper(from), "SELECT") {
		query = "SELECT * FROM " + from
	}
	rows, err := db.QueryContext(ctx, query+" LIMIT 0")
	if err != nil {
		t.Fatalf("digest %s: %v", from, err)
	}
	cols, _ := rows.Columns()
	rows.Close()
	var keep []string
	for _, c := range cols {
		if !slices.Contains(exclude, c) {
			keep = append(keep, `"`+c+`"`)
		}
	}
	list := strings.Join(keep, ", ")
	rows, err = db.QueryContext(ctx, "SELECT "+list+" FROM ("+query+") AS t ORDER BY "+list)
	if err != nil {
		t.Fatalf("digest %s: %v", from, err)
	}
	defer rows.Close()
	h := sha256.New()
	vals := make([]any, len(keep))
	ptrs := make([]any, len(keep))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var d Digest
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			fmt.Fprintf(h, "%T:%q|", v, fmt.Sprint(v))
		}
		h.Write([]byte{'\n'})
		d.Rows++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	d.SHA = hex.EncodeToString(h.Sum(nil))
	return d
}

// Tables are the tables whose content a restore must leave exactly as dumped. meta,
// counters, cursors and the origin of changes carry the restored server's identity instead.
var Tables = []string{"bots", "knowledge", "matching_groups", "sentences", "dialogs", "interactions", "variables",
	"feedback", "visits", "uploads", "erased_clients", "erased_dialogs"}

// Digests digests Tables, and changes without their origin.
func Digests(t testing.TB, db *sql.DB) map[string]Digest {
	t.Helper()
	out := map[string]Digest{}
	for _, table := range Tables {
		out[table] = TableDigest(t, db, table)
	}
	out["changes"] = TableDigest(t, db, "changes", "origin")
	return out
}

// Shared digests what both servers of a pair hold alike once replication has caught up: the
// knowledge and the dialogs, without the numbers each database gives its dialogs locally.
func Shared(t testing.TB, db *sql.DB) map[string]Digest {
	t.Helper()
	out := map[string]Digest{}
	for _, table := range []string{"bots", "knowledge", "matching_groups", "sentences", "variables", "feedback", "visits", "uploads", "erased_clients", "erased_dialogs"} {
		out[table] = TableDigest(t, db, table)
	}
	out["dialogs"] = TableDigest(t, db, "dialogs", "seq")
	out["interactions"] = TableDigest(t, db, "interactions", "dialog_seq")
	return out
}

// Equal fails the test unless two sets of digests are equal, naming every table that differs.
func Equal(t testing.TB, what string, got, want map[string]Digest) {
	t.Helper()
	var diffs []string
	for table, w := range want {
		if g := got[table]; g != w {
			diffs = append(diffs, fmt.Sprintf("%s: %v, want %v", table, g, w))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 0 {
		t.Fatalf("%s differs:\n%s", what, strings.Join(diffs, "\n"))
	}
}

// Open opens a database file read-only with plain database/sql, for digests.
func Open(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Talk records n dialogs of three questions each, with a variable, a vote, a visit and a
// file, as server s would serve them; it returns the dialogs.
func Talk(t testing.TB, s bascule.Store, n int) []*bascule.Dialog {
	t.Helper()
	ctx := context.Background()
	var ds []*bascule.Dialog
	for i := range n {
		now := time.Now().UTC()
		d := storetest.NewDialog(bascule.NewID()[:15], now) // a new visitor (the first one's erasure must not apply)
		d.Origin = s.ServerID()
		for q := range 3 {
			in := storetest.Talk(d, fmt.Sprintf("question %d of %d, «accentuée»", q, i), now.Add(time.Duration(q)*time.Second))
			in.Server, in.Score = s.ServerID(), 0.5+float64(q)/10
			nd := d
			if q > 0 {
				nd = nil
			}
			must(t, s.RecordTalk(ctx, nd, in))
		}
		must(t, s.SetVariable(ctx, &bascule.Variable{DialogID: d.ID, Name: "order", Value: fmt.Sprint(i)}))
		must(t, s.RecordFeedback(ctx, &bascule.Feedback{ID: bascule.NewID(), DialogID: d.ID, Kind: bascule.FeedbackVote, Value: "positive", At: now}))
		must(t, s.RecordVisit(ctx, &bascule.Visit{ID: bascule.NewID(), BotID: storetest.BotID, ClientID: d.ClientID, At: now, Server: s.ServerID()}))
		must(t, s.SaveUpload(ctx, storetest.NewUpload(d, "scan «1».pdf", []byte{'%', 0, 0xff, byte(i)}, now)))
		ds = append(ds, d)
	}
	return ds
}

// Populate gives a main server knowledge, dialogs and an erasure, so that every table holds rows.
func Populate(t testing.TB, s bascule.Store) {
	t.Helper()
	ctx := context.Background()
	must(t, s.ReplaceKnowledgeBase(ctx, storetest.SmallKnowledgeBase()))
	ds := Talk(t, s, 20)
	_, err := s.EraseClient(ctx, &bascule.ClientErasure{BotID: storetest.BotID, ClientID: ds[0].ClientID, Before: time.Now().Add(time.Minute)})
	must(t, err)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
