package livechat

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bascule/bascule"
)

// The operator's side: sessions, the dialogs a desk shows, and what an operator does with
// them. Every method takes the operator's account, as Authenticate returned it.

// Session is an open desk session.
type Session struct {
	Token   string          `json:"token"`
	Expires time.Time       `json:"expires"`
	Account bascule.Account `json:"operator"`
}

var errLogin = bascule.Errorf(bascule.CodeUnauthorized, "wrong login or password")

// Login checks an operator's password and opens a session. Attempts are limited per login and
// per client address, failed or not: guessing passwords takes forever.
func (s *Service) Login(ctx context.Context, login, password, client string) (*Session, error) {
	now := s.now()
	login = strings.ToLower(strings.TrimSpace(login))
	if l := s.opt.Logins; l != nil {
		okLogin, wait1 := l.Allow("login:"+login, now)
		okClient, wait2 := l.Allow("client:"+client, now)
		if !okLogin || !okClient {
			return nil, bascule.Errorf(bascule.CodeLimit, "too many login attempts; retry in %v", max(wait1, wait2).Round(time.Second))
		}
	}
	a, err := s.opt.Store.Account(ctx, login)
	if errors.Is(err, bascule.ErrNotFound) || (err == nil && a.Disabled) {
		CheckPassword(dummyHash(), password)
		return nil, errLogin
	}
	if err != nil {
		return nil, err
	}
	if !CheckPassword(a.PasswordHash, password) {
		return nil, errLogin
	}
	return s.session(a, Token{Login: a.Login, Issued: now}, now)
}

func (s *Service) session(a *bascule.Account, t Token, now time.Time) (*Session, error) {
	t.Expires = now.Add(s.opt.SessionIdle)
	if end := t.Issued.Add(s.opt.SessionMaxAge); t.Expires.After(end) {
		t.Expires = end
	}
	if !t.Expires.After(now) {
		return nil, bascule.Errorf(bascule.CodeUnauthorized, "the session has expired: log in again")
	}
	return &Session{Token: t.Sign(a.SessionKey), Expires: t.Expires, Account: a.Public()}, nil
}

// Authenticate returns the operator of a session token, on either server of the pair.
func (s *Service) Authenticate(ctx context.Context, token string) (*bascule.Account, error) {
	t, ok := ParseToken(token)
	if !ok || s.revoked.has(token) {
		return nil, bascule.Errorf(bascule.CodeUnauthorized, "no valid session: log in")
	}
	now := s.now()
	if !now.Before(t.Expires) {
		return nil, bascule.Errorf(bascule.CodeUnauthorized, "the session has expired: log in again")
	}
	a, err := s.opt.Store.Account(ctx, t.Login)
	if errors.Is(err, bascule.ErrNotFound) {
		return nil, bascule.Errorf(bascule.CodeUnauthorized, "no valid session: log in")
	}
	if err != nil {
		return nil, err
	}
	if a.Disabled || !t.Verify(token, a.SessionKey) {
		return nil, bascule.Errorf(bascule.CodeUnauthorized, "no valid session: log in")
	}
	s.pres.operatorSeen(a.Login, now)
	return a, nil
}

// Renew extends a session by the idle time, within its maximum age.
func (s *Service) Renew(ctx context.Context, a *bascule.Account, token string) (*Session, error) {
	t, _ := ParseToken(token)
	return s.session(a, t, s.now())
}

// Logout ends a session on this server and takes the operator off the desk: their dialogs go
// to other operators.
func (s *Service) Logout(ctx context.Context, a *bascule.Account, token string) error {
	t, _ := ParseToken(token)
	s.revoked.add(token, t.Expires, s.now())
	return s.SetStatus(ctx, a, StatusOffline)
}

// DialogView is a dialog as a desk shows it.
type DialogView struct {
	bascule.LivechatState
	OperatorName string `json:"operatorName,omitempty"`
	Position     int    `json:"position,omitempty"` // in the queue
	Language     string `json:"language,omitempty"`
	UserURL      string `json:"userUrl,omitempty"`
	// Last is the newest interaction, for the list.
	Last          *bascule.Interaction `json:"last,omitempty"`
	VisitorTyping bool                 `json:"visitorTyping,omitempty"`
	Preview       string               `json:"preview,omitempty"` // what the visitor is typing
	// Interactions is the whole dialog, the bot's part included (one dialog only).
	Interactions []bascule.Interaction `json:"interactions,omitempty"`
}

