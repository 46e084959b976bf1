// The tests of this package run dumps and restores over real SQLite stores. They live here
// and not in package dump so that dump's own tests do not link SQLite: fuzzing instruments
// every package of the test binary, and SQLite's would slow it down a thousandfold.
package dumptest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/dump"
	"github.com/bascule/bascule/dump/dumptest"
	"github.com/bascule/bascule/internal/sqlstore"
	"github.com/bascule/bascule/sqlite"
	"github.com/bascule/bascule/storetest"
)

func openStore(t *testing.T, dir string) *sqlstore.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// restore restores as "bascule restore" does: into the data directory dir, locked.
func restore(ctx context.Context, dir string, open dump.Opener, o dump.RestoreOptions) (*dump.Restored, error) {
	rep, err := sqlite.BeginReplace(dir)
	if err != nil {
		return nil, err
	}
	defer rep.Close()
	return dump.Restore(ctx, rep, open, o)
}

func fromTarget(t dump.Target, name string) dump.Opener {
	return func(ctx context.Context) (io.ReadCloser, error) { return t.Open(ctx, name) }
}

// A dump restored into an empty directory holds exactly what was dumped, under a new server
// id whose feed is the dumped server's.
func TestRestoreIntoEmptyDirectory(t *testing.T) {
	ctx := context.Background()
	src := openStore(t, t.TempDir())
	dumptest.Populate(t, src)
	must(t, src.SetMeta(ctx, "pair_state", "the main's"))
	target := dump.Dir(t.TempDir())
	res, err := dump.Dump(ctx, src, target, dump.Options{Role: "main", Keep: 2})
	must(t, err)
	m := res.Manifest
	feed, _ := src.LastSeq(ctx)
	if m.ServerID != src.ServerID() || m.Role != "main" || m.Feed != feed || m.Rows("interactions") != 19*3 || m.Format != dump.Format || res.Size == 0 {
		t.Fatalf("manifest %+v (size %d)", m, res.Size)
	}
	want := dumptest.Digests(t, src.DB())

	dir := filepath.Join(t.TempDir(), "data")
	r, err := restore(ctx, dir, fromTarget(target, res.Name), dump.RestoreOptions{})
	must(t, err)
	if r.KeptID || r.ServerID == src.ServerID() || !bascule.IsID(r.ServerID) {
		t.Fatalf("a restore into an empty directory must make a new server id: %+v", r)
	}
	got := openStore(t, dir)
	dumptest.Equal(t, "the restored database", dumptest.Digests(t, got.DB()), want)
	if got.ServerID() != r.ServerID {
		t.Fatalf("server id %s, reported %s", got.ServerID(), r.ServerID)
	}
	if seq, _ := got.LastSeq(ctx); seq != feed {
		t.Fatalf("feed counter %d, want the dump's %d", seq, feed)
	}
	if c := cursors(t, got, src.ServerID()); c != [2]int64{feed, feed} {
		t.Fatalf("cursors of the dumped server %v, want %d: the data holds its whole feed", c, feed)
	}
	if v, _ := got.Meta(ctx, "pair_state"); v != "" {
		t.Fatalf("the dumped server's place in the pair came along: %q", v)
	}
	// The peer pulls the new origin from 0 and gets everything the dump holds.
	changes := own(t, got)
	if int64(len(changes)) != feed || changes[0].Origin != r.ServerID {
		t.Fatalf("the new server serves %d changes (origin %s), want %d of its own", len(changes), changes[0].Origin, feed)
	}
	peer := openStore(t, t.TempDir())
	storetest.Replicate(t, got, peer)
	storetest.AssertSameKnowledge(t, src, peer, storetest.BotID)
	dumptest.Equal(t, "a peer fed by the restored server", dumptest.Shared(t, peer.DB()), dumptest.Shared(t, src.DB()))
}

// cursors returns a store's cursors of origin's streams: knowledge, dialogs.
func cursors(t *testing.T, s bascule.Store, origin string) (c [2]int64) {
	t.Helper()
	for i, class := range bascule.FeedClasses {
		var err error
		c[i], err = s.Cursor(context.Background(), origin, class)
		must(t, err)
	}
	return c
}

// own returns the changes a store serves, of every class, after since.
func own(t *testing.T, s bascule.Store, since ...int64) []bascule.Change {
	t.Helper()
	var out []bascule.Change
	for _, class := range bascule.FeedClasses {
		ch, err := s.Changes(context.Background(), class, append(since, 0)[0], 100_000)
		must(t, err)
		out = append(out, ch...)
	}
	return out
}

