// Package livechat hands dialogs over from the bot to human operators: escalations, waiting
// queues, operators with capacities, competencies and opening hours, transfers, and the
// operator desk's sessions. It holds the rules; chatapi (the visitor's side, dydu's protocol)
// and desk (the operator's side) only translate HTTP to its calls.
//
// What must survive a failover is stored and replicated: the livechat state of each dialog
// (versioned per dialog, see bascule.LivechatState) and the messages, which are interactions.
// Who is at which server now (desks, chatboxes, typing) is runtime state in memory, shared by
// the nodes of a server through its bus; each server notices only the absence of the people it
// saw (the servers named in the state's VisitorOn and OperatorOn), or of anyone once the peer
// is unreachable, so that the two servers of a pair never both act on one absence.
package livechat

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/ratelimit"
)

// Pair is what the livechat knows of the pair of servers: where desks can reach each server,
// whether the peer answers, and whether desks should be on the peer (this is the backup and
// the main is back).
type Pair interface {
	SelfURL() string
	PeerURL() string
	PeerReachable() bool
	PreferPeer() bool
}

// Options configure the livechat.
type Options struct {
	Store  bascule.Store
	Engine *engine.Engine
	Bus    bascule.Bus
	Pair   Pair // nil: a standalone server
	Log    *slog.Logger
	Now    func() time.Time
	// OperatorGrace is how long an operator's desk may be gone (a reload, a move to the other
	// server) before the operator is offline and their dialogs go to others. Default 60s.
	OperatorGrace time.Duration
	// VisitorGrace is how long a visitor's chatbox may stop following the livechat before the
	// visitor has left. Default 90s.
	VisitorGrace time.Duration
	// Idle ends a hand-over whose dialog had no activity this long (the engine's dialog idle
	// time: the dialog is archived). Default 10 min.
	Idle time.Duration
	// SessionIdle is how long a desk session lasts unless the desk renews it; SessionMaxAge
	// bounds it from the login. Defaults 30 min and 12 h.
	SessionIdle   time.Duration
	SessionMaxAge time.Duration
	// Logins limits login attempts per login and per client address (nil: no limit).
	Logins ratelimit.Limiter
}

// Service is the livechat of one server. It is safe for concurrent use.
type Service struct {
	opt     Options
	self    string
	pres    *presence
	revoked revoked
	started time.Time

	// mu serialises the decisions of who has which dialog: a decision reads every open dialog
	// and operator load, and must not be made twice at once on stale loads.
	mu            sync.Mutex
	peerDownSince time.Time

	handle atomic.Int64 // average length of a hand-over (ns), for queue estimates

	names sync.Map // login -> display name
}

// New returns the livechat service; Run starts its clock-driven work.
func New(opt Options) *Service {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.OperatorGrace <= 0 {
		opt.OperatorGrace = time.Minute
	}
	if opt.VisitorGrace <= 0 {
		opt.VisitorGrace = 90 * time.Second
	}
	if opt.Idle <= 0 {
		opt.Idle = 10 * time.Minute
	}
	if opt.SessionIdle <= 0 {
		opt.SessionIdle = 30 * time.Minute
	}
	if opt.SessionMaxAge <= 0 {
		opt.SessionMaxAge = 12 * time.Hour
	}
	s := &Service{opt: opt, self: opt.Store.ServerID(), pres: newPresence(), started: opt.Now()}
	s.handle.Store(int64(3 * time.Minute))
	return s
}

func (s *Service) now() time.Time { return s.opt.Now().UTC().Truncate(time.Millisecond) }

// peerUp reports whether the other server of the pair answers (false without a peer).
func (s *Service) peerUp() bool { return s.opt.Pair != nil && s.opt.Pair.PeerReachable() }

// responsible reports whether this server acts on the absence of someone last seen on server.
func (s *Service) responsible(server string) bool {
	return server == "" || server == s.self || !s.peerUp()
}

// errUnchanged tells transition that there is nothing to write.
var errUnchanged = errors.New("unchanged")

