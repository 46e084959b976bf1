package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/loadgen"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/samplebot"
	"github.com/bascule/bascule/sqlite"
)

// runCLI runs the command in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &stdio{&out, &errb})
	return code, out.String(), errb.String()
}

func TestHelpOfEveryCommand(t *testing.T) {
	for _, c := range commands {
		code, out, errOut := runCLI(t, c.name, "-h")
		if code != 0 || !strings.Contains(out+errOut, "Usage: bascule "+c.name) {
			t.Errorf("%s -h: exit %d, output %q", c.name, code, out+errOut)
		}
	}
	if code, _, errOut := runCLI(t, "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d %q", code, errOut)
	}
	if code, out, _ := runCLI(t, "version"); code != 0 || !strings.HasPrefix(out, "bascule "+bascule.Version) {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir) // check reads ~/.bascule/options.env too
	good := filepath.Join(dir, "good.yml")
	os.WriteFile(good, []byte("server:\n  listen: 127.0.0.1:9000\n"), 0o600)
	if code, out, _ := runCLI(t, "check", "-config", good); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("good file: %d %q", code, out)
	}
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("server:\n  lisen: x\n  role: primary\n"), 0o600)
	code, _, errOut := runCLI(t, "check", "-config", bad)
	if code != 1 {
		t.Fatalf("bad file: exit %d", code)
	}
	for _, want := range []string{bad + ":2: server.lisen: unknown key (did you mean listen?)", bad + `:3: server.role: "primary" is not one of`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing %q in:\n%s", want, errOut)
		}
	}
	if code, _, _ := runCLI(t, "check"); code != 2 {
		t.Errorf("check without -config: exit %d, want 2", code)
	}
}

func TestKBCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	file := filepath.Join(dir, "sample.json")
	sample, _ := json.Marshal(samplebot.KnowledgeBase())
	os.WriteFile(file, sample, 0o600)
	code, out, errOut := runCLI(t, "kb", "import", "-data", data, file)
	if code != 0 || !strings.Contains(out, "imported bot "+bascule.SampleBotID) {
		t.Fatalf("import: %d %q %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, "kb", "export", "-data", data, "-bot", bascule.SampleBotID)
	if code != 0 || !strings.Contains(out, `"format": 1`) {
		t.Fatalf("export json: %d", code)
	}
	csvFile := filepath.Join(dir, "kb.csv")
	if code, _, errOut := runCLI(t, "kb", "export", "-data", data, "-bot", bascule.SampleBotID, "-format", "csv", "-o", csvFile); code != 0 {
		t.Fatalf("export csv: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "kb", "import", "-data", data, "-bot", bascule.SampleBotID, "-format", "csv", csvFile); code != 0 {
		t.Fatalf("import csv: %d %s", code, errOut)
	}
	// A bad file: the error names the item and the field, and nothing is written.
	var m map[string]any
	json.Unmarshal(sample, &m)
	m["knowledge"].([]any)[4].(map[string]any)["language"] = "xx"
	m["bot"].(map[string]any)["name"] = "Renamed"
	badJSON, _ := json.Marshal(m)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, badJSON, 0o600)
	code, _, errOut = runCLI(t, "kb", "import", "-data", data, bad)
	if code != 1 || !strings.Contains(errOut, `knowledge[4].language: "xx" is not a language of the bot`) || !strings.Contains(errOut, "nothing imported") {
		t.Fatalf("bad import: %d %q", code, errOut)
	}
	code, out, _ = runCLI(t, "kb", "export", "-data", data, "-bot", bascule.SampleBotID)
	if code != 0 || strings.Contains(out, "Renamed") {
		t.Fatal("a refused import changed the bot")
	}
}

// The README's first command: the demo serves the sample bot, and a curl POST in the dydu form
// gets an answer whose contextId works for the next talk, history and availablecontext.
func TestDemoAnswersInTheDyduForm(t *testing.T) {
	bin := testenv.BasculeBinary(t)
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(bin, "demo", "-main", addr, "-backup", testenv.FreeAddr(t), "-data", t.TempDir())
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	base := "http://" + addr
	// The demo prints its URL once both servers answer.
	printed := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), base+"/") {
				printed <- sc.Text()
			}
		}
	}()
	select {
	case <-printed:
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not print its URL")
	}
	post := func(path string, form url.Values) map[string]string {
		resp, err := http.Post(base+path, "application/x-www-form-urlencoded; charset=UTF-8", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		v, err := loadgen.DecodeValues(body)
		if err != nil {
			t.Fatalf("%s: %v %s", path, err, body)
		}
		return v
	}
	talk := url.Values{"alreadyCame": {"true"}, "clientId": {"c05fa63649d04a4"}, "language": {"en"}, "space": {"Defaut"},
		"userInput": {"Where is my order?"}, "solutionUsed": {"ASSISTANT"}, "variables": {"{}"}, "mode": {"U3luY2hyb24="}}
	v := post("/servlet/api/chat/talk/"+bascule.SampleBotID, talk)
	ctx := v["contextId"]
	if !strings.Contains(strings.ToLower(v["text"]), "order") || !bascule.IsID(ctx) {
		t.Fatalf("answer: %v", v)
	}
	talk.Set("userInput", "How can I return an item?")
	if v2 := post("/servlet/api/chat/talk/"+bascule.SampleBotID+"/"+ctx, talk); v2["contextId"] != ctx {
		t.Fatalf("next talk changed context: %v", v2)
	}
	if h := post("/servlet/api/chat/history/"+bascule.SampleBotID, url.Values{"contextUuid": {ctx}}); !strings.Contains(h["interactions"], "user") {
		t.Fatalf("history: %v", h)
	}
	if a := post("/servlet/api/chat/availablecontext/"+bascule.SampleBotID+"/"+ctx, nil); a["isContextStillAvailable"] != "true" {
		t.Fatalf("availablecontext: %v", a)
	}
}

