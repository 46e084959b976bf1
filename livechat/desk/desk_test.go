package desk_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/bus"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/kb"
	"github.com/bascule/bascule/livechat"
	"github.com/bascule/bascule/livechat/desk"
	"github.com/bascule/bascule/ratelimit"
	"github.com/bascule/bascule/samplebot"
	"github.com/bascule/bascule/sqlite"
)

type pairView struct{}

func (pairView) SelfURL() string     { return "https://app1.example.com" }
func (pairView) PeerURL() string     { return "https://app2.example.com:8443" }
func (pairView) PeerReachable() bool { return true }
func (pairView) PreferPeer() bool    { return false }

type env struct {
	t      *testing.T
	srv    *httptest.Server
	engine *engine.Engine
	lc     *livechat.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := (&kb.Service{Store: st}).Import(ctx, samplebot.KnowledgeBase()); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, engine: engine.New(st, engine.Options{})}
	e.lc = livechat.New(livechat.Options{Store: st, Engine: e.engine, Bus: bus.NewMemory(), Pair: pairView{},
		Logins: ratelimit.New(1.0/60, 3)})
	e.engine.SetLivechat(e.lc)
	accounts := &livechat.Accounts{Store: st}
	for _, a := range []bascule.Account{
		{Login: "ann", Name: "Ann", Competencies: []string{"support"}, Capacity: 1, Password: "ann's password"},
		{Login: "bob", Name: "Bob", Competencies: []string{"support"}, Capacity: 1, Password: "bob's password"},
		{Login: "sue", Name: "Sue", Role: bascule.RoleSupervisor, Capacity: 1, Password: "sue's password"},
	} {
		if err := accounts.Put(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	e.srv = httptest.NewServer(desk.New(desk.Options{Livechat: e.lc, Pair: pairView{}, Script: "/chatbox/desk.x.js", Style: "/chatbox/desk.x.css"}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) call(method, path, token, body string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (e *env) login(login string) string {
	e.t.Helper()
	code, out := e.call("POST", "/router/api/login", "", `{"login":"`+login+`","password":"`+login+`'s password"}`)
	if code != 200 {
		e.t.Fatalf("login %s: %d %v", login, code, out)
	}
	if s := out["servers"].(map[string]any); s["peer"] != "https://app2.example.com:8443" {
		e.t.Fatalf("the desk is not told the peer: %v", out)
	}
	return out["token"].(string)
}

// escalate makes a visitor ask for a human and returns the dialog.
func (e *env) escalate() string {
	e.t.Helper()
	res, err := e.engine.Talk(context.Background(), &engine.TalkRequest{BotID: bascule.SampleBotID, Input: "I want to talk to a human", Language: "en"})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Dialog.ID
}

// stream opens a desk's event stream and returns its events.
func (e *env) stream(token string) <-chan [2]string {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/router/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("events: %v %v", resp, err)
	}
	out := make(chan [2]string, 100)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var event string
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				event = v
			} else if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				out <- [2]string{event, v}
			}
		}
	}()
	return out
}

func next(t *testing.T, events <-chan [2]string, event string) string {
	t.Helper()
	for deadline := time.After(5 * time.Second); ; {
		select {
		case ev := <-events:
			if ev[0] == event {
				return ev[1]
			}
		case <-deadline:
			t.Fatalf("no %s event", event)
		}
	}
}