// keepClosed is how long a desk still lists a dialog after its end.
const keepClosed = 15 * time.Minute

// visible reports whether an operator sees a dialog: the ones they have (or had), the ones
// waiting for an operator like them; supervisors see all.
func visible(a *bascule.Account, st *bascule.LivechatState) bool {
	switch {
	case a.Role == bascule.RoleSupervisor || st.Operator == a.Login:
		return true
	case st.Status == bascule.LivechatQueued:
		return a.Serves(st.BotID) && (st.Competency == "" || slices.Contains(a.Competencies, st.Competency))
	}
	return false
}

// Dialogs returns the dialogs an operator's desk shows.
func (s *Service) Dialogs(ctx context.Context, a *bascule.Account) ([]DialogView, error) {
	v, err := s.look(ctx)
	if err != nil {
		return nil, err
	}
	states, err := s.opt.Store.LivechatStates(ctx, bascule.LivechatFilter{Open: true, ClosedSince: s.now().Add(-keepClosed)})
	if err != nil {
		return nil, err
	}
	out := []DialogView{}
	for i := range states {
		if visible(a, &states[i]) {
			dv, err := s.dialogView(ctx, v, &states[i], false)
			if err != nil {
				return nil, err
			}
			if dv != nil {
				out = append(out, *dv)
			}
		}
	}
	return out, nil
}

// Dialog returns one dialog the operator sees, with its whole history (not found otherwise:
// an operator does not learn of dialogs that are not theirs).
func (s *Service) Dialog(ctx context.Context, a *bascule.Account, dialogID string, history bool) (*DialogView, error) {
	st, err := s.state(ctx, dialogID)
	if err != nil {
		return nil, err
	}
	if st == nil || !visible(a, st) {
		return nil, bascule.NotFoundf("no dialog %s on your desk", dialogID)
	}
	v, err := s.look(ctx)
	if err != nil {
		return nil, err
	}
	dv, err := s.dialogView(ctx, v, st, history)
	if err == nil && dv == nil {
		err = bascule.NotFoundf("no dialog %s on your desk", dialogID)
	}
	return dv, err
}

func (s *Service) dialogView(ctx context.Context, v *view, st *bascule.LivechatState, history bool) (*DialogView, error) {
	d, err := s.opt.Store.Dialog(ctx, st.DialogID)
	if errors.Is(err, bascule.ErrNotFound) {
		return nil, nil // erased
	}
	if err != nil {
		return nil, err
	}
	dv := &DialogView{LivechatState: *st, Language: d.Language, UserURL: d.UserURL}
	if st.Operator != "" {
		dv.OperatorName = s.name(st.Operator)
	}
	if st.Status == bascule.LivechatQueued {
		dv.Position, _ = s.position(v, st)
	}
	s.pres.mu.Lock()
	if vp := s.pres.visitors[st.DialogID]; vp != nil && s.now().Sub(vp.typing) < typingFor {
		dv.VisitorTyping, dv.Preview = true, vp.preview
	}
	s.pres.mu.Unlock()
	if history {
		_, dv.Interactions, err = s.opt.Engine.History(ctx, d.BotID, d.ID)
		if n := len(dv.Interactions); n > 0 {
			dv.Last = &dv.Interactions[n-1]
		}
		return dv, err
	}
	last, err := s.opt.Store.Interactions(ctx, d.ID, 1)
	if len(last) == 1 {
		dv.Last = &last[0]
	}
	return dv, err
}

// mine returns an open dialog the operator may act on: theirs (anyone's for a supervisor).
func (s *Service) mine(ctx context.Context, a *bascule.Account, dialogID string) (*bascule.Dialog, *bascule.LivechatState, error) {
	st, err := s.state(ctx, dialogID)
	if err != nil {
		return nil, nil, err
	}
	if st == nil || !visible(a, st) {
		return nil, nil, bascule.NotFoundf("no dialog %s on your desk", dialogID)
	}
	if st.Status != bascule.LivechatAssigned || (st.Operator != a.Login && a.Role != bascule.RoleSupervisor) {
		return nil, nil, bascule.Errorf(bascule.CodeConflict, "the dialog is not with you (it is %s)", st.Status)
	}
	d, err := s.opt.Store.Dialog(ctx, dialogID)
	return d, st, err
}

