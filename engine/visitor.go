package engine

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bascule/bascule"
)

// Dialog returns the dialog of a context if it belongs to the bot (nil, not an error, when
// it does not: a visitor only ever sees their own context).
func (e *Engine) Dialog(ctx context.Context, botID, contextID string) (*bascule.Dialog, error) {
	if !bascule.IsID(contextID) {
		return nil, nil
	}
	d, err := e.store.Dialog(ctx, contextID)
	if errors.Is(err, bascule.ErrNotFound) || (err == nil && d.BotID != botID) {
		return nil, nil
	}
	return d, err
}

// ContextAvailable reports whether a context can be continued: it exists for this bot and
// is not archived.
func (e *Engine) ContextAvailable(ctx context.Context, botID, contextID string) (bool, error) {
	d, err := e.Dialog(ctx, botID, contextID)
	if err != nil || d == nil {
		return false, err
	}
	return d.Live(e.opt.Now(), e.opt.Idle), nil
}

// maxChain bounds how many switch-overs back a visitor's history goes.
const maxChain = 5

// History returns the interactions of a context, in order; none for a context that is not
// this bot's. When the dialog continues one the visitor presented the context of (a switch to
// the other server before replication caught up), that one's interactions come first: the
// visitor sees one conversation.
func (e *Engine) History(ctx context.Context, botID, contextID string) (*bascule.Dialog, []bascule.Interaction, error) {
	d, err := e.Dialog(ctx, botID, contextID)
	if err != nil || d == nil {
		return nil, nil, err
	}
	ins, err := e.store.Interactions(ctx, d.ID, 0)
	if err != nil {
		return nil, nil, err
	}
	for cur, hops := d, 0; cur.ContinuesVia == bascule.LinkContext && hops < maxChain; hops++ {
		prev, err := e.Dialog(ctx, botID, cur.Continues)
		if err != nil || prev == nil {
			return d, ins, err
		}
		before, err := e.store.Interactions(ctx, prev.ID, 0)
		if err != nil {
			return nil, nil, err
		}
		ins, cur = append(before, ins...), prev
	}
	return d, ins, nil
}

// Feedback records a visitor's judgement of the last answer of a context. Unknown contexts
// are ignored: the chatbox cannot do anything about them.
func (e *Engine) Feedback(ctx context.Context, botID, contextID, kind, value string) error {
	d, err := e.Dialog(ctx, botID, contextID)
	if err != nil || d == nil {
		return err
	}
	last, err := e.store.Interactions(ctx, d.ID, 1)
	if err != nil {
		return err
	}
	now := e.opt.Now().UTC()
	f := &bascule.Feedback{ID: bascule.NewOrderedID(now), DialogID: d.ID, Kind: kind, Value: limit(value, 4000), At: now}
	if len(last) == 1 {
		f.InteractionID = last[0].ID
	}
	return e.store.RecordFeedback(ctx, f)
}

// Visit records a page view of a site that embeds the chatbox.
func (e *Engine) Visit(ctx context.Context, botID, clientID, lang, space string) error {
	bot, err := e.Bot(ctx, botID)
	if err != nil {
		return err
	}
	now := e.opt.Now().UTC()
	return e.store.RecordVisit(ctx, &bascule.Visit{ID: bascule.NewOrderedID(now), BotID: botID, ClientID: limit(clientID, 64),
		Language: bot.Language(lang), Space: bot.Space(space), At: now, Server: e.store.ServerID()})
}

// SetVariable sets a dialog variable (integrators call it from the page).
func (e *Engine) SetVariable(ctx context.Context, botID, contextID, name, value string) error {
	d, err := e.Dialog(ctx, botID, contextID)
	if err != nil || d == nil {
		return err
	}
	name = limit(name, 100)
	if name == "" {
		return bascule.FieldErrorf("name", "must not be empty")
	}
	return e.store.SetVariable(ctx, &bascule.Variable{DialogID: d.ID, Name: name, Value: limit(value, 4000)})
}

