package chatapi

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/livechat"
)

// The visitor's side of the livechat (reference §11): the dydu chatbox polls chat/poll/last
// and says when the visitor types or reads; our chatbox follows the same timeline on a push
// channel (server-sent events), and polls only where it cannot. Both get the same answers,
// made by livechatValues.

// pollKeys are the fields of a chat/poll/last body.
var pollKeys = []string{"solutionUsed", "format", "space", "contextUuid", "contextId", "language", "lastPoll"}

// maxRawBody bounds a raw (unencoded) body: a poll is a few hundred bytes.
const maxRawBody = 8 << 10

// poll is chat/poll/last/<bot> (§11.3): the next thing the visitor has not been told.
func (a *API) poll(w http.ResponseWriter, r *http.Request) error {
	lc := a.opt.Livechat
	if lc == nil {
		return a.empty(w, r)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRawBody))
	if err != nil {
		return err
	}
	f := parseRawForm(string(body), pollKeys)
	ctx := f["contextUuid"]
	if ctx == "" {
		ctx = f["contextId"]
	}
	after, _ := strconv.ParseInt(strings.TrimSpace(f["lastPoll"]), 10, 64)
	it, err := lc.Poll(r.Context(), botOf(r), ctx, after)
	if err != nil || it == nil {
		if err != nil {
			return err
		}
		return a.empty(w, r)
	}
	return ok(w, a.livechatValues(it, true))
}

// livechatValues encodes one item of a livechat's timeline as the dydu chatbox reads a poll
// answer: an operator's words (text with fromDetail) or a notification (code), and
// pollUpdatedInteractionDate, the cursor it sends back. The dydu chatbox decodes every string
// of a poll answer twice (§5.2): with twice, dyduSafe keeps short texts from being decoded
// into garbage (our chatbox decodes once).
func (a *API) livechatValues(it *livechat.Item, twice bool) *envelope {
	e := newEnvelope("pollResponse")
	str := func(k, v string) {
		if twice {
			v = dyduSafe(v)
		}
		e.str(k, v)
	}
	switch {
	case it.Typing:
		str("code", livechat.TypingCode)
	case it.Human:
		str("text", it.Text)
		str("fromDetail", it.Operator)
		str("typeResponse", it.Type)
		e.boolean("human", true)
	default:
		str("text", it.Text)
		str("code", it.Type)
		str("typeResponse", it.Type)
		e.boolean("human", false)
		if it.Operator != "" {
			str("operatorName", it.Operator)
		}
		switch {
		case it.LeftQueue:
			str("specialAction", engine.ActionLeaveWaitingQueue)
		case it.End:
			str("specialAction", engine.ActionEndPolling)
		}
		if it.Position > 0 {
			e.num("queuePosition", int64(it.Position))
			e.num("estimatedWaitingDuration", int64(it.Wait))
		}
	}
	e.num("serverTime", bascule.Millis(a.opt.Now()))
	e.num("pollUpdatedInteractionDate", it.Cursor)
	return e
}

// dyduSafe returns s, or s with an invisible mark, so that the dydu chatbox's second decoding
// leaves it as it is. That decoding (atob, then a UTF-8 check) keeps a string it cannot decode;
// a short ASCII text that happens to be valid base64 of valid UTF-8 ("dydu", "Merci", an
// operator named "Anna1234") would be replaced by what it decodes to. A zero-width space is
// outside atob's alphabet.
func dyduSafe(s string) string {
	if _, decoded := chatboxSecondDecode(s); !decoded {
		return s
	}
	return s + "\u200b"
}

// chatboxSecondDecode is what the dydu chatbox makes of a string value with its second
// decoding: the browser's atob, then a UTF-8 check. It returns the decoded text and true, or
// s and false when either step fails (the chatbox then keeps s). atob is "forgiving base64":
// ASCII whitespace is ignored, one or two '=' may end a length multiple of 4, and a length of
// 1 modulo 4 is an error.
func chatboxSecondDecode(s string) (string, bool) {
	if s == "" {
		return s, false // decodes to itself
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\f', '\r':
		default:
			b.WriteByte(c)
		}
	}
	t := b.String()
	if len(t)%4 == 0 {
		t = strings.TrimSuffix(strings.TrimSuffix(t, "="), "=")
	}
	if len(t)%4 == 1 {
		return s, false
	}
	// Like atob, Go's (non-strict) decoder ignores the unused bits of the last character.
	dec, err := base64.RawStdEncoding.DecodeString(t)
	if err != nil || !utf8.Valid(dec) {
		return s, false
	}
	return string(dec), true
}