// A kill -9 during a bench run loses no answered interaction: every question a client saw
// answered is in the database after the restart.
func TestKill9LosesNoAnsweredInteraction(t *testing.T) {
	srv := testenv.StartBascule(t, testenv.BasculeOptions{Name: "victim", Config: "log:\n  level: warn\nlimits:\n  per_client:\n    rate: 0\n"})
	var mu sync.Mutex
	answered := map[string]string{} // interaction -> context
	var qs []loadgen.Question
	for _, h := range samplebot.HeldOut() {
		qs = append(qs, loadgen.Question{Text: h.Question, Language: h.Language})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan loadgen.Result)
	go func() {
		done <- loadgen.Dialogs(ctx, loadgen.Options{Target: srv.URL, Bot: bascule.SampleBotID, Concurrency: 16, Duration: time.Minute,
			Questions: qs, OnAnswer: func(id, c string) { mu.Lock(); answered[id] = c; mu.Unlock() }})
	}()
	for {
		mu.Lock()
		n := len(answered)
		mu.Unlock()
		if n >= 300 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Kill()
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	srv.Start()
	srv.Stop()
	st, err := sqlite.Open(context.Background(), srv.DataDir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lost := 0
	byDialog := map[string][]string{}
	for id, c := range answered {
		byDialog[c] = append(byDialog[c], id)
	}
	for c, ids := range byDialog {
		ins, err := st.Interactions(context.Background(), c, 0)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, in := range ins {
			have[in.ID] = true
		}
		for _, id := range ids {
			if !have[id] {
				lost++
			}
		}
	}
	t.Logf("kill -9 after %d answered questions: lost=%d", len(answered), lost)
	if lost > 0 {
		t.Fatalf("%d answered interactions lost by kill -9", lost)
	}
}

// slowBody sends half of a form, pauses, then the rest: a request still in flight.
type slowBody struct {
	data   []byte
	paused bool
	pause  chan struct{}
}

func (b *slowBody) Read(p []byte) (int, error) {
	if len(b.data) == 0 {
		return 0, io.EOF
	}
	if !b.paused && len(p) > 0 {
		b.paused = true
		n := copy(p, b.data[:len(b.data)/2])
		b.data = b.data[n:]
		close(b.pause)
		return n, nil
	}
	time.Sleep(700 * time.Millisecond)
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

// SIGTERM lets a request in flight finish with its answer, and the database is closed
// cleanly (its write-ahead log checkpointed and removed).
func TestGracefulShutdown(t *testing.T) {
	srv := testenv.StartBascule(t, testenv.BasculeOptions{Name: "graceful", Config: "log:\n  level: warn\n"})
	form := url.Values{"userInput": {"Where is my order?"}, "language": {"en"}, "clientId": {"c1"}}.Encode()
	body := &slowBody{data: []byte(form), pause: make(chan struct{})}
	req, _ := http.NewRequest("POST", srv.URL+"/servlet/api/chat/talk/"+bascule.SampleBotID, body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.ContentLength = int64(len(form))
	type result struct {
		code int
		body []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{code: resp.StatusCode, body: b}
	}()
	<-body.pause
	time.Sleep(100 * time.Millisecond) // the request is being read when the signal comes
	stopped := make(chan struct{})
	t0 := time.Now()
	go func() { srv.Stop(); close(stopped) }()
	r := <-done
	t.Logf("answered %v after the signal", time.Since(t0))
	<-stopped
	t.Logf("stopped %v after the signal", time.Since(t0))
	if r.err != nil || r.code != 200 {
		t.Fatalf("the request in flight at SIGTERM: %d %v %s", r.code, r.err, r.body)
	}
	if v, err := loadgen.DecodeValues(r.body); err != nil || !strings.Contains(v["text"], "order") {
		t.Fatalf("the request in flight did not get its answer: %v %s", err, r.body)
	}
	if st, err := os.Stat(filepath.Join(srv.DataDir, sqlite.FileName+"-wal")); err == nil && st.Size() > 0 {
		t.Fatalf("the database was not closed cleanly: its write-ahead log holds %d bytes", st.Size())
	}
	if !strings.Contains(srv.Logs(), "stopped (terminated)") {
		t.Fatalf("logs: %s", srv.Logs())
	}
}