// The seeds' regular task: the main is dumped and the dump restored onto the (stopped)
// backup. The backup keeps its identity, replication resumes from the dump without sending
// everything again, and nothing is lost either way.
func TestRestoreOntoBackupKeepsThePair(t *testing.T) {
	ctx := context.Background()
	main := openStore(t, t.TempDir())
	backupDir := t.TempDir()
	backup, err := sqlite.Open(ctx, backupDir, sqlite.Options{})
	must(t, err)
	backupID := backup.ServerID()
	must(t, backup.SetMeta(ctx, "pair_state", "the backup's"))
	must(t, main.SetMeta(ctx, "pair_state", "the main's"))
	dumptest.Populate(t, main)
	storetest.Replicate(t, main, backup)
	dumptest.Talk(t, backup, 3) // the backup served some visitors...
	storetest.Replicate(t, backup, main)
	backupFeed, _ := backup.LastSeq(ctx)
	must(t, backup.Close())
	dumptest.Talk(t, main, 4) // ...and the main went on before the dump
	target := dump.Dir(t.TempDir())
	res, err := dump.Dump(ctx, main, target, dump.Options{Role: "main"})
	must(t, err)
	dumptest.Talk(t, main, 2) // and after it
	mainFeed, _ := main.LastSeq(ctx)

	r, err := restore(ctx, backupDir, fromTarget(target, res.Name), dump.RestoreOptions{})
	must(t, err)
	if !r.KeptID || r.ServerID != backupID || r.Feed != backupFeed || len(r.Lost) != 0 {
		t.Fatalf("restore onto the backup: %+v (backup %s at %d)", r, backupID, backupFeed)
	}
	backup = openStore(t, backupDir)
	if backup.ServerID() != backupID {
		t.Fatalf("the backup's id changed to %s", backup.ServerID())
	}
	if c := cursors(t, backup, main.ServerID()); c != [2]int64{res.Manifest.Feed, res.Manifest.Feed} {
		t.Fatalf("backup's cursors of the main %v, want the dump's feed %d", c, res.Manifest.Feed)
	}
	if c := cursors(t, backup, backupID); c != [2]int64{} {
		t.Fatalf("the backup has cursors of itself: %v", c)
	}
	if own := own(t, backup); len(own) != 0 {
		t.Fatalf("the backup serves %d changes after the restore: the main has them all", len(own))
	}
	if v, _ := backup.Meta(ctx, "pair_state"); v != "the backup's" {
		t.Fatalf("the backup's place in the pair is %q after the restore", v)
	}
	// Replication resumes after the dump: only what the main did since is sent.
	pending := own(t, main, res.Manifest.Feed)
	if want := mainFeed - res.Manifest.Feed; int64(len(pending)) != want || want == 0 {
		t.Fatalf("%d changes to send after the restore, want %d", len(pending), want)
	}
	storetest.Replicate(t, main, backup)
	// New changes of the backup are numbered after what the main has, and reach it.
	ds := dumptest.Talk(t, backup, 1)
	if seq, _ := backup.LastSeq(ctx); seq <= backupFeed {
		t.Fatalf("the backup's next change got %d, not after %d", seq, backupFeed)
	}
	storetest.Replicate(t, backup, main)
	if ins, _ := main.Interactions(ctx, ds[0].ID, 0); len(ins) != 3 {
		t.Fatalf("the main got %d interactions of the backup's new dialog, want 3", len(ins))
	}
	dumptest.Equal(t, "the pair after the restore", dumptest.Shared(t, backup.DB()), dumptest.Shared(t, main.DB()))
}

// A backup that originated changes the main had not pulled yet would lose them: the restore
// says so and changes nothing, unless forced.
func TestRestoreRefusesToLoseChanges(t *testing.T) {
	ctx := context.Background()
	main := openStore(t, t.TempDir())
	backupDir := t.TempDir()
	backup, err := sqlite.Open(ctx, backupDir, sqlite.Options{})
	must(t, err)
	backupID := backup.ServerID()
	dumptest.Populate(t, main)
	storetest.Replicate(t, main, backup)
	dumptest.Talk(t, backup, 2) // not pulled by the main
	before := dumptest.Digests(t, backup.DB())
	must(t, backup.Close())
	target := dump.Dir(t.TempDir())
	res, err := dump.Dump(ctx, main, target, dump.Options{})
	must(t, err)

	_, err = restore(ctx, backupDir, fromTarget(target, res.Name), dump.RestoreOptions{})
	if !errors.Is(err, dump.ErrUnreplicated) || !strings.Contains(err.Error(), "-force") || !strings.Contains(err.Error(), "would be lost") {
		t.Fatalf("restore over unreplicated changes: %v", err)
	}
	backup = openStore(t, backupDir)
	dumptest.Equal(t, "the refused restore's target", dumptest.Digests(t, backup.DB()), before)
	must(t, backup.Close())

	r, err := restore(ctx, backupDir, fromTarget(target, res.Name), dump.RestoreOptions{Force: true})
	must(t, err)
	if len(r.Lost) != 1 || r.Lost[0].Class != bascule.ClassDialogs || r.ServerID != backupID {
		t.Fatalf("forced restore: %+v, want the backup's dialogs changes lost", r)
	}
}