// typing is chat/typing/<bot> (§11.3): the visitor types (content is what, base64).
func (a *API) typing(w http.ResponseWriter, r *http.Request) error {
	lc := a.opt.Livechat
	if lc == nil {
		return a.empty(w, r)
	}
	lenientForm(r)
	content, _ := base64.StdEncoding.DecodeString(r.Form.Get("content"))
	text := strings.ToValidUTF8(string(content), "")
	if err := lc.VisitorTyping(r.Context(), botOf(r), contextOf(r), r.Form.Get("typing") == "true" && text != "", text); err != nil {
		return err
	}
	return a.empty(w, r)
}

// reading is chat/reading/<bot> (§11.3): the visitor read the new messages; they are there.
func (a *API) reading(w http.ResponseWriter, r *http.Request) error {
	lc := a.opt.Livechat
	if lc == nil {
		return a.empty(w, r)
	}
	lenientForm(r)
	if err := lc.VisitorSeen(r.Context(), botOf(r), contextOf(r)); err != nil {
		return err
	}
	return a.empty(w, r)
}

// queueStatus is chat/status/<bot>/<ctx> (§8.5): whether the visitor still waits in the
// livechat's queue.
func (a *API) queueStatus(w http.ResponseWriter, r *http.Request) error {
	waiting := false
	if lc := a.opt.Livechat; lc != nil {
		var err error
		if waiting, err = lc.Waiting(r.Context(), botOf(r), strings.ToLower(r.PathValue("ctx"))); err != nil {
			return err
		}
	}
	e := newEnvelope("waitingQueueStatusResponse")
	e.boolean("waitingQueueStatusResponse", waiting)
	return ok(w, e)
}

// lenientForm parses what it can of a form: a signal such as typing is not worth an error the
// dydu chatbox would retry (§5.3).
func lenientForm(r *http.Request) { _ = r.ParseForm() }

// keepAlive is how often an idle push channel sends a comment, so that proxies keep it open
// and a dead connection is noticed.
const keepAlive = 15 * time.Second

// events is GET chat/events/<bot>/<ctx>?after=CURSOR: the livechat's timeline pushed as
// server-sent events, each the same values a poll answers, with the cursor as event id (a
// browser that reconnects sends it back as Last-Event-ID). The stream ends with the hand-over.
func (a *API) events(w http.ResponseWriter, r *http.Request) error {
	lc := a.opt.Livechat
	if lc == nil {
		return bascule.NotFoundf("this server has no livechat")
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if id, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil {
		after = id
	}
	bot, ctxID := botOf(r), strings.ToLower(r.PathValue("ctx"))
	watch, err := lc.Watch(r.Context(), bot, ctxID)
	if err != nil {
		return err
	}
	if watch == nil {
		return bascule.NotFoundf("no dialog %s", ctxID)
	}
	defer watch.Close()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream lives as long as the hand-over
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not hold the events back
	w.WriteHeader(http.StatusOK)
	send := func(id int64, it *livechat.Item) {
		if id > 0 {
			fmt.Fprintf(w, "id: %d\n", id)
		}
		fmt.Fprintf(w, "data: %s\n\n", a.livechatValues(it, false).bytes())
	}
	fmt.Fprint(w, "retry: 2000\n\n")
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	position, typing := 0, false
	for {
		u, err := lc.Updates(r.Context(), bot, ctxID, after)
		if err != nil {
			return nil // the stream is open: the chatbox reconnects, maybe elsewhere
		}
		for i := range u.Items {
			send(u.Items[i].Cursor, &u.Items[i])
			after = u.Items[i].Cursor
		}
		if u.Queue != nil && u.Queue.Position != position {
			position = u.Queue.Position
			send(0, u.Queue)
		}
		if u.Typing && !typing {
			send(0, &livechat.Item{Cursor: after, Typing: true})
		}
		typing = u.Typing
		if err := rc.Flush(); err != nil || !u.Open {
			return nil
		}
	wait: // until something changed; typing is told without looking at the store
		for {
			select {
			case <-r.Context().Done():
				return nil
			case <-tick.C:
				io.WriteString(w, ": ping\n\n")
				if err := rc.Flush(); err != nil {
					return nil
				}
			case b := <-watch.Events:
				e := livechat.ParseEvent(b)
				if e.What != livechat.EventTyping {
					break wait
				}
				if e.On && !typing {
					send(0, &livechat.Item{Cursor: after, Typing: true})
					rc.Flush()
				}
				typing = e.On
			}
		}
	}
}

// livechatTalk adds the livechat fields of a talk answer (§9, §11.1).
func livechatTalk(e *envelope, res *engine.TalkResult) {
	if res.SpecialAction == "" {
		return
	}
	e.str("specialAction", res.SpecialAction)
	if res.QueuePosition > 0 {
		e.num("queuePosition", int64(res.QueuePosition))
		e.num("estimatedWaitingDuration", int64(res.EstimatedWait))
	}
}
