package pair_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/loadgen"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/samplebot"
)

// fillMain writes n interactions (dialogs of 5) into the stopped main's database directly,
// many writers at once as a busy server would.
func fillMain(t *testing.T, p *thePair, n int) {
	t.Helper()
	st := openStopped(t, p.main)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	per := n / 64
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d *bascule.Dialog
			for i := range per {
				now := time.Now().UTC()
				var nd *bascule.Dialog
				if i%5 == 0 {
					d = &bascule.Dialog{ID: bascule.NewID(), BotID: bot, ClientID: fmt.Sprint("w", w), Language: "en",
						Space: bascule.DefaultSpace, Origin: st.ServerID(), StartedAt: now, LastAt: now}
					nd = d
				}
				in := &bascule.Interaction{ID: bascule.NewOrderedID(now), DialogID: d.ID, BotID: bot, At: now, Server: st.ServerID(),
					Question: "Where is my order?", Answer: "<p>You can follow your order in My account &gt; My orders.</p>",
					Type: bascule.TypeUnderstood, KnowledgeID: 2001, Language: "en", Space: bascule.DefaultSpace}
				if err := st.RecordTalk(ctx, nd, in); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitingDialogs returns how many dialog changes the backup still has to apply, and its cursor.
func waitingDialogs(t *testing.T, b *testenv.Bascule) (waiting, cursor int64, ok bool) {
	r := replication(status(t, b))
	streams, _ := r["streams"].([]any)
	for _, s := range streams {
		m := s.(map[string]any)
		if m["class"] == "dialogs" {
			return int64(m["waiting"].(float64)), int64(m["cursor"].(float64)), m["peerLast"].(float64) > 0
		}
	}
	return 0, 0, false
}

// A backlog of 100,000 interactions replicates to a backup that was away (goal: under 10 s),
// beside the time to read the same feed on the main without sending or applying it.
func TestBacklogReplicationSpeed(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 interactions")
	}
	const n = 100_000
	p := startPair(t, pairOptions{})
	p.settle(30 * time.Second)
	p.backup.Stop()
	p.main.Stop()
	fillMain(t, p, n)

	// Baseline, same run: read the whole feed from the main's database.
	st := openStopped(t, p.main)
	start := time.Now()
	read := 0
	for since := int64(0); ; {
		cs, err := st.Changes(context.Background(), bascule.ClassDialogs, since, 2000)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			break
		}
		read += len(cs)
		since = cs[len(cs)-1].Seq
	}
	baseline := time.Since(start)
	st.Close()

	p.main.Start()
	p.backup.Start()
	start = time.Now()
	took := eventually(t, 5*time.Minute, "the backlog reached the backup", func() bool {
		w, _, ok := waitingDialogs(t, p.backup)
		return ok && w == 0
	})
	_ = start
	t.Logf("backlog of %d interactions (%d feed changes) replicated in %v (goal: 10s); reading the feed alone took %v: ratio %.1f",
		n, read, took.Round(time.Millisecond), baseline.Round(time.Millisecond), took.Seconds()/baseline.Seconds())
}

