package chatapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/chatapi"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/internal/httpx"
	"github.com/bascule/bascule/kb"
	"github.com/bascule/bascule/ratelimit"
	"github.com/bascule/bascule/samplebot"
	"github.com/bascule/bascule/sqlite"
)

const bot = bascule.SampleBotID

// env is a chat API over a real engine and a real SQLite store holding the sample bot.
type env struct {
	t     *testing.T
	api   *chatapi.API
	store bascule.Store
	now   time.Time
}

func newEnv(t *testing.T, tune func(*chatapi.Options)) *env {
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
	e := &env{t: t, store: st, now: time.Now()}
	clock := func() time.Time { return e.now }
	opt := chatapi.Options{Engine: engine.New(st, engine.Options{Now: clock}), MaxBody: 64 << 10, Now: clock,
		Status: &chatapi.Status{ServerID: st.ServerID(), Role: func() string { return "standalone" }}}
	if tune != nil {
		tune(&opt)
	}
	e.api = chatapi.New(opt)
	return e
}

// do sends a request as the dydu chatbox does and returns the recorder.
func (e *env) do(method, path, body string, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
	}
	r.Header.Set("Origin", "https://shop.example")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, r)
	return w
}

// values decodes a dydu envelope's values: strings are base64-decoded, as the chatbox does.
func values(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if w.Code/100 != 2 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var env struct {
		Values map[string]any `json:"values"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		t.Fatalf("not JSON: %v: %s", err, w.Body)
	}
	return decodeAll(t, env.Values).(map[string]any)
}

func decodeAll(t *testing.T, v any) any {
	switch x := v.(type) {
	case string:
		b, err := base64.StdEncoding.DecodeString(x)
		if err != nil {
			t.Fatalf("string value %q is not base64: %v", x, err)
		}
		return string(b)
	case map[string]any:
		for k, e := range x {
			x[k] = decodeAll(t, e)
		}
	case []any:
		for i, e := range x {
			x[i] = decodeAll(t, e)
		}
	}
	return v
}

func talkForm(input, lang string) string {
	return url.Values{"alreadyCame": {"true"}, "browser": {"Chrome 156.0.0.0"}, "clientId": {"c05fa63649d04a4"},
		"language": {lang}, "os": {"Linux undefined"}, "qualificationMode": {"false"}, "space": {"Defaut"},
		"userInput": {input}, "userUrl": {"https://shop.example/page"}, "solutionUsed": {"ASSISTANT"},
		"variables": {"{}"}, "mode": {"U3luY2hyb24="}}.Encode()
}

func (e *env) talk(ctx, input, lang string) map[string]any {
	e.t.Helper()
	path := "/servlet/api/chat/talk/" + bot
	if ctx != "" {
		path += "/" + ctx
	}
	return values(e.t, e.do("POST", path, talkForm(input, lang)))
}

// §13.1: both prefixes, the servlet history path, with or without a trailing slash.
func TestPrefixesAndTrailingSlash(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"/servlet/api/chat/talk/" + bot, "/api/chat/talk/" + bot, "/servlet/api/chat/talk/" + bot + "/",
		"/servlet//api/chat/talk/" + bot} {
		w := e.do("POST", p, talkForm("Where is my order?", "en"))
		v := values(t, w)
		if v["typeResponse"] != bascule.TypeUnderstood {
			t.Errorf("%s: typeResponse %v", p, v["typeResponse"])
		}
	}
	ctx := e.talk("", "Where is my order?", "en")["contextId"].(string)
	for _, p := range []string{"/servlet/history?context=" + ctx, "/history?context=" + ctx} {
		w := e.do("GET", p, "")
		if w.Code != 200 || !strings.Contains(w.Body.String(), "Where is my order?") || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s", p, w.Code, w.Body)
		}
	}
}

// §13.2: CORS on every response, errors included; OPTIONS answered 204 with the headers.
func TestCORS(t *testing.T) {
	e := newEnv(t, nil)
	for _, w := range []*httptest.ResponseRecorder{
		e.do("POST", "/servlet/api/chat/talk/"+bot, talkForm("hello", "en")),
		e.do("POST", "/servlet/api/chat/talk/00000000-0000-4000-8000-000000000000", talkForm("hello", "en")),
		e.do("GET", "/servlet/api/nothing/here", ""),
		e.do("GET", "/servlet/api/serverstatus", ""),
	} {
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("status %d without Access-Control-Allow-Origin (%q)", w.Code, got)
		}
	}
	w := e.do("OPTIONS", "/servlet/api/chat/talk/"+bot, "", "Access-Control-Request-Headers", "Authorization, OIDCAccessToken")
	if w.Code != http.StatusNoContent || !strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "OIDCAccessToken") ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", w.Code, w.Header())
	}
}

// §13.3-5: form bodies parsed; every endpoint of §8 answers 2xx JSON; strings in values are
// base64, booleans and numbers are JSON ones; JSON payloads are base64 JSON text.
func TestEveryEndpointAnswers2xxJSON(t *testing.T) {
	e := newEnv(t, nil)
	ctx := e.talk("", "#welcome#", "fr")["contextId"].(string)
	e.talk(ctx, "Où est ma commande ?", "fr")
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/servlet/api/serverstatus", ""},
		{"POST", "/servlet/api/chat/pushrules/" + bot, ""},
		{"POST", "/servlet/api/chat/welcomecall/" + bot, "contextUuid=&language=fr&qualificationMode=false&solutionUsed=ASSISTANT&space=Defaut&variables=%7B%7D"},
		{"POST", "/servlet/api/chat/availablecontext/" + bot + "/" + ctx, ""},
		{"GET", "/servlet/api/chat/status/" + bot + "/" + ctx, ""},
		{"GET", "/servlet/api/account/dydubox/bots/language?botUUID=" + bot, ""},
		{"POST", "/servlet/api/chat/topknowledge/" + bot, "language=fr&maxKnowledge=3&period=Last30Days&space=Defaut&solutionUsed=ASSISTANT"},
		{"POST", "/servlet/api/chat/history/" + bot, "contextUuid=" + ctx + "&solutionUsed=ASSISTANT"},
		{"POST", "/servlet/api/chat/search/" + bot, "language=fr&search=commande&space=Defaut&onlyShowRewordables=true"},
		{"POST", "/servlet/api/chat/feedback/" + bot, "contextUUID=" + ctx + "&feedBack=negative&solutionUsed=ASSISTANT"},
		{"POST", "/servlet/api/chat/feedback/insatisfaction/" + bot, "choiceKey=0&contextUUID=" + ctx + "&solutionUsed=ASSISTANT"},
		{"POST", "/servlet/api/chat/feedback/comment/" + bot, "comment=trop%20court&contextUUID=" + ctx + "&solutionUsed=ASSISTANT"},
		{"POST", "/servlet/api/chat/variable/" + bot, "contextUuid=" + ctx + "&name=order&solutionUsed=ASSISTANT&value=A-42"},
		{"POST", "/servlet/api/chat/gdpr/" + bot, "clientId=c05fa63649d04a4&language=fr&mail=a%40b.c&object=Get"},
		{"POST", "/servlet/api/chat/context/" + bot, "alreadyCame=true&clientId=x&language=fr&space=fr&solutionUsed=ASSISTANT"},
		{"POST", "/servlet/api/chat/poll/last/" + bot, "solutionUsed=LIVECHAT&format=JSon&space=Defaut&contextUuid=" + ctx + "&language=fr&lastPoll=null"},
		{"POST", "/servlet/api/chat/typing/" + bot, "typing=true&content=&contextId=" + ctx + "&solutionUsed=ASSISTANT"},
		{"POST", "/servlet/api/chat/reading/" + bot, "reading=true&contextId=" + ctx + "&solutionUsed=ASSISTANT&mode=cG9sbGluZw%3D%3D"},
		{"POST", "/servlet/api/chat/survey/configuration/" + bot, "contextUuid=" + ctx + "&solutionUsed=ASSISTANT&language=fr&surveyId=null"},
		{"POST", "/servlet/api/chat/survey/" + bot, "ctx=" + ctx + "&uuid=s1&field_1=très bien & merci"},
		{"GET", "/servlet/api/whoami", ""},
	} {
		w := e.do(c.method, c.path, c.body)
		if w.Code/100 != 2 {
			t.Errorf("%s %s: status %d %s", c.method, c.path, w.Code, w.Body)
			continue
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q", c.path, ct)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Errorf("%s: not JSON: %s", c.path, w.Body)
		}
	}
	// Typed values (§5, §8.4, §8.6, §8.9).
	if v := values(t, e.do("POST", "/servlet/api/chat/availablecontext/"+bot+"/"+ctx, "")); v["isContextStillAvailable"] != true {
		t.Errorf("availablecontext: %v", v)
	}
	var langs []map[string]any
	json.Unmarshal(e.do("GET", "/api/account/dydubox/bots/language?botUUID="+bot, "").Body.Bytes(), &langs)
	if len(langs) != 2 || langs[0]["isAvailable"] != true {
		t.Errorf("languages: %v", langs)
	}
	top := values(t, e.do("POST", "/servlet/api/chat/topknowledge/"+bot, "language=fr&maxKnowledge=3&period=Last30Days&space=Defaut"))
	var articles []map[string]any
	if err := json.Unmarshal([]byte(top["knowledgeArticles"].(string)), &articles); err != nil || len(articles) != 1 || articles[0]["reword"] == "" {
		t.Errorf("topknowledge from real usage (one question asked): %v %v", top, err)
	}
}

// §13.7: the first talk creates the context; it works for the next talk, history and
// availablecontext; #reset# is answered normally and the next welcome opens a new context.
func TestContextLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	v := e.talk("", "Where is my order?", "en")
	ctx, _ := v["contextId"].(string)
	if !bascule.IsID(ctx) || !strings.Contains(v["text"].(string), "order") || v["askFeedback"] != false || v["human"] != false {
		t.Fatalf("first talk: %v", v)
	}
	if _, ok := v["serverTime"].(float64); !ok {
		t.Fatalf("serverTime must be a number: %v", v["serverTime"])
	}
	v2 := e.talk(ctx, "How long does delivery take?", "en")
	if v2["contextId"] != ctx {
		t.Fatalf("the second talk changed context: %v", v2["contextId"])
	}
	h := values(t, e.do("POST", "/servlet/api/chat/history/"+bot, "contextUuid="+ctx+"&solutionUsed=ASSISTANT"))
	ins := h["interactions"].([]any)
	if len(ins) != 2 || ins[0].(map[string]any)["user"] != "Where is my order?" || ins[1].(map[string]any)["type"] == "" {
		t.Fatalf("history: %v", h)
	}
	if _, ok := ins[0].(map[string]any)["timestamp"].(float64); !ok {
		t.Fatalf("history timestamp must be a number")
	}
	reset := e.talk(ctx, "#reset#", "en")
	if _, has := reset["contextId"]; has {
		t.Fatalf("#reset# must not hand out a context (the chatbox asks #welcome# next): %v", reset)
	}
	w := e.talk("", "#welcome#", "en")
	if w["contextId"] == ctx || !strings.Contains(w["text"].(string), "Maison Bascule") && w["text"] == "" {
		t.Fatalf("welcome after reset: %v", w)
	}
	// The welcome is not an interaction (doNotRegisterInteraction): history stays empty.
	h2 := values(t, e.do("POST", "/servlet/api/chat/history/"+bot, "contextUuid="+w["contextId"].(string)))
	if n := len(h2["interactions"].([]any)); n != 0 {
		t.Fatalf("history of a fresh context holds %d interactions", n)
	}
	// After 10 minutes without activity the context is archived: a new one is handed out.
	e.now = e.now.Add(11 * time.Minute)
	if v := values(t, e.do("POST", "/servlet/api/chat/availablecontext/"+bot+"/"+ctx, "")); v["isContextStillAvailable"] != false {
		t.Fatalf("an archived context is still available")
	}
	if v := e.talk(ctx, "Where is my order?", "en"); v["contextId"] == ctx {
		t.Fatal("a talk on an archived context must start a new one")
	}
}

// Reword answers carry clickable suggestions; misunderstood answers escalate after a run.
func TestRewordAndMisunderstood(t *testing.T) {
	e := newEnv(t, nil)
	ctx := e.talk("", "#welcome#", "en")["contextId"].(string)
	var types []string
	for range 3 {
		types = append(types, e.talk(ctx, "purple elephants dancing on the moon", "en")["typeResponse"].(string))
	}
	if types[0] != bascule.TypeMisunderstood || types[2] != bascule.TypeTooManyMisunderstood {
		t.Fatalf("three misunderstood questions in a row: %v", types)
	}
	v := e.talk(ctx, "delivery", "en")
	if v["typeResponse"] == bascule.TypeReword {
		if rw, ok := v["rewords"].([]any); !ok || len(rw) == 0 || len(rw) > 3 {
			t.Fatalf("reword without suggestions: %v", v)
		}
	}
}

// The bad inputs of the issue, each with its documented answer; nothing crashes and nothing is
// stored twice.
func TestBadInputs(t *testing.T) {
	e := newEnv(t, func(o *chatapi.Options) {
		o.PerClient = ratelimit.New(5, 5)
		o.MaxBody = 16 << 10
		// httptest's requests come from 192.0.2.1: make it the trusted reverse proxy, so each
		// case can come from its own visitor address.
		o.Proxies, _ = httpx.ParseProxies([]string{"192.0.2.1"})
	})
	ctx := e.talk("", "#welcome#", "en")["contextId"].(string)
	ip := 0
	do := func(path, body string) *httptest.ResponseRecorder {
		ip++ // each case from its own address, so the flood case alone meets the limit
		return e.do("POST", path, body, "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", ip))
	}
	talkPath := "/servlet/api/chat/talk/" + bot + "/" + ctx
	for _, c := range []struct {
		name   string
		path   string
		body   string
		status int
		check  func(t *testing.T, w *httptest.ResponseRecorder)
	}{
		{"10,000-character question", talkPath, talkForm(strings.Repeat("where is my order ", 556), "en"), 200, func(t *testing.T, w *httptest.ResponseRecorder) {
			if v := values(t, w); v["typeResponse"] != bascule.TypeTooLong {
				t.Errorf("typeResponse %v, want %s", v["typeResponse"], bascule.TypeTooLong)
			}
		}},
		{"empty question", talkPath, talkForm("   ", "en"), 200, func(t *testing.T, w *httptest.ResponseRecorder) {
			if v := values(t, w); v["typeResponse"] != bascule.TypeEmpty {
				t.Errorf("typeResponse %v, want %s", v["typeResponse"], bascule.TypeEmpty)
			}
		}},
		{"invalid UTF-8", talkPath, "language=en&userInput=where%20is%20my%20%FF%FEorder", 200, func(t *testing.T, w *httptest.ResponseRecorder) {
			values(t, w)
		}},
		{"HTML and script", talkPath, talkForm(`&lt;script&gt;alert(1)&lt;/script&gt;<img src=x onerror=alert(1)> where is my order`, "en"), 200, func(t *testing.T, w *httptest.ResponseRecorder) {
			v := values(t, w)
			if strings.Contains(v["text"].(string), "<script") || strings.Contains(v["text"].(string), "onerror") {
				t.Errorf("visitor HTML reflected in the answer: %v", v["text"])
			}
		}},
		{"unknown bot", "/servlet/api/chat/talk/00000000-0000-4000-8000-000000000000", talkForm("hello", "en"), 404, func(t *testing.T, w *httptest.ResponseRecorder) {
			if !strings.Contains(w.Body.String(), "no bot 00000000-0000-4000-8000-000000000000") {
				t.Errorf("unknown bot answer does not say so: %s", w.Body)
			}
		}},
		{"malformed bot id", "/servlet/api/chat/talk/not-a-bot", talkForm("hello", "en"), 404, nil},
		{"malformed context id", "/servlet/api/chat/talk/" + bot + "/%3Cscript%3Ealert(1)%3C%2Fscript%3E", talkForm("Where is my order?", "en"), 200, func(t *testing.T, w *httptest.ResponseRecorder) {
			if v := values(t, w); !bascule.IsID(v["contextId"].(string)) || v["contextId"] == ctx {
				t.Errorf("a malformed context must get a new one: %v", v["contextId"])
			}
		}},
		{"foreign context id", "/servlet/api/chat/talk/" + bot + "/" + bascule.NewID(), talkForm("Where is my order?", "en"), 200, func(t *testing.T, w *httptest.ResponseRecorder) {
			if v := values(t, w); v["contextId"] == ctx {
				t.Errorf("an unknown context must get a new one")
			}
		}},
		{"foreign context history", "/servlet/api/chat/history/" + bot, "contextUuid=" + bascule.NewID(), 200, func(t *testing.T, w *httptest.ResponseRecorder) {
			if v := values(t, w); len(v["interactions"].([]any)) != 0 {
				t.Errorf("history of an unknown context: %v", v)
			}
		}},
		{"oversized body", talkPath, talkForm(strings.Repeat("x", 20<<10), "en"), 413, func(t *testing.T, w *httptest.ResponseRecorder) {
			if !strings.Contains(w.Body.String(), "larger than") {
				t.Errorf("413 body: %s", w.Body)
			}
		}},
		{"malformed form escape", talkPath, "language=en&userInput=where%zzis", 400, func(t *testing.T, w *httptest.ResponseRecorder) {
			if !strings.Contains(w.Body.String(), `"field":"userInput"`) {
				t.Errorf("the error does not name the field: %s", w.Body)
			}
		}},
		{"bad feedback value", "/servlet/api/chat/feedback/" + bot, "contextUUID=" + ctx + "&feedBack=maybe", 400, nil},
		{"bad gdpr object", "/servlet/api/chat/gdpr/" + bot, "clientId=x&object=Steal", 400, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := do(c.path, c.body)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if c.check != nil {
				c.check(t, w)
			}
		})
	}
	t.Run("flood from one client", func(t *testing.T) {
		var limited *httptest.ResponseRecorder
		for range 20 {
			w := e.do("POST", talkPath, talkForm("Where is my order?", "en"), "X-Forwarded-For", "198.51.100.7")
			if w.Code == http.StatusTooManyRequests {
				limited = w
				break
			}
		}
		if limited == nil || limited.Header().Get("Retry-After") == "" {
			t.Fatal("a flood from one client was never answered 429 with Retry-After")
		}
		if w := e.do("POST", talkPath, talkForm("Where is my order?", "en"), "X-Forwarded-For", "198.51.100.8"); w.Code != 200 {
			t.Fatalf("another client was limited too: %d", w.Code)
		}
	})
	// Nothing stored twice: every interaction id of the dialog is unique and N has no gap.
	ins, err := e.store.Interactions(context.Background(), ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, in := range ins {
		if seen[in.ID] || in.N != i+1 {
			t.Fatalf("interaction %d (%s) stored twice or out of order (N=%d)", i, in.ID, in.N)
		}
		seen[in.ID] = true
		if strings.ContainsRune(in.Question, '\uFFFD') && strings.Contains(in.Question, "\xff") {
			t.Fatalf("invalid UTF-8 stored: %q", in.Question)
		}
	}
}

// A question retried with the same interactionId (our chatbox does, after a failure) is one
// interaction.
func TestRetriedQuestionIsOneInteraction(t *testing.T) {
	e := newEnv(t, nil)
	ctx := e.talk("", "#welcome#", "en")["contextId"].(string)
	id := bascule.NewOrderedID(time.Now())
	for range 3 {
		e.do("POST", "/servlet/api/chat/talk/"+bot+"/"+ctx, talkForm("Where is my order?", "en")+"&interactionId="+id)
	}
	ins, _ := e.store.Interactions(context.Background(), ctx, 0)
	if len(ins) != 1 || ins[0].ID != id {
		t.Fatalf("%d interactions stored for one question sent three times", len(ins))
	}
}

// serverstatus: dydu's fields plus the server's identity; 503 when the database fails.
func TestServerStatus(t *testing.T) {
	e := newEnv(t, nil)
	var st map[string]any
	json.Unmarshal(e.do("GET", "/servlet/api/serverstatus?details=true", "").Body.Bytes(), &st)
	server, _ := st["server"].(map[string]any)
	apps, _ := st["applications"].([]any)
	if st["status"] != "Ok" || server["id"] != e.store.ServerID() || server["role"] != "standalone" || len(apps) != 0 {
		t.Fatalf("status: %v", st)
	}
	if _, ok := st["requests"].(map[string]any)["total"].(float64); !ok {
		t.Fatalf("request counters: %v", st["requests"])
	}
	failing := newEnv(t, func(o *chatapi.Options) {
		o.Status.AddCheck("database", true, func(context.Context) error { return fmt.Errorf("disk full") })
	})
	w := failing.do("GET", "/servlet/api/serverstatus?details=true", "")
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"Ko"`) {
		t.Fatalf("failing check: %d %s", w.Code, w.Body)
	}
}

