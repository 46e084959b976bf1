package chatapi_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/bus"
	"github.com/bascule/bascule/chatapi"
	"github.com/bascule/bascule/livechat"
)

// livechatEnv is the chat API with a livechat, an escalation in the sample bot and an
// operator named "dydu" (a name the dydu chatbox's second decoding would garble, §5.2).
type livechatEnv struct {
	*env
	lc *livechat.Service
}

func newLivechatEnv(t *testing.T) *livechatEnv {
	t.Helper()
	var lc *livechat.Service
	e := newEnv(t, func(o *chatapi.Options) {
		lc = livechat.New(livechat.Options{Store: o.Engine.Store(), Engine: o.Engine, Bus: bus.NewMemory(), Now: o.Now})
		o.Engine.SetLivechat(lc)
		o.Livechat = lc
	})
	// The sample bot's escalation ("I want to talk to a human") asks for the support competency.
	accounts := &livechat.Accounts{Store: e.store}
	if err := accounts.Put(context.Background(), &bascule.Account{Login: "dydu", Name: "dydu", Competencies: []string{"support"},
		Capacity: 1, QueueCapacity: 3, Password: "a long password"}); err != nil {
		t.Fatal(err)
	}
	return &livechatEnv{env: e, lc: lc}
}

func (e *livechatEnv) operator() *bascule.Account {
	a, err := e.store.Account(context.Background(), "dydu")
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// dyduValues decodes an answer as the dydu chatbox decodes a poll answer: every string of
// values base64-decoded (§5.1), then decoded a second time, failure-tolerant (§5.2).
func dyduValues(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var env struct {
		Values map[string]any `json:"values"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		t.Fatalf("not JSON: %s", w.Body)
	}
	if env.Values == nil {
		return map[string]any{}
	}
	v := decodeAll(t, env.Values).(map[string]any)
	for k, x := range v {
		if s, ok := x.(string); ok {
			v[k] = strings.TrimSuffix(chatapi.SecondDecode(s), "\u200b")
		}
	}
	return v
}

// pollBody is chat/poll/last's raw body, exactly as the dydu chatbox joins it (§4.2, §11.3).
func pollBody(ctx string, lastPoll int64) string {
	return fmt.Sprintf("solutionUsed=LIVECHAT&format=JSon&space=Defaut&contextUuid=%s&language=en&lastPoll=%d", ctx, lastPoll)
}

func (e *livechatEnv) poll(ctx string, lastPoll *int64) map[string]any {
	e.t.Helper()
	v := dyduValues(e.t, e.do("POST", "/servlet/api/chat/poll/last/"+bot, pollBody(ctx, *lastPoll)))
	if d, ok := v["pollUpdatedInteractionDate"].(float64); ok {
		*lastPoll = int64(d)
	}
	return v
}

// TestDyduLivechatPolling: the dydu chatbox's whole livechat in polling mode (reference §11),
// with the requests it sends.
func TestDyduLivechatPolling(t *testing.T) {
	e := newLivechatEnv(t)
	ctx := context.Background()
	desk, err := e.lc.OpenDesk(ctx, e.operator(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer desk.Close()

	// §11.1: the escalation's answer starts polling.
	start := e.talk("", "I want to talk to a human", "en")
	dialog := start["contextId"].(string)
	if start["specialAction"] != "StartPolling" || start["typeResponse"] != bascule.TypeLivechatStarted || start["startLivechat"] != true ||
		start["text"] != "<p>I am connecting you with an advisor, please wait a moment.</p>" {
		t.Fatalf("hand-over answer: %v", start)
	}
	lastPoll := int64(start["serverTime"].(float64))

	// §11.3: the first poll says who joined; every non-empty answer advances lastPoll.
	v := e.poll(dialog, &lastPoll)
	if v["code"] != bascule.TypeOperatorJoined || v["text"] != "<p>dydu joined the conversation.</p>" || v["fromDetail"] != nil {
		t.Fatalf("first poll: %v", v)
	}
	if v := e.poll(dialog, &lastPoll); len(v) != 0 {
		t.Fatalf("nothing new: %v", v)
	}
	// The operator writes a short ASCII text, from an operator named "dydu": both come
	// through the second decoding unharmed.
	if _, err := e.lc.Send(ctx, e.operator(), dialog, "", "OK"); err != nil {
		t.Fatal(err)
	}
	v = e.poll(dialog, &lastPoll)
	if v["text"] != "<p>OK</p>" || v["fromDetail"] != "dydu" || v["typeResponse"] != bascule.TypeOperator || v["human"] != true {
		t.Fatalf("operator message: %v", v)
	}
	// The visitor types (content is base64), then sends a message through talk in polling mode:
	// the operator sees both, the talk answer says nothing.
	w := e.do("POST", "/servlet/api/chat/typing/"+bot, "typing=true&content="+base64.StdEncoding.EncodeToString([]byte("I need"))+
		"&contextId="+dialog+"&solutionUsed=ASSISTANT")
	if w.Code != 200 || w.Body.String() != "{}" {
		t.Fatalf("typing: %d %s", w.Code, w.Body)
	}
	dv, err := e.lc.Dialog(ctx, e.operator(), dialog, false)
	if err != nil || !dv.VisitorTyping || dv.Preview != "I need" {
		t.Fatalf("the desk sees the visitor typing: %+v %v", dv, err)
	}
	answer := values(t, e.do("POST", "/servlet/api/chat/talk/"+bot+"/"+dialog,
		strings.Replace(talkForm("I need 200 chairs", "en"), "mode=U3luY2hyb24%3D", "mode=cG9sbGluZw%3D%3D", 1)))
	if answer["text"] != "" || answer["typeResponse"] != bascule.TypeVisitorMessage {
		t.Fatalf("the talk answer in polling mode: %v", answer)
	}
	if w := e.do("POST", "/servlet/api/chat/reading/"+bot, "reading=true&contextId="+dialog+"&solutionUsed=ASSISTANT&mode=cG9sbGluZw=="); w.Body.String() != "{}" {
		t.Fatalf("reading: %s", w.Body)
	}
	// The operator types: the poll says so, without moving lastPoll.
	before := lastPoll
	e.lc.Typing(ctx, e.operator(), dialog, true)
	if v := e.poll(dialog, &lastPoll); v["code"] != livechat.TypingCode || lastPoll != before {
		t.Fatalf("operator typing: %v (lastPoll %d -> %d)", v, before, lastPoll)
	}

	// A second visitor waits: the dydu chatbox shows the queue from queuePosition and
	// estimatedWaitingDuration, and asks chat/status.
	queued := e.talk("", "I want to talk to a human", "en")
	other := queued["contextId"].(string)
	if queued["specialAction"] != "StartWaitingQueue" || queued["queuePosition"] != 1.0 || queued["estimatedWaitingDuration"].(float64) <= 0 {
		t.Fatalf("queued: %v", queued)
	}
	status := values(t, e.do("GET", "/servlet/api/chat/status/"+bot+"/"+other, ""))
	if status["waitingQueueStatusResponse"] != true {
		t.Fatalf("chat/status of a waiting visitor: %v", status)
	}

	// The operator ends the first dialog: its poll answers the end (§11.3, verified shape),
	// and the waiting visitor is given to the operator.
	if err := e.lc.Close(ctx, e.operator(), dialog); err != nil {
		t.Fatal(err)
	}
	v = e.poll(dialog, &lastPoll)
	if v["code"] != bascule.TypeLivechatEnded || v["typeResponse"] != bascule.TypeLivechatEnded || v["specialAction"] != "EndPolling" ||
		!strings.Contains(v["text"].(string), "ended the conversation") {
		t.Fatalf("end of the livechat: %v", v)
	}
	status = values(t, e.do("GET", "/servlet/api/chat/status/"+bot+"/"+other, ""))
	if status["waitingQueueStatusResponse"] != false {
		t.Fatalf("chat/status once an operator has it: %v", status)
	}
	// Its next message (mode Synchron: it does not poll yet) starts polling.
	next := e.talk(other, "hello?", "en")
	if next["specialAction"] != "StartPolling" || next["typeResponse"] != bascule.TypeLivechatStarted {
		t.Fatalf("a waiting visitor's next message: %v", next)
	}
	// §8.8: the history shows the operator's messages with the operator's name.
	h := values(t, e.do("POST", "/servlet/api/chat/history/"+bot, "contextUuid="+dialog+"&solutionUsed=ASSISTANT"))
	found := false
	for _, it := range h["interactions"].([]any) {
		m := it.(map[string]any)
		if m["text"] == "<p>OK</p>" && m["operatorName"] == "dydu" && m["hideRequest"] == true {
			found = true
		}
	}
	if !found {
		t.Fatalf("history lacks the operator's message: %v", h["interactions"])
	}
}

// TestDyduWaitingQueueLeave: #livechatleavequeue# (§11.4).
func TestDyduWaitingQueueLeave(t *testing.T) {
	e := newLivechatEnv(t)
	ctx := context.Background()
	desk, _ := e.lc.OpenDesk(ctx, e.operator(), livechat.StatusBreak)
	defer desk.Close()
	queued := e.talk("", "I want to talk to a human", "en")
	dialog := queued["contextId"].(string)
	if queued["specialAction"] != "StartWaitingQueue" {
		t.Fatalf("queued: %v", queued)
	}
	left := e.talk(dialog, "#livechatleavequeue#", "en")
	if left["typeResponse"] != bascule.TypeLivechatLeftQueue || left["specialAction"] != "LeaveWaitingQueue" {
		t.Fatalf("leaving the queue: %v", left)
	}
	if s := values(t, e.do("GET", "/servlet/api/chat/status/"+bot+"/"+dialog, "")); s["waitingQueueStatusResponse"] != false {
		t.Fatalf("chat/status after leaving: %v", s)
	}
	// The bot answers again.
	if v := e.talk(dialog, "Where is my order?", "en"); v["typeResponse"] != bascule.TypeUnderstood {
		t.Fatalf("the bot after the queue: %v", v)
	}
}

// TestLivechatEndpointsTolerateJunk: bad bodies, unknown or foreign contexts: a 2xx "{}" (a
// 404 would make the dydu chatbox retry and change server), never another dialog's messages.
func TestLivechatEndpointsTolerateJunk(t *testing.T) {
	e := newLivechatEnv(t)
	ctx := context.Background()
	desk, _ := e.lc.OpenDesk(ctx, e.operator(), "")
	defer desk.Close()
	dialog := e.talk("", "I want to talk to a human", "en")["contextId"].(string)
	e.lc.Send(ctx, e.operator(), dialog, "", "secret for the visitor only")
	for _, body := range []string{"", "garbage", "contextUuid=null&lastPoll=null", "contextUuid=" + bascule.NewID() + "&lastPoll=0",
		"contextUuid=../../etc&lastPoll=x", "contextUuid=" + dialog + "x&lastPoll=0", strings.Repeat("a", 9000)} {
		w := e.do("POST", "/servlet/api/chat/poll/last/"+bot, body)
		if w.Code != 200 || w.Body.String() != "{}" {
			t.Errorf("poll %q: %d %s", body[:min(len(body), 40)], w.Code, w.Body)
		}
	}
	// The same context under another bot's id sees nothing.
	other := "0b0b0000-0000-4000-8000-0000000000ff"
	if w := e.do("POST", "/servlet/api/chat/poll/last/"+other, pollBody(dialog, 0)); w.Body.String() != "{}" {
		t.Errorf("another bot's poll: %s", w.Body)
	}
	for _, p := range []string{"chat/typing/" + bot, "chat/reading/" + bot} {
		if w := e.do("POST", "/servlet/api/"+p, "typing=true&content=%%%&contextId=nope"); w.Code != 200 {
			t.Errorf("%s with junk: %d %s", p, w.Code, w.Body)
		}
	}
}

// TestPushChannel: our chatbox's server-sent events carry the same answers as a poll, in
// order, with the cursor as event id; the stream ends with the hand-over.
func TestPushChannel(t *testing.T) {
	e := newLivechatEnv(t)
	ctx := context.Background()
	desk, _ := e.lc.OpenDesk(ctx, e.operator(), "")
	defer desk.Close()
	start := e.talk("", "I want to talk to a human", "en")
	dialog := start["contextId"].(string)
	srv := httptest.NewServer(e.api)
	defer srv.Close()
	resp, err := http.Get(fmt.Sprintf("%s/api/chat/events/%s/%s?after=%d", srv.URL, bot, dialog, int64(start["serverTime"].(float64))))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("headers: %v", resp.Header)
	}
	events := make(chan [2]string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var id string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "data: "):
				events <- [2]string{id, line[6:]}
				id = ""
			}
		}
		close(events)
	}()
	next := func() (string, map[string]any) {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			w := httptest.NewRecorder()
			w.WriteString(ev[1])
			return ev[0], values(t, w)
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
		return "", nil
	}
	if id, v := next(); v["code"] != bascule.TypeOperatorJoined || id == "" {
		t.Fatalf("first event: %s %v", id, v)
	}
	e.lc.Typing(ctx, e.operator(), dialog, true)
	if _, v := next(); v["code"] != livechat.TypingCode {
		t.Fatalf("typing event: %v", v)
	}
	e.lc.Send(ctx, e.operator(), dialog, "", "Hello")
	id, v := next()
	if v["text"] != "<p>Hello</p>" || v["fromDetail"] != "dydu" || fmt.Sprint(int64(v["pollUpdatedInteractionDate"].(float64))) != id {
		t.Fatalf("message event: %s %v", id, v)
	}
	e.lc.Close(ctx, e.operator(), dialog)
	if _, v := next(); v["specialAction"] != "EndPolling" {
		t.Fatalf("end event: %v", v)
	}
	select {
	case _, ok := <-events:
		if ok {
			t.Fatal("an event after the end")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end with the hand-over")
	}
	// An unknown dialog has no stream.
	if r, _ := http.Get(srv.URL + "/api/chat/events/" + bot + "/" + bascule.NewID()); r.StatusCode != 404 {
		t.Fatalf("unknown dialog: %d", r.StatusCode)
	}
}

// TestNoCrossTalk: two visitors in two livechats with one operator: each chatbox receives its
// own dialog's messages only, whatever cursor it sends.
func TestNoCrossTalk(t *testing.T) {
	e := newLivechatEnv(t)
	ctx := context.Background()
	accounts := &livechat.Accounts{Store: e.store}
	if err := accounts.Put(ctx, &bascule.Account{Login: "dydu", Name: "dydu", Competencies: []string{"support"}, Capacity: 2, Password: "a long password"}); err != nil {
		t.Fatal(err)
	}
	desk, _ := e.lc.OpenDesk(ctx, e.operator(), "")
	defer desk.Close()
	a := e.talk("", "I want to talk to a human", "en")["contextId"].(string)
	b := e.talk("", "I want to talk to a human", "en")["contextId"].(string)
	e.lc.Send(ctx, e.operator(), a, "", "for A only")
	e.lc.Send(ctx, e.operator(), b, "", "for B only")
	for ctxID, other := range map[string]string{a: "for B only", b: "for A only"} {
		var lastPoll int64 // from the start: everything the dialog has
		for range 5 {
			v := e.poll(ctxID, &lastPoll)
			if strings.Contains(fmt.Sprint(v), other) {
				t.Fatalf("dialog %s received another dialog's message: %v", ctxID, v)
			}
		}
	}
}