// TestEverythingNeedsASession: every desk endpoint but the login and the page answers 401
// without a valid session.
func TestEverythingNeedsASession(t *testing.T) {
	e := newEnv(t)
	id := bascule.NewID()
	for _, ep := range []string{"GET session", "POST logout", "GET events", "GET dialogs", "GET dialogs/" + id, "POST dialogs/" + id + "/messages",
		"POST dialogs/" + id + "/typing", "POST dialogs/" + id + "/take", "POST dialogs/" + id + "/transfer", "POST dialogs/" + id + "/close",
		"POST status", "GET operators"} {
		method, path, _ := strings.Cut(ep, " ")
		for _, token := range []string{"", "not-a-token", "YW5u.1.99999999999.forged"} {
			if code, out := e.call(method, desk.APIPrefix+path, token, `{}`); code != 401 {
				t.Errorf("%s with token %q: %d %v", ep, token, code, out)
			}
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		if code, _ := e.call("POST", "/router/api/login", "", `{"login":"ann","password":"guess `+string(rune('a'+i))+`"}`); code != 401 {
			t.Fatalf("wrong password %d: %d", i, code)
		}
	}
	code, out := e.call("POST", "/router/api/login", "", `{"login":"ann","password":"ann's password"}`)
	if code != 429 {
		t.Fatalf("the fourth attempt within a minute: %d %v", code, out)
	}
}

// TestOperatorsSeeTheirDialogs: an operator's desk shows the dialogs routed to them, and
// lets them act on theirs only; a supervisor's shows all.
func TestOperatorsSeeTheirDialogs(t *testing.T) {
	e := newEnv(t)
	ann, bob, sue := e.login("ann"), e.login("bob"), e.login("sue")
	annEvents := e.stream(ann)
	next(t, annEvents, "hello")
	next(t, annEvents, "dialogs")
	dialog := e.escalate() // Ann is the only operator at a desk
	var dv map[string]any
	json.Unmarshal([]byte(next(t, annEvents, "dialog")), &dv)
	if dv["dialogId"] != dialog || dv["operator"] != "ann" || dv["status"] != "assigned" {
		t.Fatalf("Ann's desk: %v", dv)
	}
	if code, _ := e.call("POST", "/router/api/dialogs/"+dialog+"/messages", ann, `{"text":"Hello from Ann"}`); code != 200 {
		t.Fatalf("Ann writes: %d", code)
	}
	// Bob does not see it, and cannot write in it or end it.
	if _, out := e.call("GET", "/router/api/dialogs", bob, ""); len(out["dialogs"].([]any)) != 0 {
		t.Fatalf("Bob's desk: %v", out)
	}
	for _, ep := range []string{"GET dialogs/" + dialog, "POST dialogs/" + dialog + "/messages", "POST dialogs/" + dialog + "/close"} {
		method, path, _ := strings.Cut(ep, " ")
		if code, out := e.call(method, "/router/api/"+path, bob, `{"text":"hijack"}`); code != 404 {
			t.Errorf("Bob: %s: %d %v", ep, code, out)
		}
	}
	// Sue, a supervisor, sees it with its history.
	code, out := e.call("GET", "/router/api/dialogs/"+dialog, sue, "")
	if code != 200 || !strings.Contains(toJSON(out["interactions"]), "Hello from Ann") {
		t.Fatalf("Sue reads the dialog: %d %v", code, out)
	}
	if code, _ := e.call("POST", "/router/api/dialogs/"+dialog+"/close", sue, ""); code != 204 {
		t.Fatalf("Sue ends it: %d", code)
	}
	if code, out := e.call("POST", "/router/api/status", ann, `{"status":"lunch"}`); code != 400 {
		t.Fatalf("an unknown status: %d %v", code, out)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestPageAndRedirect(t *testing.T) {
	e := newEnv(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/livechat2", "/livechat2/", "/livechat2/anything"} {
		resp, err := client.Get(e.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 302 || resp.Header.Get("Location") != "/router" {
			t.Errorf("%s: %d to %q", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, err := http.Get(e.srv.URL + "/router")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(string(body), `src="/chatbox/desk.x.js"`) || !strings.Contains(csp, "connect-src 'self' https://app2.example.com:8443;") ||
		!strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("page: %s\nCSP: %s", body, csp)
	}
	resp, err = http.Get(e.srv.URL + "/router/api/ping")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("ping: %v %v", resp, err)
	}
	resp.Body.Close()
}