// GDPR: Get returns the client's dialogs, Delete erases them.
func TestGDPR(t *testing.T) {
	e := newEnv(t, nil)
	e.talk("", "Where is my order?", "en")
	get := values(t, e.do("POST", "/servlet/api/chat/gdpr/"+bot, "clientId=c05fa63649d04a4&object=Get"))
	if !strings.Contains(get["data"].(string), "Where is my order?") {
		t.Fatalf("GDPR Get: %v", get)
	}
	del := values(t, e.do("POST", "/servlet/api/chat/gdpr/"+bot, "clientId=c05fa63649d04a4&object=Delete"))
	if del["deletedDialogs"] != float64(1) {
		t.Fatalf("GDPR Delete: %v", del)
	}
	get = values(t, e.do("POST", "/servlet/api/chat/gdpr/"+bot, "clientId=c05fa63649d04a4&object=Get"))
	if strings.Contains(get["data"].(string), "order") {
		t.Fatalf("data left after Delete: %v", get)
	}
}

// FuzzTalk sends arbitrary bodies and paths to the talk endpoint: the API answers with a
// status it documents, never a panic or a 500.
func FuzzTalk(f *testing.F) {
	f.Add("userInput=hello&language=en", "")
	f.Add("userInput=%FF%FE&language=zz&space=", "abc")
	f.Add("userInput="+strings.Repeat("a", 700), bascule.NewID())
	f.Add("interactionId=zz&userInput=_pushcondition_:999999999999999999999", "")
	f.Add("userInput=%23reset%23", "")
	e := newEnv(&testing.T{}, nil)
	f.Fuzz(func(t *testing.T, body, ctx string) {
		e.t = t
		r := httptest.NewRequest("POST", "/servlet/api/chat/talk/"+bot+"/"+url.PathEscape(ctx), strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		e.api.ServeHTTP(w, r)
		switch w.Code {
		case 200, 400, 404, 413:
		default:
			t.Fatalf("status %d for body %q ctx %q: %s", w.Code, body, ctx, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %s", w.Body)
		}
		io.Copy(io.Discard, w.Body)
	})
}

// What a visitor sends never reaches the logs raw: a failure logged with a path full of line
// breaks and terminal escapes is one line, with them escaped.
func TestVisitorInputIsEscapedInLogs(t *testing.T) {
	var logs strings.Builder
	e := newEnv(t, func(o *chatapi.Options) { o.Log = slog.New(slog.NewTextHandler(&logs, nil)) })
	e.store.Close() // every write now fails: an internal error, logged
	w := e.do("POST", "/servlet/api/chat/talk/"+bot+"/%0Aforged%20level=ERROR%20msg=%1B[31mowned", talkForm("hello\nlevel=ERROR", "en"))
	if w.Code != 500 || strings.Contains(w.Body.String(), "closed") {
		t.Fatalf("answer to a failure: %d %s", w.Code, w.Body)
	}
	out := logs.String()
	if n := strings.Count(out, "\n"); n != 1 {
		t.Fatalf("one failure logged as %d lines:\n%s", n, out)
	}
	if strings.ContainsRune(out, '\x1b') || !strings.Contains(out, `\n`) {
		t.Fatalf("visitor input reached the log unescaped: %q", out)
	}
}
