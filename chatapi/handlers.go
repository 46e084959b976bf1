package chatapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/internal/httpx"
)

func ok(w http.ResponseWriter, e *envelope) error {
	httpx.WriteRaw(w, http.StatusOK, e.bytes())
	return nil
}

// talk is chat/talk/<bot>[/<ctx>] (reference §8.7).
func (a *API) talk(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	f, err := readTalkForm(r)
	if err != nil {
		return err
	}
	a.talks.Add(1)
	mode, _ := base64.StdEncoding.DecodeString(f.mode)
	res, err := a.opt.Engine.Talk(r.Context(), &engine.TalkRequest{
		BotID: botOf(r), ContextID: r.PathValue("ctx"), Input: f.userInput,
		Language: f.language, Space: f.space, ClientID: f.clientID,
		UserURL: f.userURL, Browser: f.browser, OS: f.os,
		InteractionID: f.interactionID, Variables: pageVariables(f.variables), Mode: string(mode),
	})
	if err != nil {
		return err
	}
	a.metrics.talkSeconds.Observe(time.Since(start).Seconds())
	a.metrics.answers.WithLabelValues(res.Type).Inc()
	return ok(w, a.talkValues(botOf(r), res))
}

// pageVariables reads a talk's variables field: a JSON object of the page's variables (the
// dydu chatbox sends {} unless the site set some). Values that are not strings keep their JSON
// text as sent; null leaves a variable unset. A field that is not an object is ignored: a
// question must not fail on it.
func pageVariables(field string) map[string]string {
	if field == "" || field == "{}" {
		return nil // the common case, on the hottest path
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal([]byte(field), &raw) != nil {
		return nil
	}
	vars := make(map[string]string, len(raw))
	for name, v := range raw {
		var s string
		switch {
		case string(v) == "null": // unset
		case json.Unmarshal(v, &s) == nil:
			vars[name] = s
		default:
			vars[name] = string(v)
		}
	}
	return vars
}

func (a *API) talkValues(bot string, res *engine.TalkResult) *envelope {
	e := newEnvelope("talkResponse")
	if res.Dialog != nil {
		e.str("contextId", res.Dialog.ID)
	}
	e.str("botId", bot)
	e.str("language", res.Language)
	e.str("text", res.Text)
	if res.Type != "" {
		e.str("typeResponse", res.Type)
	}
	e.boolean("askFeedback", res.AskFeedback)
	if res.AskFeedback {
		feedbackWording(e, res.Language)
	}
	e.boolean("human", false)
	e.boolean("startLivechat", res.SpecialAction == engine.ActionStartPolling)
	e.num("knowledgeId", res.KnowledgeID)
	e.num("actionId", 0)
	if res.Cursor > 0 {
		e.num("serverTime", res.Cursor) // where the livechat's polling starts (§11.3)
	} else {
		e.num("serverTime", bascule.Millis(res.Time))
	}
	livechatTalk(e, res)
	if len(res.Rewords) > 0 {
		e.strs("rewords", res.Rewords)
	}
	if res.Interaction != nil {
		e.str("interactionId", res.Interaction.ID)
	}
	if res.Uploads {
		e.boolean("uploads", true) // Bascule's chatbox shows its file button
	}
	return e
}

// feedbackWording is required by the dydu chatbox whenever askFeedback is true (§9).
func feedbackWording(e *envelope, lang string) {
	words := map[string][7]string{
		"en": {"Why was this answer not helpful?", "It did not answer my question", "It is not clear", "It is incomplete",
			"Tell us more", "Your comment", "Thank you for your feedback."},
		"fr": {"Pourquoi cette réponse ne vous a-t-elle pas aidé ?", "Elle ne répond pas à ma question", "Elle n'est pas claire",
			"Elle est incomplète", "Dites-nous en plus", "Votre commentaire", "Merci pour votre avis."},
	}
	wd, found := words[lang]
	if !found {
		wd = words["en"]
	}
	e.object("feedbackWording")
	e.str("choiceIntroduction", wd[0])
	e.str("choice0", wd[1])
	e.str("choice1", wd[2])
	e.str("choice2", wd[3])
	e.str("commentLabel", wd[4])
	e.str("commentPlaceholder", wd[5])
	e.str("commentSend", "OK")
	e.str("commentEnd", wd[6])
	e.end()
}

// contextOf reads the context id of a form body, whichever spelling the endpoint uses.
func contextOf(r *http.Request) string {
	for _, k := range []string{"contextUuid", "contextUUID", "contextId", "dialog", "context"} {
		if v := r.Form.Get(k); v != "" {
			return strings.ToLower(v)
		}
	}
	return strings.ToLower(r.PathValue("ctx"))
}

// history is chat/history/<bot> (§8.8, §10).
func (a *API) history(w http.ResponseWriter, r *http.Request) error {
	if err := form(r); err != nil {
		return err
	}
	d, ins, err := a.opt.Engine.History(r.Context(), botOf(r), contextOf(r))
	if err != nil {
		return err
	}
	e := newEnvelope("historyResponse")
	if d != nil {
		e.str("contextId", d.ID)
	}
	e.array("interactions")
	for _, in := range ins {
		e.elem()
		e.str("user", in.Question)
		e.str("text", in.Answer)
		e.str("type", in.Type)
		e.str("date", in.At.Format(time.RFC3339))
		e.num("timestamp", bascule.Millis(in.At))
		e.boolean("hideRequest", in.Question == "")
		if login := bascule.OperatorOf(in.From); login != "" {
			if a.opt.Livechat != nil {
				login = a.opt.Livechat.OperatorName(login)
			}
			e.str("operatorName", login)
		}
		e.end()
	}
	e.endArray()
	return ok(w, e)
}

// availableContext is chat/availablecontext/<bot>/<ctx> (§8.4).
func (a *API) availableContext(w http.ResponseWriter, r *http.Request) error {
	live, err := a.opt.Engine.ContextAvailable(r.Context(), botOf(r), strings.ToLower(r.PathValue("ctx")))
	if err != nil {
		return err
	}
	e := newEnvelope("availableContextResponse")
	e.boolean("isContextStillAvailable", live)
	return ok(w, e)
}

// languages is account/dydubox/bots/language?botUUID=<bot> (§8.6): a bare JSON array.
func (a *API) languages(w http.ResponseWriter, r *http.Request) error {
	bot, err := a.opt.Engine.Bot(r.Context(), strings.ToLower(r.URL.Query().Get("botUUID")))
	if err != nil {
		return err
	}
	type lang struct {
		ID          string `json:"id"`
		IsAvailable bool   `json:"isAvailable"`
	}
	out := make([]lang, 0, len(bot.KB.Bot.Languages))
	for _, l := range bot.KB.Bot.Languages {
		out = append(out, lang{l, true})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// topKnowledge is chat/topknowledge/<bot> (§8.9).
func (a *API) topKnowledge(w http.ResponseWriter, r *http.Request) error {
	if err := form(r); err != nil {
		return err
	}
	n, _ := strconv.Atoi(r.Form.Get("maxKnowledge"))
	items, err := a.opt.Engine.TopKnowledge(r.Context(), botOf(r), r.Form.Get("language"), r.Form.Get("space"), r.Form.Get("period"), max(n, 1))
	if err != nil {
		return err
	}
	type article struct {
		KnowledgeID int64  `json:"knowledgeId"`
		Reword      string `json:"reword"`
	}
	articles := make([]article, 0, len(items))
	for _, k := range items {
		articles = append(articles, article{k.ID, k.Question})
	}
	e := newEnvelope("topKnowledgeResponse")
	if err := e.jsonText("knowledgeArticles", articles); err != nil {
		return err
	}
	return ok(w, e)
}

// welcomeCall is chat/welcomecall/<bot> (§8.3): a visit of a page with the chatbox.
func (a *API) welcomeCall(w http.ResponseWriter, r *http.Request) error {
	if err := form(r); err != nil {
		return err
	}
	if err := a.opt.Engine.Visit(r.Context(), botOf(r), r.Form.Get("clientId"), r.Form.Get("language"), r.Form.Get("space")); err != nil {
		return err
	}
	return ok(w, newEnvelope("welcomeCallResponse"))
}

// feedback is chat/feedback, chat/feedback/insatisfaction and chat/feedback/comment (§8.11-13).
func (a *API) feedback(kind, field string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := form(r); err != nil {
			return err
		}
		v := r.Form.Get(field)
		switch kind {
		case bascule.FeedbackVote:
			if v != "positive" && v != "negative" && v != "withoutAnswer" {
				return bascule.FieldErrorf("feedBack", "must be positive, negative or withoutAnswer")
			}
		case bascule.FeedbackChoice:
			if n, err := strconv.Atoi(v); err != nil || n < 0 || n > 9 {
				return bascule.FieldErrorf("choiceKey", "must be a choice number")
			}
		}
		if err := a.opt.Engine.Feedback(r.Context(), botOf(r), contextOf(r), kind, v); err != nil {
			return err
		}
		return ok(w, newEnvelope("feedbackResponse"))
	}
}

// search is chat/search/<bot> (§8.10): autocomplete from knowledge questions.
func (a *API) search(w http.ResponseWriter, r *http.Request) error {
	if err := form(r); err != nil {
		return err
	}
	qs, err := a.opt.Engine.Suggest(r.Context(), botOf(r), r.Form.Get("language"), r.Form.Get("space"), r.Form.Get("search"), 5)
	if err != nil {
		return err
	}
	e := &envelope{b: append(make([]byte, 0, 256), `{"type":"searchResponse","values":[`...), first: true}
	for _, q := range qs {
		e.elem()
		e.str("rootConditionReword", q)
		e.end()
	}
	httpx.WriteRaw(w, http.StatusOK, append(e.b, "]}"...))
	return nil
}

// gdpr is chat/gdpr/<bot> (§8.14): object=Get returns the client's data, object=Delete
// erases the client's dialogs here and on the peer.
func (a *API) gdpr(w http.ResponseWriter, r *http.Request) error {
	if err := form(r); err != nil {
		return err
	}
	client := r.Form.Get("clientId")
	switch r.Form.Get("object") {
	case "Get":
		data, err := a.opt.Engine.ClientData(r.Context(), botOf(r), client)
		if err != nil {
			return err
		}
		e := newEnvelope("gdprResponse")
		if err := e.jsonText("data", data); err != nil {
			return err
		}
		return ok(w, e)
	case "Delete":
		n, err := a.opt.Engine.EraseClient(r.Context(), botOf(r), client)
		if err != nil {
			return err
		}
		e := newEnvelope("gdprResponse")
		e.num("deletedDialogs", int64(n))
		return ok(w, e)
	}
	return bascule.FieldErrorf("object", "must be Get or Delete")
}

// variable is chat/variable/<bot> (§8.15).
func (a *API) variable(w http.ResponseWriter, r *http.Request) error {
	if err := form(r); err != nil {
		return err
	}
	if err := a.opt.Engine.SetVariable(r.Context(), botOf(r), contextOf(r), r.Form.Get("name"), r.Form.Get("value")); err != nil {
		return err
	}
	return ok(w, newEnvelope("variableResponse"))
}

// newContext is chat/context/<bot> (§8.18): opens a dialog without a question.
func (a *API) newContext(w http.ResponseWriter, r *http.Request) error {
	if err := form(r); err != nil {
		return err
	}
	res, err := a.opt.Engine.Talk(r.Context(), &engine.TalkRequest{BotID: botOf(r), Input: engine.InputWelcome,
		Language: r.Form.Get("language"), Space: r.Form.Get("space"), ClientID: r.Form.Get("clientId")})
	if err != nil {
		return err
	}
	e := newEnvelope("contextResponse")
	e.str("contextId", res.Dialog.ID)
	return ok(w, e)
}

// whoami answers the chatbox's #host# keyword with this server's id (not its host name).
func (a *API) whoami(w http.ResponseWriter, r *http.Request) error {
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"headers": []map[string]string{{"host": a.opt.Engine.Store().ServerID()}}})
	return nil
}