// Send writes an operator's message to the visitor. id, chosen by the desk, makes a message
// sent again (after a failure, to the other server) one message.
func (s *Service) Send(ctx context.Context, a *bascule.Account, dialogID, id, text string) (*bascule.Interaction, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, bascule.FieldErrorf("text", "must not be empty")
	}
	if utf8.RuneCountInString(text) > maxMessage {
		return nil, bascule.FieldErrorf("text", "at most %d characters", maxMessage)
	}
	d, st, err := s.mine(ctx, a, dialogID)
	if err != nil {
		return nil, err
	}
	in := s.interaction(d, id, bascule.TypeOperator, bascule.FromOperator(a.Login))
	in.Answer = operatorHTML(text)
	s.pres.operatorTyping(a.Login, d.ID, false, s.now())
	if st.Operator == a.Login && st.OperatorOn != s.self {
		// The operator's desk moved here: this server now watches over the operator.
		_, err = s.transition(ctx, d, func(cur, next *bascule.LivechatState) ([]*bascule.Interaction, error) {
			if cur.Operator == a.Login {
				next.OperatorOn = s.self
			}
			return []*bascule.Interaction{in}, nil
		})
	} else if err = s.opt.Store.RecordLivechat(ctx, nil, in); err == nil {
		s.changed(ctx, st, st)
	}
	return in, err
}

// Typing records that an operator types in a dialog (or stopped), for the visitor.
func (s *Service) Typing(ctx context.Context, a *bascule.Account, dialogID string, on bool) error {
	d, _, err := s.mine(ctx, a, dialogID)
	if err != nil {
		return err
	}
	s.pres.operatorTyping(a.Login, d.ID, on, s.now())
	s.publish(ctx, dialogTopic+d.ID, Event{Dialog: d.ID, Bot: d.BotID, What: EventTyping, Who: a.Login, On: on})
	return nil
}

// Take gives a waiting dialog to the operator who asks for it, within their capacity.
func (s *Service) Take(ctx context.Context, a *bascule.Account, dialogID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.look(ctx)
	if err != nil {
		return err
	}
	st, err := s.state(ctx, dialogID)
	if err != nil {
		return err
	}
	if st == nil || !visible(a, st) {
		return bascule.NotFoundf("no dialog %s on your desk", dialogID)
	}
	if st.Status != bascule.LivechatQueued {
		return bascule.Errorf(bascule.CodeConflict, "the dialog does not wait for an operator (it is %s)", st.Status)
	}
	if l := v.load(a.Login); a.Role != bascule.RoleSupervisor && l != nil && l.Active >= a.Capacity {
		return bascule.Errorf(bascule.CodeLimit, "you have %d dialogs, your capacity", l.Active)
	}
	return s.assign(ctx, v, st, a.Login, "", "")
}

// assign gives a waiting or assigned dialog to an operator present here. from is the
// operator it is taken from ("" for a waiting dialog), typ the notice's type (joined by
// default).
func (s *Service) assign(ctx context.Context, v *view, st *bascule.LivechatState, login, from, typ string) error {
	d, err := s.opt.Store.Dialog(ctx, st.DialogID)
	if err != nil {
		return err
	}
	w := say(d.Language)
	now := s.now()
	_, err = s.transition(ctx, d, func(cur, next *bascule.LivechatState) ([]*bascule.Interaction, error) {
		if cur == nil || cur.Status != st.Status || cur.Operator != st.Operator {
			return nil, bascule.Errorf(bascule.CodeConflict, "the dialog changed meanwhile")
		}
		next.Status, next.Operator, next.AssignedAt, next.OperatorOn = bascule.LivechatAssigned, login, now, s.self
		text := w.name(w.joined, s.name(login))
		if typ == "" {
			typ = bascule.TypeOperatorJoined
		} else {
			next.Transfers++
			text = w.name(w.transferred, s.name(from), s.name(login))
		}
		return []*bascule.Interaction{s.notice(d, typ, bascule.FromOperator(login), text)}, nil
	})
	if err != nil {
		return err
	}
	s.pres.assignedTo(login, now)
	if l := v.load(login); l != nil {
		l.Active++
		l.LastAssigned = now
	}
	if l := v.load(from); l != nil {
		l.Active--
	}
	return nil
}