// Restoring a server's own dump onto its own data (undoing a bad import, say) keeps its feed
// numbered after everything it ever sent.
func TestRestoreOwnDump(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, dir, sqlite.Options{})
	must(t, err)
	id := s.ServerID()
	dumptest.Populate(t, s)
	target := dump.Dir(t.TempDir())
	res, err := dump.Dump(ctx, s, target, dump.Options{})
	must(t, err)
	dumptest.Talk(t, s, 1)
	feed, _ := s.LastSeq(ctx)
	must(t, s.Close())
	if _, err := restore(ctx, dir, fromTarget(target, res.Name), dump.RestoreOptions{}); !errors.Is(err, dump.ErrUnreplicated) {
		t.Fatalf("restoring an older own dump without -force: %v", err)
	}
	r, err := restore(ctx, dir, fromTarget(target, res.Name), dump.RestoreOptions{Force: true})
	must(t, err)
	s = openStore(t, dir)
	if r.ServerID != id || s.ServerID() != id {
		t.Fatalf("own dump restored under %s", s.ServerID())
	}
	if seq, _ := s.LastSeq(ctx); seq != feed {
		t.Fatalf("feed counter %d, want %d (never reuse a sequence)", seq, feed)
	}
	own := own(t, s)
	if int64(len(own)) != res.Manifest.Feed {
		t.Fatalf("%d own changes kept, want the dump's %d", len(own), res.Manifest.Feed)
	}
}

// A restore never writes into the database of a running server.
func TestRestoreRefusesARunningServer(t *testing.T) {
	ctx := context.Background()
	src := openStore(t, t.TempDir())
	dumptest.Populate(t, src)
	target := dump.Dir(t.TempDir())
	res, err := dump.Dump(ctx, src, target, dump.Options{})
	must(t, err)
	dir := t.TempDir()
	running := openStore(t, dir)
	_, err = restore(ctx, dir, fromTarget(target, res.Name), dump.RestoreOptions{})
	if !errors.Is(err, sqlite.ErrInUse) || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("restore into a running server's directory: %v", err)
	}
	if _, err := running.Bots(ctx); err != nil {
		t.Fatal(err)
	}
}

// A bad dump is refused before anything is written: the database in place and its directory
// are exactly as they were.
func TestBadDumpWritesNothing(t *testing.T) {
	ctx := context.Background()
	src := openStore(t, t.TempDir())
	dumptest.Populate(t, src)
	var buf bytes.Buffer
	_, err := dump.Write(ctx, &buf, src, "main")
	must(t, err)
	good := buf.Bytes()
	zr, _ := zstd.NewReader(bytes.NewReader(good))
	raw, _ := io.ReadAll(zr)
	zr.Close()
	recompress := func(raw []byte) []byte {
		var b bytes.Buffer
		zw, _ := zstd.NewWriter(&b)
		zw.Write(raw)
		zw.Close()
		return b.Bytes()
	}
	for _, tc := range []struct {
		name string
		data []byte
		is   error
	}{
		{"truncated", good[:len(good)/2], dump.ErrTruncated},
		{"wrong checksum", recompress(bytes.Replace(raw, []byte("question 1"), []byte("question 9"), 1)), dump.ErrDamaged},
		{"newer format", recompress(bytes.Replace(raw, []byte("BASCULE-DUMP 1\n"), []byte("BASCULE-DUMP 7\n"), 1)), dump.ErrVersion},
		{"garbage", bytes.Repeat([]byte("garbage "), 1000), dump.ErrNotDump},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := sqlite.Open(ctx, dir, sqlite.Options{})
			must(t, err)
			dumptest.Talk(t, s, 2)
			must(t, s.Close())
			db := filepath.Join(dir, sqlite.FileName)
			before, _ := os.ReadFile(db)
			entries, _ := os.ReadDir(dir)
			_, err = restore(ctx, dir, func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tc.data)), nil },
				dump.RestoreOptions{Force: true})
			if !errors.Is(err, tc.is) {
				t.Fatalf("restore: %v, want %v", err, tc.is)
			}
			after, _ := os.ReadFile(db)
			if !bytes.Equal(before, after) {
				t.Fatal("a refused restore changed the database")
			}
			if now, _ := os.ReadDir(dir); len(now) != len(entries) {
				t.Fatalf("a refused restore left files: %v, before %v", now, entries)
			}
		})
	}
}