// transition writes the next version of a dialog's livechat state: change gets the current
// state (nil: never handed over) and the next one to fill, and returns the interactions to
// record with it. A concurrent write (the peer's, replicated meanwhile) makes it read and
// decide again.
func (s *Service) transition(ctx context.Context, d *bascule.Dialog, change func(cur, next *bascule.LivechatState) ([]*bascule.Interaction, error)) (*bascule.LivechatState, error) {
	for try := 0; ; try++ {
		cur, err := s.opt.Store.LivechatState(ctx, d.ID)
		if errors.Is(err, bascule.ErrNotFound) {
			cur, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		next := &bascule.LivechatState{DialogID: d.ID, BotID: d.BotID}
		if cur != nil {
			*next = *cur
			next.Version = cur.Version
		}
		next.Version++
		next.Server, next.UpdatedAt = s.self, s.now()
		ins, err := change(cur, next)
		if errors.Is(err, errUnchanged) {
			return cur, nil
		}
		if err != nil {
			return nil, err
		}
		err = s.opt.Store.RecordLivechat(ctx, next, ins...)
		if errors.Is(err, bascule.ErrConflict) && try < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.changed(ctx, next, cur)
		return next, nil
	}
}

// interaction makes an interaction of a dialog's livechat written here now.
func (s *Service) interaction(d *bascule.Dialog, id, typ, from string) *bascule.Interaction {
	now := s.now()
	if !bascule.IsID(id) {
		id = bascule.NewOrderedID(now)
	}
	return &bascule.Interaction{ID: id, DialogID: d.ID, BotID: d.BotID, At: now, Server: s.self, Type: typ, From: from,
		Language: d.Language, Space: d.Space}
}

// notice makes a notice of the timeline (an operator joined, the dialog ended...).
func (s *Service) notice(d *bascule.Dialog, typ, from, text string) *bascule.Interaction {
	in := s.interaction(d, "", typ, from)
	in.Answer = text
	return in
}

// name returns an operator's display name (their login if the account is gone).
func (s *Service) name(login string) string {
	if v, ok := s.names.Load(login); ok {
		return v.(string)
	}
	a, err := s.opt.Store.Account(context.Background(), login)
	if err != nil {
		return login
	}
	s.names.Store(login, a.Name)
	return a.Name
}

// dialog returns a dialog of a bot by its context id (nil, not an error, when unknown).
func (s *Service) dialog(ctx context.Context, botID, contextID string) (*bascule.Dialog, error) {
	return s.opt.Engine.Dialog(ctx, botID, strings.ToLower(contextID))
}

func (s *Service) state(ctx context.Context, dialogID string) (*bascule.LivechatState, error) {
	st, err := s.opt.Store.LivechatState(ctx, dialogID)
	if errors.Is(err, bascule.ErrNotFound) {
		return nil, nil
	}
	return st, err
}

func (s *Service) settings(ctx context.Context, botID string) *bascule.LivechatSettings {
	b, err := s.opt.Engine.Bot(ctx, botID)
	if err != nil {
		return nil
	}
	return b.KB.Bot.Settings.Livechat
}

// view is what decisions read: the open dialogs and the operators with their loads here.
type view struct {
	states []bascule.LivechatState
	loads  []Load
}

func (s *Service) look(ctx context.Context) (*view, error) {
	states, err := s.opt.Store.LivechatStates(ctx, bascule.LivechatFilter{Open: true})
	if err != nil {
		return nil, err
	}
	accounts, err := s.opt.Store.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	v := &view{states: states}
	active := map[string]int{}
	for _, st := range states {
		if st.Status == bascule.LivechatAssigned {
			active[st.Operator]++
		}
	}
	for i := range accounts {
		a := &accounts[i]
		s.names.Store(a.Login, a.Name)
		v.loads = append(v.loads, Load{Account: a, Status: s.pres.status(a.Login), Active: active[a.Login], LastAssigned: s.pres.lastAssigned(a.Login)})
	}
	return v, nil
}

// queued returns the dialogs waiting for a bot's operators of a competency, in queue order.
func (v *view) queued(botID, competency string) []bascule.LivechatState {
	var out []bascule.LivechatState
	for _, st := range v.states {
		if st.Status == bascule.LivechatQueued && st.BotID == botID && st.Competency == competency {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, queueOrder)
	return out
}

func queueOrder(a, b bascule.LivechatState) int {
	if c := a.QueuedAt.Compare(b.QueuedAt); c != 0 {
		return c
	}
	return strings.Compare(a.DialogID, b.DialogID)
}

func (v *view) load(login string) *Load {
	for i := range v.loads {
		if v.loads[i].Account.Login == login {
			return &v.loads[i]
		}
	}
	return nil
}

// position returns a waiting dialog's place in its queue and the expected wait.
func (s *Service) position(v *view, st *bascule.LivechatState) (int, time.Duration) {
	q := v.queued(st.BotID, st.Competency)
	pos := slices.IndexFunc(q, func(o bascule.LivechatState) bool { return o.DialogID == st.DialogID }) + 1
	n := 0
	for i := range v.loads {
		if eligible(&v.loads[i], st.BotID, st.Competency) {
			n++
		}
	}
	return pos, EstimateWait(pos, n, time.Duration(s.handle.Load()))
}

// Escalate implements engine.Livechat.
func (s *Service) Escalate(ctx context.Context, bot *engine.Bot, d *bascule.Dialog, k *bascule.Knowledge, in *bascule.Interaction, res *engine.TalkResult) error {
	w := say(d.Language)
	res.Rewords, res.AskFeedback = nil, false // the answer is the hand-over, not a list of questions
	competency, answer := "", w.handover
	if k != nil {
		competency, answer = k.Competency, in.Answer
	}
	in.Server = s.self
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.look(ctx)
	if err != nil {
		return err
	}
	lc := bot.KB.Bot.Settings.Livechat
	now := s.now()
	dec := Route(now, lc, d.BotID, competency, v.loads, len(v.queued(d.BotID, competency)))
	if dec.Operator == "" && dec.Position == 0 {
		in.Answer = w.closed
		if dec.Reason != ReasonClosed {
			in.Answer = w.unavailable
		}
		if k != nil && k.Failure != "" {
			in.Answer = k.Failure
		}
		res.Text = in.Answer
		return s.opt.Store.RecordLivechat(ctx, nil, in)
	}
	var wait time.Duration
	st, err := s.transition(ctx, d, func(cur, next *bascule.LivechatState) ([]*bascule.Interaction, error) {
		*next = bascule.LivechatState{DialogID: d.ID, BotID: d.BotID, Version: next.Version, Server: s.self, UpdatedAt: now,
			Competency: competency, Start: in.ID, QueuedAt: now, VisitorOn: s.self}
		in.Answer = answer
		if dec.Operator != "" {
			next.Status, next.Operator, next.AssignedAt, next.OperatorOn = bascule.LivechatAssigned, dec.Operator, now, s.self
			in.Type = bascule.TypeLivechatStarted
			return []*bascule.Interaction{in, s.notice(d, bascule.TypeOperatorJoined, bascule.FromOperator(dec.Operator),
				w.name(w.joined, s.name(dec.Operator)))}, nil
		}
		next.Status = bascule.LivechatQueued
		v.states = append(v.states, *next)
		_, wait = s.position(v, next)
		in.Type = bascule.TypeLivechatQueued
		in.Answer = answer + w.queuedText(dec.Position, int(wait.Seconds()))
		return []*bascule.Interaction{in}, nil
	})
	if err != nil {
		return err
	}
	res.Text, res.Type = in.Answer, in.Type
	if dec.Operator != "" {
		s.pres.assignedTo(dec.Operator, now)
		res.SpecialAction = engine.ActionStartPolling
	} else {
		res.SpecialAction, res.QueuePosition, res.EstimatedWait = engine.ActionStartWaitingQueue, dec.Position, int(wait.Seconds())
	}
	res.Cursor, err = s.cursor(ctx, st)
	return err
}

// cursor is where the visitor's side of a hand-over starts.
func (s *Service) cursor(ctx context.Context, st *bascule.LivechatState) (int64, error) {
	ins, err := s.opt.Store.Interactions(ctx, st.DialogID, 0)
	return cursorOf(ins, st.Start), err
}

// maxMessage bounds a message of a livechat, in characters.
const maxMessage = 4000

// Intercept implements engine.Livechat: while a dialog is with an operator or waits for one,
// the visitor's words are for the operator.
func (s *Service) Intercept(ctx context.Context, req *engine.TalkRequest, d *bascule.Dialog, input string, res *engine.TalkResult) (bool, error) {
	st, err := s.state(ctx, d.ID)
	if err != nil {
		return false, err
	}
	if !st.Open() {
		return false, nil
	}
	now := s.now()
	s.pres.visitorSeen(d.ID, now)
	w := say(d.Language)
	res.Type = bascule.TypeVisitorMessage
	switch {
	case input == engine.InputLeaveQueue && st.Status == bascule.LivechatQueued:
		_, err := s.transition(ctx, d, func(cur, next *bascule.LivechatState) ([]*bascule.Interaction, error) {
			if cur.Status != bascule.LivechatQueued {
				return nil, errUnchanged
			}
			next.Status, next.ClosedAt, next.Reason = bascule.LivechatClosed, now, bascule.TypeLivechatLeftQueue
			return []*bascule.Interaction{s.notice(d, bascule.TypeLivechatLeftQueue, "", w.leftQueue)}, nil
		})
		res.Text, res.Type, res.SpecialAction = w.leftQueue, bascule.TypeLivechatLeftQueue, engine.ActionLeaveWaitingQueue
		return true, err
	case input == "" || input == engine.InputLeaveQueue || (strings.HasPrefix(input, "#") && strings.HasSuffix(input, "#")):
		return true, nil // a keyword of the chatbox: nothing for the operator
	}
	if utf8.RuneCountInString(input) > maxMessage {
		input = string([]rune(input)[:maxMessage])
	}
	in := s.interaction(d, req.InteractionID, bascule.TypeVisitorMessage, bascule.FromVisitor)
	in.Question = input
	if st.VisitorOn != s.self {
		// The visitor came to this server: from now on it is the one to notice if they leave.
		st, err = s.transition(ctx, d, func(cur, next *bascule.LivechatState) ([]*bascule.Interaction, error) {
			next.VisitorOn = s.self
			return []*bascule.Interaction{in}, nil
		})
	} else {
		err = s.opt.Store.RecordLivechat(ctx, nil, in)
		s.changed(ctx, st, st)
	}
	if err != nil {
		return true, err
	}
	res.Interaction = in
	if req.Mode == "polling" || req.Mode == "websocket" {
		return true, nil // the chatbox follows the livechat: the operator answers through it
	}
	// A chatbox that does not follow the livechat (the dydu chatbox while it waits in the
	// queue) learns from the answer where it stands.
	switch st.Status {
	case bascule.LivechatQueued:
		v, err := s.look(ctx)
		if err != nil {
			return true, err
		}
		pos, wait := s.position(v, st)
		res.Text, res.Type, res.SpecialAction = w.queuedText(pos, int(wait.Seconds())), bascule.TypeLivechatQueued, engine.ActionStartWaitingQueue
		res.QueuePosition, res.EstimatedWait = pos, int(wait.Seconds())
	case bascule.LivechatAssigned:
		res.Text, res.Type, res.SpecialAction = w.name(w.joined, s.name(st.Operator)), bascule.TypeLivechatStarted, engine.ActionStartPolling
		res.Cursor, err = s.cursor(ctx, st)
	}
	return true, err
}

// operatorHTML turns an operator's plain text into the HTML of a message.
func operatorHTML(text string) string {
	var b strings.Builder
	b.WriteString("<p>")
	for i, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if i > 0 {
			b.WriteString("<br>")
		}
		b.WriteString(html.EscapeString(strings.TrimRight(line, "\r")))
	}
	b.WriteString("</p>")
	return b.String()
}

// Events on the bus. A subscriber learns that something changed and looks again: events may
// be dropped for a subscriber that lags, never what is stored.
const (
	deskTopic   = "livechat:desk"
	dialogTopic = "livechat:dialog:"
)

// Event is what the bus carries about livechats.
type Event struct {
	Dialog  string `json:"dialog,omitempty"`
	Bot     string `json:"bot,omitempty"`
	What    string `json:"what"` // update, typing, operators
	Who     string `json:"who,omitempty"`
	On      bool   `json:"on,omitempty"`
	Preview string `json:"preview,omitempty"`
}

// Kinds of events.
const (
	EventUpdate    = "update"    // the dialog's state or timeline changed
	EventTyping    = "typing"    // someone types (Who: the operator's login, or "" for the visitor)
	EventOperators = "operators" // an operator's status changed
)

func (s *Service) publish(ctx context.Context, topic string, e Event) {
	b, _ := json.Marshal(e)
	if err := s.opt.Bus.Publish(ctx, topic, b); err != nil {
		s.opt.Log.Warn("livechat event lost", "topic", topic, "err", err)
	}
}

// changed tells the chatbox and the desks that a dialog changed, and the visitors waiting in
// the queue that their place may have (before is the state before the change).
func (s *Service) changed(ctx context.Context, st, before *bascule.LivechatState) {
	e := Event{Dialog: st.DialogID, Bot: st.BotID, What: EventUpdate}
	s.publish(ctx, dialogTopic+st.DialogID, e)
	s.publish(ctx, deskTopic, e)
	if before != nil && before.Status == st.Status {
		return
	}
	waiting, err := s.opt.Store.LivechatStates(ctx, bascule.LivechatFilter{BotID: st.BotID, Open: true})
	if err != nil {
		return // the dialog's own events went out; positions refresh at the next change
	}
	for _, q := range waiting {
		if q.Status == bascule.LivechatQueued && q.DialogID != st.DialogID {
			s.publish(ctx, dialogTopic+q.DialogID, Event{Dialog: q.DialogID, Bot: q.BotID, What: EventUpdate})
		}
	}
}