// Transfer passes a dialog to another operator, who must be at the desk (on this server),
// available, able to take it and under their capacity.
func (s *Service) Transfer(ctx context.Context, a *bascule.Account, dialogID, to string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, st, err := s.mine(ctx, a, dialogID)
	if err != nil {
		return err
	}
	v, err := s.look(ctx)
	if err != nil {
		return err
	}
	l := v.load(to)
	switch {
	case l == nil:
		return bascule.FieldErrorf("to", "no operator %q", to)
	case to == st.Operator:
		return bascule.FieldErrorf("to", "%s has the dialog already", to)
	case !eligible(l, st.BotID, st.Competency) || l.Status != StatusAvailable:
		return bascule.Errorf(bascule.CodeConflict, "%s cannot take the dialog now (%s)", l.Account.Name, l.Status)
	case l.Active >= l.Account.Capacity:
		return bascule.Errorf(bascule.CodeLimit, "%s has %d dialogs, their capacity", l.Account.Name, l.Active)
	}
	return s.assign(ctx, v, st, to, st.Operator, bascule.TypeTransferred)
}

// Close ends a hand-over: the visitor is back with the bot.
func (s *Service) Close(ctx context.Context, a *bascule.Account, dialogID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.state(ctx, dialogID)
	if err != nil {
		return err
	}
	if st == nil || !visible(a, st) {
		return bascule.NotFoundf("no dialog %s on your desk", dialogID)
	}
	if !st.Open() {
		return nil // closed already: closing twice is harmless
	}
	if st.Status == bascule.LivechatAssigned && st.Operator != a.Login && a.Role != bascule.RoleSupervisor {
		return bascule.Errorf(bascule.CodeConflict, "the dialog is with %s", s.name(st.Operator))
	}
	if err := s.end(ctx, st, bascule.TypeLivechatEnded, a.Login); err != nil {
		return err
	}
	v, err := s.look(ctx)
	if err != nil {
		return err
	}
	return s.dispatch(ctx, v)
}

// end closes a hand-over for a reason (the operator ended it, the visitor left).
func (s *Service) end(ctx context.Context, st *bascule.LivechatState, reason, by string) error {
	d, err := s.opt.Store.Dialog(ctx, st.DialogID)
	if err != nil {
		return err
	}
	w := say(d.Language)
	now := s.now()
	done, err := s.transition(ctx, d, func(cur, next *bascule.LivechatState) ([]*bascule.Interaction, error) {
		if !cur.Open() {
			return nil, errUnchanged
		}
		next.Status, next.ClosedAt, next.Reason = bascule.LivechatClosed, now, reason
		text, from := w.visitorLeft, ""
		if reason == bascule.TypeLivechatEnded {
			text, from = w.name(w.ended, s.name(by)), bascule.FromOperator(by)
		}
		return []*bascule.Interaction{s.notice(d, reason, from, text)}, nil
	})
	if err != nil {
		return err
	}
	if done != nil && !done.AssignedAt.IsZero() {
		// A moving average of the last twenty or so hand-overs, for the queue's estimates.
		if took := now.Sub(done.AssignedAt); took > 0 {
			old := time.Duration(s.handle.Load())
			s.handle.Store(int64(old + (took-old)/20))
		}
	}
	s.pres.forget(st.DialogID)
	return nil
}

// SetStatus changes an operator's status at the desk. An operator who goes offline hands
// their dialogs back to the queue, for others; one who becomes available takes waiting ones.
func (s *Service) SetStatus(ctx context.Context, a *bascule.Account, status string) error {
	if !slices.Contains(Statuses, status) {
		return bascule.FieldErrorf("status", "%q is not one of %s", status, strings.Join(Statuses, ", "))
	}
	s.pres.setStatus(a.Login, status, s.now())
	s.publish(ctx, deskTopic, Event{What: EventOperators, Who: a.Login})
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.look(ctx)
	if err != nil {
		return err
	}
	if status == StatusOffline {
		for i := range v.states {
			if st := &v.states[i]; st.Status == bascule.LivechatAssigned && st.Operator == a.Login {
				if err := s.requeue(ctx, st); err != nil {
					return err
				}
			}
		}
		if v, err = s.look(ctx); err != nil {
			return err
		}
	}
	return s.dispatch(ctx, v)
}