// A dump taken while visitors are being answered holds exactly the state of one commit: the
// rows of every change up to its feed counter, and nothing after.
func TestDumpIsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	src := openStore(t, t.TempDir())
	dumptest.Populate(t, src)
	stop := make(chan struct{})
	done := make(chan error)
	for range 4 {
		go func() {
			for {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				d := storetest.NewDialog(bascule.NewID()[:15], time.Now())
				if err := src.RecordTalk(ctx, d, storetest.Talk(d, "hello", time.Now())); err != nil {
					done <- err
					return
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	target := dump.Dir(t.TempDir())
	res, err := dump.Dump(ctx, src, target, dump.Options{})
	time.Sleep(100 * time.Millisecond)
	close(stop)
	for range 4 {
		must(t, <-done)
	}
	must(t, err)
	feed := res.Manifest.Feed
	if last, _ := src.LastSeq(ctx); last <= feed {
		t.Fatalf("no write after the dump (feed %d, then %d): the test proves nothing", feed, last)
	}
	dir := t.TempDir()
	_, err = restore(ctx, dir, fromTarget(target, res.Name), dump.RestoreOptions{})
	must(t, err)
	got := openStore(t, dir)
	upTo := func(entity string) string {
		return fmt.Sprintf("SELECT key FROM changes WHERE origin = '%s' AND entity = '%s' AND seq <= %d", src.ServerID(), entity, feed)
	}
	for table, entity := range map[string]string{"dialogs": "dialog", "interactions": "interaction"} {
		want := dumptest.TableDigest(t, src.DB(), "SELECT * FROM "+table+" WHERE id IN ("+upTo(entity)+")")
		if g := dumptest.TableDigest(t, got.DB(), table); g != want {
			t.Fatalf("%s: restored %v, the source up to change %d %v", table, g, feed, want)
		}
	}
	want := dumptest.TableDigest(t, src.DB(), fmt.Sprintf("SELECT * FROM changes WHERE seq <= %d", feed), "origin")
	if g := dumptest.TableDigest(t, got.DB(), "changes", "origin"); g != want {
		t.Fatalf("changes: restored %v, the source up to %d %v", g, feed, want)
	}
}

// The schedule dumps every period, keeps Keep dumps, reports a failing target without
// stopping, and recovers when the target does.
func TestSchedule(t *testing.T) {
	ctx := context.Background()
	src := openStore(t, t.TempDir())
	dumptest.Populate(t, src)
	dir := t.TempDir()
	var mu sync.Mutex
	failing := true
	s := &dump.Schedule{Store: src, Where: dir, Every: 150 * time.Millisecond, Keep: 2, Role: func() string { return "main" },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Target: func(context.Context) (dump.Target, error) {
			mu.Lock()
			defer mu.Unlock()
			if failing {
				return nil, errors.New("connection refused")
			}
			return dump.Dir(dir), nil
		}}
	stop := s.Start(ctx)
	defer stop()
	waitFor(t, func() bool { return s.State().Failed > 0 })
	if err := s.Check(ctx); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("check after a failure: %v", err)
	}
	st := s.State()
	if st.LastError == "" || st.LastSuccess != nil {
		t.Fatalf("state after a failure: %+v", st)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	waitFor(t, func() bool { return s.State().Succeeded >= 3 })
	if err := s.Check(ctx); err != nil {
		t.Fatalf("check after a success: %v", err)
	}
	stop()
	st = s.State()
	names, _ := dump.Dumps(ctx, dump.Dir(dir), src.ServerID())
	if len(names) != 2 || st.LastSuccess == nil || st.LastSuccess.Name != names[1] || st.LastSuccess.Bytes == 0 {
		t.Fatalf("after %d dumps: %v on the target, state %+v", st.Succeeded, names, st.LastSuccess)
	}
	// A restarted server waits a period after its newest dump.
	s2 := &dump.Schedule{Store: src, Where: dir, Every: time.Hour, Keep: 2, Log: s.Log,
		Target: func(context.Context) (dump.Target, error) { return dump.Dir(dir), nil }}
	stop2 := s2.Start(ctx)
	defer stop2()
	waitFor(t, func() bool { return !s2.State().Next.IsZero() })
	if next := s2.State().Next; time.Until(next) < 59*time.Minute {
		t.Fatalf("next dump at %v, want an hour after the newest", next)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