// A crash of the backup in the middle of applying: every batch is applied fully, with its
// cursor, or not at all; after a restart replication resumes from the cursor and completes.
func TestCrashDuringApply(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 30,000 interactions")
	}
	p := startPair(t, pairOptions{})
	p.settle(30 * time.Second)
	p.backup.Stop()
	p.main.Stop()
	fillMain(t, p, 30_000)
	p.main.Start()
	p.backup.Start()
	eventually(t, time.Minute, "the backup started applying the backlog", func() bool {
		w, c, ok := waitingDialogs(t, p.backup)
		return ok && c > 0 && w > 0
	})
	p.backup.Kill()

	// Compare the backup's database with the main's feed around the cursor it stored.
	backup := openStopped(t, p.backup)
	mainID := p.PeerID(t, backup)
	cursor, err := backup.Cursor(context.Background(), mainID, bascule.ClassDialogs)
	if err != nil {
		t.Fatal(err)
	}
	main := openStopped(t, p.main) // the running main's database, read beside it
	var before, after []string
	for since := int64(0); ; {
		cs, err := main.Changes(context.Background(), bascule.ClassDialogs, since, 2000)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			if c.Entity == bascule.EntityInteraction {
				if c.Seq <= cursor {
					before = append(before, c.Key)
				} else {
					after = append(after, c.Key)
				}
			}
		}
		since = cs[len(cs)-1].Seq
	}
	present := presentIDs(t, backup)
	missing, extra := 0, 0
	for _, id := range before {
		if !present[id] {
			missing++
		}
	}
	for _, id := range after {
		if present[id] {
			extra++
		}
	}
	t.Logf("killed after applying up to change %d: %d interactions before the cursor (%d missing), %d after it (%d present)",
		cursor, len(before), missing, len(after), extra)
	if missing != 0 || extra != 0 || len(after) == 0 {
		t.Fatalf("a batch was applied partly: %d missing before the cursor, %d present after it (%d after)", missing, extra, len(after))
	}
	backup.Close()
	p.backup.Start()
	eventually(t, 2*time.Minute, "replication completed after the crash", func() bool {
		w, _, ok := waitingDialogs(t, p.backup)
		return ok && w == 0
	})
}

// PeerID returns the id of the server a backup replicates from (the main's).
func (p *thePair) PeerID(t *testing.T, backup bascule.Store) string {
	t.Helper()
	raw, err := backup.Meta(context.Background(), "pair_peer_state")
	if err != nil || raw == "" {
		t.Fatalf("the backup never learned its peer: %v", err)
	}
	i := strings.Index(raw, `"serverId":"`)
	return raw[i+len(`"serverId":"`):][:32]
}

// presentIDs lists the interactions a store holds, by id.
func presentIDs(t *testing.T, st bascule.Store) map[string]bool {
	t.Helper()
	return allInteractionIDs(t, st)
}

// Under bench load on the main, the backup stays close: the delay from a commit on the main to
// its application on the backup, at p99 (goal: under 2 s), beside the load's own p99.
func TestLagUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 10 s load")
	}
	p := startPair(t, pairOptions{})
	p.settle(30 * time.Second)
	var qs []loadgen.Question
	for _, h := range samplebot.HeldOut() {
		qs = append(qs, loadgen.Question{Text: h.Question, Language: h.Language})
	}
	res := loadgen.Dialogs(context.Background(), loadgen.Options{Target: p.main.URL, Bot: bot, Concurrency: 64,
		Duration: 10 * time.Second, Questions: qs})
	p.settle(60 * time.Second)
	p99, count := histogramQuantile(t, p.backup, "bascule_replication_delay_seconds", `class="dialogs"`, 0.99)
	t.Logf("under load (%s), %d changes reached the backup with a p99 delay of %.3fs (goal: 2s); the load's own p99 was %v",
		res, count, p99, res.P99)
	if count == 0 {
		t.Fatal("no change reached the backup")
	}
}

// histogramQuantile estimates a quantile of a Prometheus histogram a server exports (the upper
// bound of the bucket where the quantile falls).
func histogramQuantile(t *testing.T, b *testenv.Bascule, name, label string, q float64) (float64, int64) {
	t.Helper()
	resp, err := http.Get(b.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	type bucket struct {
		le    float64
		count int64
	}
	var buckets []bucket
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"_bucket{") || !strings.Contains(line, label) {
			continue
		}
		i := strings.Index(line, `le="`)
		le := line[i+4:]
		le = le[:strings.IndexByte(le, '"')]
		v, _ := strconv.ParseFloat(le, 64)
		if le == "+Inf" {
			v = math.Inf(1)
		}
		c, _ := strconv.ParseInt(line[strings.LastIndexByte(line, ' ')+1:], 10, 64)
		buckets = append(buckets, bucket{v, c})
	}
	if len(buckets) == 0 {
		return 0, 0
	}
	total := buckets[len(buckets)-1].count
	for _, bk := range buckets {
		if float64(bk.count) >= q*float64(total) {
			return bk.le, total
		}
	}
	return math.Inf(1), total
}