// ClientData gathers everything stored about a client (GDPR access).
func (e *Engine) ClientData(ctx context.Context, botID, clientID string) ([]ClientDialog, error) {
	if clientID == "" {
		return nil, bascule.FieldErrorf("clientId", "must not be empty")
	}
	ds, err := e.store.ClientDialogs(ctx, botID, clientID)
	if err != nil {
		return nil, err
	}
	out := make([]ClientDialog, 0, len(ds))
	for _, d := range ds {
		ins, err := e.store.Interactions(ctx, d.ID, 0)
		if err != nil {
			return nil, err
		}
		files, err := e.store.Uploads(ctx, d.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, ClientDialog{Dialog: d, Interactions: ins, Uploads: files})
	}
	return out, nil
}

// ClientDialog is one dialog with its interactions and the files sent in it (their names,
// sizes and dates: the content stays on the server), as given to a client who asks for their
// data.
type ClientDialog struct {
	Dialog       bascule.Dialog        `json:"dialog"`
	Interactions []bascule.Interaction `json:"interactions"`
	Uploads      []bascule.Upload      `json:"uploads,omitempty"`
}

// EraseClient erases a client's dialogs here and, through the feed, on the peer.
func (e *Engine) EraseClient(ctx context.Context, botID, clientID string) (int, error) {
	if clientID == "" {
		return 0, bascule.FieldErrorf("clientId", "must not be empty")
	}
	return e.store.EraseClient(ctx, &bascule.ClientErasure{BotID: botID, ClientID: clientID, Before: e.opt.Now().UTC().Add(time.Millisecond)})
}

// Suggest returns knowledge questions completing a partial input (dydu's chat/search).
func (e *Engine) Suggest(ctx context.Context, botID, lang, space, input string, n int) ([]string, error) {
	bot, err := e.Bot(ctx, botID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range bot.Index.Suggest(Clean(input), bot.Language(lang), bot.Space(space), min(max(n, 1), 10)) {
		out = append(out, k.Question)
	}
	return out, nil
}

type topKey struct {
	bot, lang, space string
	days, n          int
}

type topEntry struct {
	at    time.Time
	items []*bascule.Knowledge
}

// topTTL is how long a top-knowledge ranking is reused: every chatbox that opens asks for it,
// and counting interactions each time would cost more than the answer is worth.
const topTTL = time.Minute

// TopKnowledge returns the knowledge most asked over a period, from real usage.
func (e *Engine) TopKnowledge(ctx context.Context, botID, lang, space, period string, n int) ([]*bascule.Knowledge, error) {
	bot, err := e.Bot(ctx, botID)
	if err != nil {
		return nil, err
	}
	lang, space = bot.Language(lang), bot.Space(space)
	n = min(max(n, 1), 20)
	key := topKey{botID, lang, space, PeriodDays(period), n}
	now := e.opt.Now()
	e.topMu.Lock()
	if en, ok := e.top[key]; ok && now.Sub(en.at) < topTTL {
		e.topMu.Unlock()
		return en.items, nil
	}
	e.topMu.Unlock()
	since := now.AddDate(0, 0, -key.days)
	counts, err := e.store.TopKnowledge(ctx, botID, lang, since, n*2)
	if err != nil {
		return nil, err
	}
	var items []*bascule.Knowledge
	for _, c := range counts {
		k := bot.Knowledge(c.KnowledgeID)
		if k == nil || !k.Enabled || (k.Space != "" && k.Space != space) {
			continue
		}
		if items = append(items, k); len(items) == n {
			break
		}
	}
	e.topMu.Lock()
	e.top[key] = topEntry{at: now, items: items}
	e.topMu.Unlock()
	return items, nil
}

var lastDaysRe = regexp.MustCompile(`^Last(\d{1,3})Days$`)

// PeriodDays reads dydu's period names (Last30Days, Last7Days, Today, Yesterday, LastWeek,
// LastMonth, LastYear); anything else means 30 days.
func PeriodDays(p string) int {
	if m := lastDaysRe.FindStringSubmatch(p); m != nil {
		n, _ := strconv.Atoi(m[1])
		return max(n, 1)
	}
	switch strings.ToLower(p) {
	case "today", "last24hours":
		return 1
	case "yesterday":
		return 2
	case "lastweek":
		return 7
	case "lastmonth":
		return 31
	case "lastyear":
		return 366
	}
	return 30
}
