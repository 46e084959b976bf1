package pair_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/loadgen"
	"github.com/bascule/bascule/samplebot"
)

// visitor behaves as the chatbox does on failure: an ordered server list, a timeout on every
// request, the same question (same interaction id) sent again to the next server on any
// failure, and a dialog that stays on the server that answered it last.
type visitor struct {
	servers []string
	http    *http.Client
	rng     *rand.Rand
	current int // index of the server the dialog runs on
}

// ask sends one question until a server answers it, or gives up at the deadline (a question
// left unanswered while a server was up is a failure of the test).
func (v *visitor) ask(ctx context.Context, bot, ctxID, question, interactionID string, deadline time.Time) (map[string]string, error) {
	form := url.Values{"userInput": {question}, "language": {"en"}, "space": {"Defaut"}, "clientId": {fmt.Sprint("c", v.rng.Uint32())}}
	if interactionID != "" {
		form.Set("interactionId", interactionID)
	}
	if question == "#welcome#" {
		form.Set("doNotRegisterInteraction", "true")
	}
	backoff := 20 * time.Millisecond
	for {
		path := "/servlet/api/chat/talk/" + bot
		if ctxID != "" {
			path += "/" + ctxID
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, v.servers[v.current]+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := v.http.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return loadgen.DecodeValues(body)
			}
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, fmt.Errorf("unanswered: %v", err)
		}
		v.current = (v.current + 1) % len(v.servers) // the next server, as the chatbox does
		time.Sleep(backoff)
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

// The heart of the product: a scripted load of dialogs from many clients while the main is
// killed (kill -9) at random moments and restarted, several times. Afterwards every question
// any client saw answered exists exactly once on each server, analytics count exactly the
// dialogs the clients held, and no question went unanswered while one server was up. The
// main runs on each store in turn (its database outlives its process on PostgreSQL).
func TestFailoverUnderLoadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("the pair's end-to-end test runs for about a minute per store")
	}
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run("main on "+store, func(t *testing.T) { failoverUnderLoad(t, store) })
	}
}

func failoverUnderLoad(t *testing.T, store string) {
	p := startPair(t, pairOptions{mainStore: store})
	p.settle(30 * time.Second)
	questions := samplebot.HeldOut()
	var (
		mu         sync.Mutex
		answered   = map[string]bool{} // interaction ids the clients saw answered
		dialogs    atomic.Int64        // dialogs the clients held
		unanswered atomic.Int64
		switches   atomic.Int64
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	const clients, perClient = 25, 24 // 600 dialogs
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := &visitor{servers: []string{p.main.URL, p.backup.URL}, http: &http.Client{Timeout: 2 * time.Second},
				rng: rand.New(rand.NewPCG(uint64(c), 42))}
			for range perClient {
				if ctx.Err() != nil {
					return
				}
				v.current = 0 // a new dialog starts on the first server that answers
				deadline := time.Now().Add(45 * time.Second)
				w, err := v.ask(ctx, bot, "", "#welcome#", "", deadline)
				if err != nil {
					unanswered.Add(1)
					continue
				}
				dialogs.Add(1)
				ctxID := w["contextId"]
				for range 4 {
					q := questions[v.rng.IntN(len(questions))]
					id := bascule.NewOrderedID(time.Now())
					before := v.current
					a, err := v.ask(ctx, bot, ctxID, q.Question, id, deadline)
					if err != nil {
						unanswered.Add(1)
						continue
					}
					if v.current != before {
						switches.Add(1)
					}
					if a["interactionId"] != id {
						t.Errorf("answered with interaction %q, sent %q", a["interactionId"], id)
					}
					mu.Lock()
					answered[id] = true
					mu.Unlock()
					ctxID = a["contextId"]
					// A visitor reads the answer and types the next question: the load spans
					// the whole chaos below.
					time.Sleep(time.Duration(100+v.rng.IntN(200)) * time.Millisecond)
				}
			}
		}()
	}
	// Kill the main at random moments, three times, and bring it back, while the load runs.
	loadDone := make(chan struct{})
	go func() { wg.Wait(); close(loadDone) }()
	chaos := rand.New(rand.NewPCG(7, 7))
	kills := 0
	for kills < 3 {
		select {
		case <-loadDone:
			t.Fatalf("the load ended after %d kills: make it longer", kills)
		case <-time.After(time.Duration(1500+chaos.IntN(2000)) * time.Millisecond):
		}
		p.main.Kill()
		kills++
		t.Logf("kill -9 of the main #%d", kills)
		time.Sleep(time.Duration(1000+chaos.IntN(2000)) * time.Millisecond)
		p.main.Start()
	}
	<-loadDone
	p.settle(60 * time.Second)
	p.main.Stop()
	p.backup.Stop()
	mu.Lock()
	defer mu.Unlock()
	ctxb := context.Background()
	mainStore, backupStore := openStopped(t, p.main), openStopped(t, p.backup)
	var lost, duplicated int
	for _, st := range []bascule.Store{mainStore, backupStore} {
		ids := allInteractionIDs(t, st)
		for id := range answered {
			if !ids[id] {
				lost++
			}
		}
		for id := range ids {
			if !answered[id] {
				duplicated++ // stored but never answered to anyone: a question counted twice
			}
		}
	}
	from, to := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	mainCount, err := mainStore.CountDialogs(ctxb, bot, from, to)
	if err != nil {
		t.Fatal(err)
	}
	backupCount, err := backupStore.CountDialogs(ctxb, bot, from, to)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dialogs held by clients=%d, counted on main=%d, on backup=%d; answered=%d, server switches=%d, unanswered=%d",
		dialogs.Load(), mainCount, backupCount, len(answered), switches.Load(), unanswered.Load())
	t.Logf("lost=%d duplicated=%d", lost, duplicated)
	if dialogs.Load() < 500 {
		t.Errorf("only %d dialogs ran, want at least 500", dialogs.Load())
	}
	if switches.Load() == 0 {
		t.Errorf("no question moved to the backup: the kills missed the load")
	}
	if lost != 0 || duplicated != 0 || unanswered.Load() != 0 {
		t.Errorf("lost=%d duplicated=%d unanswered=%d", lost, duplicated, unanswered.Load())
	}
	if int64(mainCount) != dialogs.Load() || int64(backupCount) != dialogs.Load() {
		t.Errorf("analytics count %d (main) and %d (backup) dialogs, the clients held %d", mainCount, backupCount, dialogs.Load())
	}
}

// allInteractionIDs lists every interaction a stopped server holds.
func allInteractionIDs(t *testing.T, st bascule.Store) map[string]bool {
	t.Helper()
	ctx := context.Background()
	ids := map[string]bool{}
	after := ""
	for {
		ds, err := st.Dialogs(ctx, bascule.DialogFilter{BotID: bot, From: time.Now().Add(-time.Hour), After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			return ids
		}
		for _, d := range ds {
			ins, err := st.Interactions(ctx, d.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range ins {
				if ids[in.ID] {
					t.Errorf("interaction %s stored twice", in.ID)
				}
				ids[in.ID] = true
			}
		}
		after = ds[len(ds)-1].ID
	}
}
