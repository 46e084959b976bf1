package engine

import (
	"context"
	"errors"
	"html"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bascule/bascule"
)

// Special inputs of the dydu protocol.
const (
	InputWelcome        = "#welcome#"
	InputReset          = "#reset#"
	InputLeaveQueue     = "#livechatleavequeue#" // the visitor leaves the livechat's waiting queue
	pushConditionPrefix = "_pushcondition_:"
	goalPagePrefix      = "_goalpage_:"
	mailtoPrefix        = "#dydumailto:"
)

// TalkRequest is one question of a visitor. It crosses the peer API when a dialog that lives
// on the other server is answered there.
type TalkRequest struct {
	BotID     string `json:"botId"`
	ContextID string `json:"contextId,omitempty"` // the dialog to continue; "" or unknown starts a new one
	Input     string `json:"input"`               // as sent; the dydu chatbox HTML-escapes it
	Language  string `json:"language,omitempty"`
	Space     string `json:"space,omitempty"`
	ClientID  string `json:"clientId,omitempty"`
	UserURL   string `json:"userUrl,omitempty"`
	Browser   string `json:"browser,omitempty"`
	OS        string `json:"os,omitempty"`
	// InteractionID, when the chatbox chose one, makes a question retried on the other server
	// of the pair one interaction, not two.
	InteractionID string `json:"interactionId,omitempty"`
	// Forwarded marks a question another server sent here: it is answered here, never sent on.
	Forwarded bool `json:"forwarded,omitempty"`
	// Variables are the page's variables sent with the question (the dydu chatbox's variables
	// field). Web services called for this answer see them, over the dialog's stored ones.
	Variables map[string]string `json:"variables,omitempty"`
	// Mode is the dydu chatbox's mode, decoded: Synchron, or polling and websocket while it
	// follows a livechat.
	Mode string `json:"mode,omitempty"`
}

// TalkResult is the bot's answer.
type TalkResult struct {
	Dialog      *bascule.Dialog      `json:"dialog,omitempty"`      // nil after #reset#: the visitor starts afresh
	Interaction *bascule.Interaction `json:"interaction,omitempty"` // nil when nothing was stored (welcome, reset)
	Text        string               `json:"text"`                  // sanitised HTML
	Type        string               `json:"type,omitempty"`        // typeResponse
	KnowledgeID int64                `json:"knowledgeId,omitempty"`
	Rewords     []string             `json:"rewords,omitempty"` // questions to offer as buttons
	Language    string               `json:"language"`
	Space       string               `json:"space"`
	AskFeedback bool                 `json:"askFeedback,omitempty"`
	Uploads     bool                 `json:"uploads,omitempty"` // the bot takes files from visitors on this server
	Time        time.Time            `json:"time"`
	// SpecialAction drives the dydu chatbox's livechat: StartPolling, StartWaitingQueue,
	// LeaveWaitingQueue.
	SpecialAction string `json:"specialAction,omitempty"`
	// QueuePosition and EstimatedWait (seconds) describe the visitor's place in the waiting queue.
	QueuePosition int `json:"queuePosition,omitempty"`
	EstimatedWait int `json:"estimatedWait,omitempty"`
	// Cursor is where the visitor's livechat starts: the dydu chatbox polls from it (serverTime).
	Cursor int64 `json:"cursor,omitempty"`
}

// Special actions of a talk answer (dydu's specialAction).
const (
	ActionStartPolling      = "StartPolling"
	ActionStartWaitingQueue = "StartWaitingQueue"
	ActionLeaveWaitingQueue = "LeaveWaitingQueue"
	ActionEndPolling        = "EndPolling"
)

// Livechat hands dialogs over to human operators (package livechat). The engine asks it about
// every question of a known dialog, and gives it the questions that ask for a human.
type Livechat interface {
	// Intercept takes the question of a dialog that is with an operator or waits for one: the
	// visitor's words go to the operator and the bot stays silent. It records what it keeps and
	// fills res; handled is false when the bot answers.
	Intercept(ctx context.Context, req *TalkRequest, d *bascule.Dialog, input string, res *TalkResult) (handled bool, err error)
	// Escalate hands a dialog over to an operator, puts it in the waiting queue, or says why it
	// cannot. in is the question that asked for it, with the bot's answer; k is the escalation
	// knowledge (nil: the visitor asked for a human in so many words). It records in and fills
	// res.
	Escalate(ctx context.Context, bot *Bot, d *bascule.Dialog, k *bascule.Knowledge, in *bascule.Interaction, res *TalkResult) error
}

// Forwarder sends a question to the server where its dialog lives. A dialog that started or
// continued on one server stays there until it ends: the other server does not take it back
// while that one answers. handled is false when the question should be answered here (the
// host is unknown or unreachable: then this server takes the dialog over).
type Forwarder interface {
	Forward(ctx context.Context, host string, req *TalkRequest) (res *TalkResult, handled bool, err error)
}

