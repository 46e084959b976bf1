package pair_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/loadgen"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/pair"
	"github.com/bascule/bascule/postgres"
	"github.com/bascule/bascule/sqlite"
)

const (
	bot        = bascule.SampleBotID
	adminToken = "pair-test-token-0123456789abcdef0123"
)

// thePair is a main and a backup running as real processes, with a throwaway CA.
type thePair struct {
	t            *testing.T
	main, backup *testenv.Bascule
}

// pairOptions tune the pair under test.
type pairOptions struct {
	backupPeer string // more YAML under the backup's peer: section (e.g. a slow schedule)
	mainPeer   string
	// mainStore is the main's data.driver: sqlite (default) or postgres, on a database of
	// the test's own (the backup stays on SQLite: each server of a pair has its database).
	mainStore string
}

// postgresDSN holds the database of each server running on PostgreSQL, for openStopped.
var postgresDSN sync.Map // *testenv.Bascule -> DSN

func startPair(t *testing.T, o pairOptions) *thePair {
	t.Helper()
	tlsFiles, err := pair.ThrowawayCA(filepath.Join(t.TempDir(), "ca"), "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	mainAddr, backupAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	mainPeer, backupPeer := testenv.FreeAddr(t), testenv.FreeAddr(t)
	conf := func(role, peerURL, peerListen, peerExtra, data string) string {
		return fmt.Sprintf(`server:
  role: %s
peer:
  url: https://%s
  listen: %s
  tls:
    cert: %s
    key: %s
    ca: %s
  wait: 5s
%s%sadmin:
  tokens:
    - name: test
      token: %s
limits:
  per_client:
    rate: 0
log:
  level: warn
`, role, peerURL, peerListen, tlsFiles.Cert, tlsFiles.Key, tlsFiles.CA, peerExtra, data, adminToken)
	}
	mainData, dsn := "", ""
	if o.mainStore == "postgres" {
		dsn = testenv.Postgres(t)
		mainData = "data:\n  driver: postgres\n  dsn: " + dsn + "\n"
	}
	p := &thePair{t: t}
	p.main = testenv.StartBascule(t, testenv.BasculeOptions{Name: "main", Addr: mainAddr, Config: conf("main", backupPeer, mainPeer, o.mainPeer, mainData)})
	if dsn != "" {
		postgresDSN.Store(p.main, dsn)
		t.Cleanup(func() { postgresDSN.Delete(p.main) })
	}
	p.backup = testenv.StartBascule(t, testenv.BasculeOptions{Name: "backup", Addr: backupAddr, Config: conf("backup", mainPeer, backupPeer, o.backupPeer, "")})
	return p
}

// status reads a server's detailed status.
func status(t *testing.T, b *testenv.Bascule) map[string]any {
	t.Helper()
	resp, err := http.Get(b.URL + "/servlet/api/serverstatus?details=true")
	if err != nil {
		t.Fatalf("%s status: %v", b.Name, err)
	}
	defer resp.Body.Close()
	var st map[string]any
	json.NewDecoder(resp.Body).Decode(&st)
	st["httpStatus"] = resp.StatusCode
	return st
}

// replication returns the replication section of a status.
func replication(st map[string]any) map[string]any {
	r, _ := st["replication"].(map[string]any)
	return r
}

// caughtUp reports whether b has applied everything its peer has, on both streams.
func caughtUp(t *testing.T, b *testenv.Bascule) bool {
	r := replication(status(t, b))
	peer, _ := r["peer"].(map[string]any)
	if peer == nil || peer["reachable"] != true {
		return false
	}
	streams, _ := r["streams"].([]any)
	for _, s := range streams {
		m := s.(map[string]any)
		if m["waiting"].(float64) != 0 || m["lastError"] != nil {
			return false
		}
	}
	return len(streams) == 2
}

// settle waits until both servers have pulled everything from each other (twice in a row, so a
// change committed during the first look is not missed).
func (p *thePair) settle(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	ok := 0
	for ok < 2 {
		if caughtUp(p.t, p.main) && caughtUp(p.t, p.backup) {
			ok++
		} else {
			ok = 0
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the pair did not settle in %v:\nmain: %v\nbackup: %v", timeout, replication(status(p.t, p.main)), replication(status(p.t, p.backup)))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// eventually polls cond until it holds, and returns how long it took.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not true after %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// adminCall calls the admin API of a server.
func adminCall(t *testing.T, b *testenv.Bascule, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, b.URL+"/api/admin/v1/"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, b.Name, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// talk asks a question in the dydu form and returns the decoded values.
func talk(t *testing.T, b *testenv.Bascule, ctx, question, extra string) map[string]string {
	t.Helper()
	path := "/servlet/api/chat/talk/" + bot
	if ctx != "" {
		path += "/" + ctx
	}
	form := url.Values{"userInput": {question}, "language": {"en"}, "space": {"Defaut"}, "clientId": {"pair-client"}}.Encode() + extra
	resp, err := http.Post(b.URL+path, "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		t.Fatalf("talk on %s: %v", b.Name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("talk on %s: %d %s", b.Name, resp.StatusCode, body)
	}
	v, err := loadgen.DecodeValues(body)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// form posts a form to the chat API and returns the decoded values.
func form(t *testing.T, b *testenv.Bascule, path string, f url.Values) map[string]string {
	t.Helper()
	resp, err := http.Post(b.URL+path, "application/x-www-form-urlencoded", strings.NewReader(f.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	v, err := loadgen.DecodeValues(body)
	if err != nil {
		t.Fatalf("%s: %v %s", path, err, body)
	}
	return v
}

// historyQuestions returns the visitor questions of a context's history, in order.
func historyQuestions(t *testing.T, b *testenv.Bascule, ctx string) []string {
	t.Helper()
	h := form(t, b, "/servlet/api/chat/history/"+bot, url.Values{"contextUuid": {ctx}})
	var items []map[string]any
	if err := json.Unmarshal([]byte(h["interactions"]), &items); err != nil {
		t.Fatalf("history: %v", err)
	}
	var qs []string
	for _, it := range items {
		b, _ := base64.StdEncoding.DecodeString(it["user"].(string))
		qs = append(qs, string(b))
	}
	return qs
}

// readConfig returns a server's configuration file.
func readConfig(t *testing.T, b *testenv.Bascule) string {
	t.Helper()
	data, err := os.ReadFile(b.Config)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// openStopped opens a stopped server's database, to count what it holds.
func openStopped(t *testing.T, b *testenv.Bascule) bascule.Store {
	t.Helper()
	var st bascule.Store
	var err error
	if dsn, ok := postgresDSN.Load(b); ok {
		st, err = postgres.Open(context.Background(), dsn.(string), postgres.Options{})
	} else {
		st, err = sqlite.Open(context.Background(), b.DataDir, sqlite.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
