package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/sqlstore"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/storetest"
)

// slowNode is a second node on the database of first whose transactions wait in hold after
// their feed sequence is allocated, right before COMMIT: the moment where a late commit
// could let a peer skip a change.
func slowNode(t *testing.T, dsn string, hold func()) *sqlstore.Store {
	t.Helper()
	cfg, err := parseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	w, r := stdlib.OpenDB(*cfg), stdlib.OpenDB(*cfg)
	d := Dialect
	d.BeforeCommit = func(context.Context, *sql.Tx, bool, []string) error {
		hold()
		return nil
	}
	s, err := sqlstore.New(context.Background(), d, w, r, sqlstore.Options{Notified: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// puller reads the dialogs stream as a peer does, from one node then the other: it asks for
// the changes after its cursor and moves the cursor to the last one it got. It records every
// change it skipped over (a Seq after a gap), which a cursor can never go back for.
type puller struct {
	nodes  []bascule.Store
	cursor int64
	got    []int64
	gaps   []string
	turn   int
}

func (p *puller) pull(t *testing.T) {
	t.Helper()
	node := p.nodes[p.turn%len(p.nodes)]
	p.turn++
	cs, err := node.Changes(context.Background(), bascule.ClassDialogs, p.cursor, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Seq != p.cursor+1 {
			p.gaps = append(p.gaps, fmt.Sprintf("after %d got %d", p.cursor, c.Seq))
		}
		p.cursor = c.Seq
		p.got = append(p.got, c.Seq)
	}
}

// The lower sequence commits last, if it can: node B allocates its Seq and holds its
// transaction open; node A writes meanwhile. A must not commit before B (the feed counter's
// row lock makes it wait), so a peer pulling from both nodes throughout sees a gap-free feed.
func TestFeedWaitsForTheLowerSequenceToCommit(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	a, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	b := slowNode(t, dsn, func() {
		once.Do(func() { close(held); <-release })
	})
	p := &puller{nodes: []bascule.Store{a, b}}
	now := time.Now()
	bDone := make(chan error, 1)
	go func() { bDone <- b.RecordTalk(ctx, storetest.NewDialog("b", now), nil) }()
	<-held
	bSeq, _ := b.LastSeq(ctx) // the committed counter: B's Seq is the next one
	bSeq++
	aDone := make(chan error, 1)
	go func() { aDone <- a.RecordTalk(ctx, storetest.NewDialog("a", now), nil) }()
	for range 10 {
		time.Sleep(30 * time.Millisecond)
		p.pull(t)
		select {
		case err := <-aDone:
			t.Fatalf("node A committed (%v) while the lower sequence %d was not committed", err, bSeq)
		default:
		}
	}
	if len(p.got) != 0 {
		t.Fatalf("the peer saw %v before sequence %d committed", p.got, bSeq)
	}
	close(release)
	if err := <-bDone; err != nil {
		t.Fatal(err)
	}
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	p.pull(t)
	p.pull(t)
	if len(p.gaps) > 0 || len(p.got) != 2 || p.got[0] != bSeq || p.got[1] != bSeq+1 {
		t.Fatalf("the peer got %v (gaps %v), want %d then %d", p.got, p.gaps, bSeq, bSeq+1)
	}
}

// Many writers on two nodes, commits delayed at random after their Seq is allocated, and a
// peer pulling from both nodes all along: it gets every change, in order, none skipped.
func TestFeedGapFreeUnderRandomCommitTiming(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	a, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	b := slowNode(t, dsn, func() {
		mu.Lock()
		d := time.Duration(rng.IntN(8)) * time.Millisecond
		mu.Unlock()
		time.Sleep(d)
	})
	nodes := []bascule.Store{a, b}
	const writers, talks = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			node := nodes[w%2]
			d := storetest.NewDialog(fmt.Sprint("w", w), time.Now())
			if err := node.RecordTalk(ctx, d, nil); err != nil {
				errs <- err
				return
			}
			for i := range talks {
				if err := node.RecordTalk(ctx, nil, storetest.Talk(d, fmt.Sprint("q", i), time.Now())); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	p := &puller{nodes: nodes}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		p.pull(t)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last, err := a.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for p.cursor < last && p.turn < 10_000 {
		p.pull(t)
	}
	if len(p.gaps) > 0 {
		t.Fatalf("the peer skipped changes: %v", p.gaps)
	}
	if want := int64(writers * (talks + 1)); int64(len(p.got)) != want || last != want {
		t.Fatalf("the peer got %d changes, the feed holds %d, %d were written", len(p.got), last, want)
	}
	t.Logf("%d changes written by two nodes, pulled in %d reads without a gap", len(p.got), p.turn)
}