// printHistory is the servlet history page the chatbox opens to print a conversation (§8.20).
func (a *API) printHistory(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	ctx := strings.ToLower(q.Get("context"))
	d, ins, err := a.opt.Engine.History(r.Context(), strings.ToLower(q.Get("bot")), ctx)
	if err != nil {
		return err
	}
	if d == nil {
		// The print link carries no bot id: find the dialog by context alone.
		if dd, err := a.opt.Engine.Store().Dialog(r.Context(), ctx); err == nil && bascule.IsID(ctx) {
			d, ins, err = a.opt.Engine.History(r.Context(), dd.BotID, ctx)
			if err != nil {
				return err
			}
		}
	}
	userLabel, botLabel := label(q.Get("userLabel"), "Me"), label(q.Get("botLabel"), "Chatbot")
	nonce := bascule.NewID()
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>Conversation</title>` +
		`<style>body{font:15px/1.4 system-ui,sans-serif;max-width:40em;margin:2em auto}dt{font-weight:bold;margin-top:1em}</style>` +
		`<script nonce="` + nonce + `">addEventListener("load",()=>print())</script></head><body><dl>`)
	if d == nil {
		b.WriteString("<p>No conversation.</p>")
	}
	for _, in := range ins {
		if in.Question != "" {
			fmt.Fprintf(&b, "<dt>%s</dt><dd>%s</dd>", userLabel, html.EscapeString(in.Question))
		}
		fmt.Fprintf(&b, "<dt>%s</dt><dd>%s</dd>", botLabel, in.Answer)
	}
	b.WriteString("</dl></body></html>")
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Answers are sanitised when written; the policy is a second lock: no script but print().
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; script-src 'nonce-"+nonce+"'")
	w.Write([]byte(b.String()))
	return nil
}

func label(s, def string) string {
	s = engine.Clean(s)
	if s == "" || len(s) > 40 {
		s = def
	}
	return html.EscapeString(s)
}