// requeue puts a dialog whose operator left back at the head of the queue (it keeps its
// original queue time).
func (s *Service) requeue(ctx context.Context, st *bascule.LivechatState) error {
	d, err := s.opt.Store.Dialog(ctx, st.DialogID)
	if err != nil {
		return err
	}
	w := say(d.Language)
	_, err = s.transition(ctx, d, func(cur, next *bascule.LivechatState) ([]*bascule.Interaction, error) {
		if cur.Status != bascule.LivechatAssigned || cur.Operator != st.Operator {
			return nil, errUnchanged
		}
		next.Status, next.Operator, next.AssignedAt, next.OperatorOn = bascule.LivechatQueued, "", time.Time{}, ""
		return []*bascule.Interaction{s.notice(d, bascule.TypeOperatorLeft, bascule.FromOperator(st.Operator),
			w.name(w.operatorLeft, s.name(st.Operator)))}, nil
	})
	return err
}

// OperatorView is an operator as desks list them (for transfers; supervisors watch them).
type OperatorView struct {
	Login        string   `json:"login"`
	Name         string   `json:"name"`
	Role         string   `json:"role"`
	Status       string   `json:"status"`
	Active       int      `json:"active"`
	Capacity     int      `json:"capacity"`
	Competencies []string `json:"competencies,omitempty"`
}

// Operators lists the operators and their status at this server.
func (s *Service) Operators(ctx context.Context) ([]OperatorView, error) {
	v, err := s.look(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]OperatorView, 0, len(v.loads))
	for _, l := range v.loads {
		if l.Account.Disabled {
			continue
		}
		out = append(out, OperatorView{Login: l.Account.Login, Name: l.Account.Name, Role: l.Account.Role, Status: l.Status,
			Active: l.Active, Capacity: l.Account.Capacity, Competencies: l.Account.Competencies})
	}
	return out, nil
}

// Status returns an operator's status at this server.
func (s *Service) Status(login string) string { return s.pres.status(login) }

// OpenDesk follows an operator's desk: Events says when to look again. The operator is at
// the desk while it is open (status: what the desk asks for, "" to keep the status or become
// available). Dialogs of the operator watched by the other server are watched here from now
// on: the desk moved.
func (s *Service) OpenDesk(ctx context.Context, a *bascule.Account, status string) (*Watch, error) {
	if status != "" && !slices.Contains(Statuses, status) {
		return nil, bascule.FieldErrorf("status", "%q is not one of %s", status, strings.Join(Statuses, ", "))
	}
	events, cancel := s.opt.Bus.Subscribe(deskTopic)
	s.pres.deskOpened(a.Login, status, s.now())
	s.publish(ctx, deskTopic, Event{What: EventOperators, Who: a.Login})
	if err := s.claimOperator(ctx, a.Login); err != nil {
		cancel()
		return nil, err
	}
	return &Watch{Events: events, cancel: func() {
		cancel()
		s.pres.deskClosed(a.Login, s.now())
	}}, nil
}

// claimOperator makes this server the one that watches an operator's open dialogs, and gives
// them waiting dialogs if they are available.
func (s *Service) claimOperator(ctx context.Context, login string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.look(ctx)
	if err != nil {
		return err
	}
	for i := range v.states {
		st := &v.states[i]
		if st.Status != bascule.LivechatAssigned || st.Operator != login || st.OperatorOn == s.self {
			continue
		}
		d, err := s.opt.Store.Dialog(ctx, st.DialogID)
		if err != nil {
			return err
		}
		if _, err := s.transition(ctx, d, func(cur, next *bascule.LivechatState) ([]*bascule.Interaction, error) {
			if cur.Status != bascule.LivechatAssigned || cur.Operator != login {
				return nil, errUnchanged
			}
			next.OperatorOn = s.self
			return nil, nil
		}); err != nil {
			return err
		}
	}
	return s.dispatch(ctx, v)
}
