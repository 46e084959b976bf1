package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/loadgen"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/pair"
	"github.com/bascule/bascule/postgres"
	"github.com/bascule/bascule/samplebot"
)

// nodeConfig is the configuration of a node of a main that runs as two nodes on the database
// dsn; its peer (a backup) is not running: the test pulls the feed as the backup would.
func nodeConfig(dsn string, tls pair.TLSFiles, peerListen string) string {
	return fmt.Sprintf(`server:
  role: main
peer:
  url: https://127.0.0.1:1
  listen: %s
  tls:
    cert: %s
    key: %s
    ca: %s
data:
  driver: postgres
  dsn: %s
limits:
  per_client:
    rate: 0
log:
  level: error
`, peerListen, tls.Cert, tls.Key, tls.CA, dsn)
}

// feedPuller pulls the dialogs stream over the peer API as the backup does, from one node
// then the other, with one cursor.
type feedPuller struct {
	urls   []string
	client *http.Client
	cursor int64
	turn   int
	keys   map[string]int // interaction ids and how often they came
	gaps   []string
}

func (p *feedPuller) pull(t *testing.T, wait time.Duration) (last int64) {
	t.Helper()
	u := p.urls[p.turn%len(p.urls)] + "/peer/v1/changes?" + url.Values{"class": {"dialogs"},
		"since": {fmt.Sprint(p.cursor)}, "limit": {"500"}, "wait": {wait.String()}}.Encode()
	p.turn++
	resp, err := p.client.Get(u)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	defer resp.Body.Close()
	var cr pair.ChangesResponse
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&cr) != nil {
		t.Fatalf("pull %s: %s", u, resp.Status)
	}
	for _, c := range cr.Changes {
		// Only dialog-side changes are written during the run: the stream's numbers follow
		// each other, and a jump would be a change skipped for good.
		if p.cursor > 0 && c.Seq != p.cursor+1 {
			p.gaps = append(p.gaps, fmt.Sprintf("after %d got %d", p.cursor, c.Seq))
		}
		p.cursor = c.Seq
		if c.Entity == bascule.EntityInteraction {
			p.keys[c.Key]++
		}
	}
	return cr.Last
}

// Two bascule nodes on one database behind a round-robin client: every question of
// concurrent dialogs goes to the next node, so each dialog moves between nodes at every
// question. Every answered question is stored exactly once, each dialog keeps its context
// and numbers its questions 1, 2, 3..., and a peer pulling the feed from both nodes while
// they serve gets every change, none skipped.
func TestTwoNodesOneDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two bascule processes under load")
	}
	dsn := testenv.Postgres(t)
	tlsFiles, err := pair.ThrowawayCA(filepath.Join(t.TempDir(), "ca"), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*testenv.Bascule
	var peerURLs []string
	for i := range 2 {
		peer := testenv.FreeAddr(t)
		nodes = append(nodes, testenv.StartBascule(t, testenv.BasculeOptions{Name: fmt.Sprint("node", i+1), Config: nodeConfig(dsn, tlsFiles, peer)}))
		peerURLs = append(peerURLs, "https://"+peer)
	}
	ctls, err := pair.ClientTLS(tlsFiles)
	if err != nil {
		t.Fatal(err)
	}
	p := &feedPuller{urls: peerURLs, client: pair.Client(ctls), keys: map[string]int{}}
	p.cursor = func() int64 { // start after what the sample bot's import wrote
		st, err := postgres.Open(context.Background(), dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		seq, err := st.LastSeq(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}()

	var (
		mu       sync.Mutex
		answered = map[string]string{} // interaction id -> context id
		failures []string
		next     atomic.Uint64 // the round-robin
	)
	questions := samplebot.HeldOut()
	client := loadgen.NewClient(16)
	ask := func(ctxID, question, id string) (string, error) {
		u := nodes[(next.Add(1)-1)%2].URL + "/servlet/api/chat/talk/" + bascule.SampleBotID
		if ctxID != "" {
			u += "/" + ctxID
		}
		form := url.Values{"userInput": {question}, "language": {"en"}, "space": {"Defaut"}, "clientId": {"c" + id}}
		if id == "" {
			form.Set("doNotRegisterInteraction", "true")
		} else {
			form.Set("interactionId", id)
		}
		resp, err := client.PostForm(u, form)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("%s: %s", resp.Status, body)
		}
		return loadgen.Value(body, "contextId"), nil
	}
	const workers, dialogs, perDialog = 16, 40, 4
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for d := range dialogs {
				ctxID, err := ask("", "#welcome#", "")
				for q := 0; err == nil && q < perDialog; q++ {
					id := bascule.NewOrderedID(time.Now())
					var got string
					if got, err = ask(ctxID, questions[(w*dialogs+d+q)%len(questions)].Question, id); err == nil && got != ctxID {
						err = fmt.Errorf("dialog %s went on as %s on the other node", ctxID, got)
					}
					if err == nil {
						mu.Lock()
						answered[id] = ctxID
						mu.Unlock()
					}
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
			}
		})
	}
	loadDone := make(chan struct{})
	go func() { wg.Wait(); close(loadDone) }()
	for running := true; running; {
		select {
		case <-loadDone:
			running = false
		default:
			p.pull(t, 100*time.Millisecond)
		}
	}
	took := time.Since(start)
	for range 50 {
		if last := p.pull(t, 0); p.cursor >= last {
			break
		}
	}
	t.Logf("%d questions in %d dialogs over two nodes in %v; the peer pulled %d interactions in %d pulls",
		len(answered), workers*dialogs, took.Round(time.Millisecond), len(p.keys), p.turn)
	if len(failures) > 0 || len(answered) != workers*dialogs*perDialog {
		t.Fatalf("%d questions answered of %d; failures: %v", len(answered), workers*dialogs*perDialog, failures)
	}
	if len(p.gaps) > 0 {
		t.Fatalf("the peer skipped changes: %v", p.gaps)
	}

	st, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var lost, twice int
	byContext := map[string]int{}
	for id, ctxID := range answered {
		if p.keys[id] != 1 {
			twice += min(p.keys[id], 1) // 0: lost by the feed, counted below with the store's
			lost += 1 - min(p.keys[id], 1)
		}
		byContext[ctxID]++
	}
	stored := 0
	for ctxID, n := range byContext {
		ins, err := st.Interactions(context.Background(), ctxID, 0)
		if err != nil {
			t.Fatal(err)
		}
		stored += len(ins)
		for i, in := range ins {
			if in.N != i+1 || answered[in.ID] != ctxID {
				t.Fatalf("dialog %s: interaction %d is %s numbered %d (answered in context %q)", ctxID, i, in.ID, in.N, answered[in.ID])
			}
		}
		if len(ins) != n {
			t.Errorf("dialog %s holds %d interactions, %d were answered in it", ctxID, len(ins), n)
		}
	}
	if lost != 0 || twice != 0 || stored != len(answered) {
		t.Fatalf("feed: %d answered questions missing, %d twice; store: %d stored, %d answered", lost, twice, stored, len(answered))
	}
}