// Talk answers one question and stores it durably before returning.
func (e *Engine) Talk(ctx context.Context, req *TalkRequest) (*TalkResult, error) {
	bot, err := e.Bot(ctx, req.BotID)
	if err != nil {
		return nil, err
	}
	now := e.opt.Now().UTC().Truncate(time.Millisecond)
	input := Clean(req.Input)
	res := &TalkResult{Language: bot.Language(req.Language), Space: bot.Space(req.Space), Uploads: e.uploadsOpen(bot), Time: now}
	if input == InputReset {
		// The chatbox forgets its context and asks #welcome# next: nothing to store.
		return res, nil
	}
	d, isNew, err := e.resolve(ctx, bot, req, res, now)
	if err != nil {
		return nil, err
	}
	if !isNew && !req.Forwarded && e.opt.Forward != nil && d.Host != "" && d.Host != e.store.ServerID() {
		if fres, handled, err := e.opt.Forward.Forward(ctx, d.Host, req); handled || err != nil {
			return fres, err
		}
	}
	res.Dialog = d
	if lc := e.opt.Livechat; lc != nil && !isNew && input != InputWelcome {
		handled, err := lc.Intercept(ctx, req, d, input, res)
		if err != nil {
			return nil, err
		}
		if handled {
			return res, nil
		}
	}
	record := true
	var escalate bool
	var escalation *bascule.Knowledge
	switch {
	case input == InputWelcome:
		res.Text, res.Type, record = bot.Sentence(bascule.SentenceWelcome, res.Language), bascule.TypeWelcome, false
	case strings.HasPrefix(input, goalPagePrefix):
		return &TalkResult{Language: res.Language, Space: res.Space, Time: now}, nil
	case input == InputLeaveQueue:
		// Not waiting (any more): nothing to leave, nothing to store.
		res.Type, res.SpecialAction, record = bascule.TypeLivechatLeftQueue, ActionLeaveWaitingQueue, false
	case strings.HasPrefix(input, mailtoPrefix):
		res.Text, res.Type, record = mailtoUnavailable(res.Language), bascule.TypeMisunderstood, false
	case strings.HasPrefix(input, pushConditionPrefix):
		id, _ := strconv.ParseInt(strings.TrimPrefix(input, pushConditionPrefix), 10, 64)
		k := bot.Knowledge(id)
		if k == nil || !k.Enabled {
			return &TalkResult{Language: res.Language, Space: res.Space, Time: now}, nil
		}
		input = "" // the visitor did not type it
		if res.Text, err = e.knowledgeText(ctx, bot, d, isNew, k, req.Variables); err != nil {
			return nil, err
		}
		res.Type, res.KnowledgeID = bascule.TypeUnderstood, k.ID
	case input == "":
		res.Text, res.Type = bot.Sentence(bascule.SentenceEmpty, res.Language), bascule.TypeEmpty
	case utf8.RuneCountInString(input) > e.opt.MaxInput:
		input = truncateRunes(input, e.opt.MaxInput)
		res.Text, res.Type = bot.Sentence(bascule.SentenceTooLong, res.Language), bascule.TypeTooLong
	default:
		if err := e.answer(ctx, bot, d, isNew, input, req.Variables, res); err != nil {
			return nil, err
		}
		escalate, escalation = e.escalation(bot, input, res)
	}
	if !record {
		if isNew {
			if err := e.store.RecordTalk(ctx, d, nil); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	in := &bascule.Interaction{ID: req.InteractionID, DialogID: d.ID, BotID: d.BotID, At: now, Server: e.store.ServerID(),
		Question: input, Answer: res.Text, Type: res.Type, KnowledgeID: res.KnowledgeID, Language: res.Language, Space: res.Space}
	if !bascule.IsID(in.ID) {
		in.ID = bascule.NewOrderedID(now)
	}
	var newDialog *bascule.Dialog
	if isNew {
		newDialog = d
	}
	if escalate {
		// The livechat records the question with the hand-over it starts.
		if isNew {
			if err := e.store.RecordTalk(ctx, d, nil); err != nil {
				return nil, err
			}
		}
		if err := e.opt.Livechat.Escalate(ctx, bot, d, escalation, in, res); err != nil {
			return nil, err
		}
	} else if err := e.store.RecordTalk(ctx, newDialog, in); err != nil {
		return nil, err
	}
	d.LastAt = now
	res.Interaction = in
	return res, nil
}

// escalation reports whether an answered question hands the dialog over to an operator: an
// escalation knowledge item answered it, or the bot did not understand a visitor who asks for
// a human. Without a livechat, an escalation item is an ordinary answer.
func (e *Engine) escalation(bot *Bot, input string, res *TalkResult) (bool, *bascule.Knowledge) {
	if e.opt.Livechat == nil {
		return false, nil
	}
	if res.Type == bascule.TypeUnderstood {
		k := bot.Knowledge(res.KnowledgeID)
		return k != nil && k.Kind == bascule.KindEscalation, k
	}
	return AsksForHuman(input, res.Language), nil
}

// resolve finds the dialog a question belongs to: the given context if it is this bot's and
// still live, otherwise a new dialog (an unknown or archived context gets a new one, as dydu
// does). A new dialog opened for a context this server does not know continues that one: the
// dialog started on the other server of the pair and did not reach this one before the
// switch, and history and analytics must see one conversation.
func (e *Engine) resolve(ctx context.Context, bot *Bot, req *TalkRequest, res *TalkResult, now time.Time) (*bascule.Dialog, bool, error) {
	d := &bascule.Dialog{ID: bascule.NewID(), BotID: bot.KB.Bot.ID, ClientID: limit(req.ClientID, 64),
		Language: res.Language, Space: res.Space, Origin: e.store.ServerID(), StartedAt: now, LastAt: now,
		UserURL: limit(req.UserURL, 2048), Browser: limit(req.Browser, 200), OS: limit(req.OS, 200)}
	if req.ContextID == "" {
		return d, true, nil
	}
	if !bascule.IsID(req.ContextID) {
		// Not one of ours: the client's most recent dialog, if it is still live, is the one the
		// visitor carries on.
		if d.ClientID != "" {
			latest, err := e.store.LatestDialog(ctx, bot.KB.Bot.ID, d.ClientID)
			if err == nil && latest.Live(now, e.opt.Idle) {
				d.Continues, d.ContinuesVia = latest.ID, bascule.LinkClient
			}
		}
		return d, true, nil
	}
	found, err := e.store.Dialog(ctx, req.ContextID)
	switch {
	case err == nil && found.BotID == bot.KB.Bot.ID && found.Live(now, e.opt.Idle):
		res.Language, res.Space = bot.Language(found.Language), bot.Space(found.Space)
		return found, false, nil
	case errors.Is(err, bascule.ErrNotFound):
		d.Continues, d.ContinuesVia = req.ContextID, bascule.LinkContext
	case err != nil:
		return nil, false, err
	}
	return d, true, nil
}

// answer matches the question and applies the thresholds; vars are the page's variables.
func (e *Engine) answer(ctx context.Context, bot *Bot, d *bascule.Dialog, isNew bool, input string, vars map[string]string, res *TalkResult) error {
	matches := bot.Index.Search(input, res.Language, res.Space, maxSuggestions+1)
	verdict, chosen := Decide(matches)
	switch verdict {
	case Understood:
		k := chosen[0].Knowledge
		text, err := e.knowledgeText(ctx, bot, d, isNew, k, vars)
		if err != nil {
			return err
		}
		res.Text, res.Type, res.KnowledgeID = text, bascule.TypeUnderstood, k.ID
		res.AskFeedback = bot.KB.Bot.Settings.AskFeedback
	case Reword:
		var b strings.Builder
		b.WriteString(bot.Sentence(bascule.SentenceRewordIntro, res.Language))
		b.WriteString(`<ul class="bascule-rewords">`)
		for _, m := range chosen {
			res.Rewords = append(res.Rewords, m.Knowledge.Question)
			b.WriteString(`<li>`)
			b.WriteString(html.EscapeString(m.Knowledge.Question))
			b.WriteString(`</li>`)
		}
		b.WriteString(`</ul>`)
		res.Text, res.Type = b.String(), bascule.TypeReword
	default:
		res.Type = bascule.TypeMisunderstood
		res.Text = bot.Sentence(bascule.SentenceMisunderstood, res.Language)
		streak, err := e.misunderstoodStreak(ctx, bot, d, isNew)
		if err != nil {
			return err
		}
		if streak {
			res.Type = bascule.TypeTooManyMisunderstood
			res.Text = bot.Sentence(bascule.SentenceTooManyMisunderstood, res.Language)
		}
	}
	return nil
}

// misunderstoodStreak reports whether this misunderstood question completes a run of
// MisunderstoodInARow (3 by default) misunderstood questions.
func (e *Engine) misunderstoodStreak(ctx context.Context, bot *Bot, d *bascule.Dialog, isNew bool) (bool, error) {
	n := bot.KB.Bot.Settings.MisunderstoodInARow
	if n <= 0 {
		n = 3
	}
	if isNew || n == 1 {
		return n == 1, nil
	}
	last, err := e.store.RecentTypes(ctx, d.ID, n-1)
	if err != nil {
		return false, err
	}
	if len(last) < n-1 {
		return false, nil
	}
	for _, t := range last {
		if t != bascule.TypeMisunderstood && t != bascule.TypeTooManyMisunderstood {
			return false, nil
		}
	}
	return true, nil
}

func mailtoUnavailable(lang string) string {
	if lang == "fr" {
		return "<p>L'envoi de la conversation par e-mail n'est pas disponible.</p>"
	}
	return "<p>Sending the conversation by e-mail is not available.</p>"
}

// Clean makes visitor input safe to use: invalid UTF-8 and control characters are replaced,
// HTML entities (the dydu chatbox escapes & < >) are decoded, and spaces are trimmed. The
// result is plain text: it is stored as such and always rendered as text.
func Clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, '&') >= 0 {
		s = html.UnescapeString(s)
	}
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

func truncateRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// limit cleans visitor-supplied metadata and cuts it to at most n bytes.
func limit(s string, n int) string {
	s = Clean(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
