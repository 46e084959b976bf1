package livechat

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/clock"
)

// Run does the livechat's clock-driven work every second until ctx ends: it gives waiting
// dialogs to operators who can take them, moves dialogs away from operators who left or stay
// silent, and ends hand-overs whose visitor left.
func (s *Service) Run(ctx context.Context) {
	clock.Every(ctx, time.Second, func() {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.opt.Log.Warn("livechat: a round of the dispatcher failed; it runs again in a second", "err", err)
		}
	})
}

// Tick runs one round of the clock-driven work (Run calls it every second; tests call it with
// their clock).
func (s *Service) Tick(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	switch {
	case s.peerUp():
		s.peerDownSince = time.Time{}
	case s.peerDownSince.IsZero():
		s.peerDownSince = now
	}
	for _, login := range s.pres.absent(now, s.opt.OperatorGrace) {
		s.opt.Log.Info("livechat: an operator's desk is gone: they are offline", "operator", login)
		s.publish(ctx, deskTopic, Event{What: EventOperators, Who: login})
	}
	v, err := s.look(ctx)
	if err != nil {
		return err
	}
	changed := false
	for i := range v.states {
		st := &v.states[i]
		d, err := s.opt.Store.Dialog(ctx, st.DialogID)
		if errors.Is(err, bascule.ErrNotFound) {
			// Erased (a visitor's data deleted) while handed over: the hand-over ends, or it
			// would hold a place of its operator's capacity for ever.
			if err := s.endErased(ctx, st); err != nil {
				return err
			}
			changed = true
			continue
		}
		if err != nil {
			continue // unreadable: the next round tries again
		}
		switch {
		case s.responsible(st.VisitorOn) && (s.visitorLeft(st, now) || now.Sub(d.LastAt) > s.opt.Idle):
			err = s.end(ctx, st, bascule.TypeVisitorLeft, "")
		case st.Status != bascule.LivechatAssigned || !s.responsible(st.OperatorOn):
			continue
		case s.operatorLeft(st, now):
			err = s.requeue(ctx, st)
		default:
			var moved bool
			moved, err = s.inactive(ctx, v, d, st, now)
			changed = changed || moved
			continue
		}
		if err != nil {
			return err
		}
		changed = true
	}
	if changed {
		if v, err = s.look(ctx); err != nil {
			return err
		}
	}
	return s.dispatch(ctx, v)
}

// endErased closes the hand-over of an erased dialog, without a word: there is nobody left to
// tell, and nothing of the dialog may be written again.
func (s *Service) endErased(ctx context.Context, st *bascule.LivechatState) error {
	_, err := s.transition(ctx, &bascule.Dialog{ID: st.DialogID, BotID: st.BotID}, func(cur, next *bascule.LivechatState) ([]*bascule.Interaction, error) {
		if !cur.Open() {
			return nil, errUnchanged
		}
		next.Status, next.ClosedAt, next.Reason = bascule.LivechatClosed, s.now(), bascule.TypeVisitorLeft
		return nil, nil
	})
	s.pres.forget(st.DialogID)
	return err
}

// since is when this server started to miss someone last seen at lastSeen on server: not
// before it started itself, nor before the peer (where they were) became unreachable.
func (s *Service) since(server string, lastSeen, now time.Time) time.Time {
	t := later(lastSeen, s.started)
	if server != s.self && server != "" && !s.peerDownSince.IsZero() {
		t = later(t, s.peerDownSince)
	}
	return t
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// operatorLeft reports whether the operator of an assigned dialog is gone from the desk for
// longer than the grace time.
func (s *Service) operatorLeft(st *bascule.LivechatState, now time.Time) bool {
	if s.pres.status(st.Operator) != StatusOffline {
		return false
	}
	return now.Sub(s.since(st.OperatorOn, s.pres.operatorLastSeen(st.Operator), now)) > s.opt.OperatorGrace
}

// visitorLeft reports whether the visitor of an assigned dialog stopped following it for
// longer than the grace time. Only a chatbox that followed the livechat here is missed: the
// dydu chatbox does not poll while it waits in the queue, and a server that just started has
// not seen anyone (the idle time ends those).
func (s *Service) visitorLeft(st *bascule.LivechatState, now time.Time) bool {
	if st.Status != bascule.LivechatAssigned {
		return false
	}
	s.pres.mu.Lock()
	vp := s.pres.visitors[st.DialogID]
	followed := vp != nil && vp.followed
	gone := vp != nil && vp.channels == 0 && now.Sub(vp.lastSeen) > s.opt.VisitorGrace
	s.pres.mu.Unlock()
	if followed {
		return gone
	}
	// Followed on the peer, which is gone, and never here since.
	return st.VisitorOn != s.self && st.VisitorOn != "" && !s.peerDownSince.IsZero() &&
		now.Sub(s.since(st.VisitorOn, time.Time{}, now)) > s.opt.VisitorGrace
}

// waitingSince returns since when the visitor of an assigned dialog waits for the operator
// (zero: the operator answered last). The operator owes an answer from the moment they got the
// dialog, and from each visitor message after their last one.
func waitingSince(recent []bascule.Interaction) time.Time {
	var since time.Time
	for _, in := range recent {
		switch in.Type {
		case bascule.TypeOperator:
			since = time.Time{}
		case bascule.TypeOperatorJoined, bascule.TypeTransferred, bascule.TypeTransferredAuto:
			since = in.At
		case bascule.TypeVisitorMessage:
			if since.IsZero() {
				since = in.At
			}
		}
	}
	return since
}

// inactive moves a dialog to another operator when its operator left the visitor without an
// answer longer than the bot's inactivity transfer time, and someone else can take it.
func (s *Service) inactive(ctx context.Context, v *view, d *bascule.Dialog, st *bascule.LivechatState, now time.Time) (bool, error) {
	lc := s.settings(ctx, st.BotID)
	if lc == nil || lc.InactivityTransfer <= 0 {
		return false, nil
	}
	recent, err := s.opt.Store.Interactions(ctx, d.ID, 20)
	if err != nil {
		return false, err
	}
	since := waitingSince(recent)
	if since.IsZero() || now.Sub(since) <= lc.InactivityTransfer.D() {
		return false, nil
	}
	to := Pick(now, lc, st.BotID, st.Competency, v.loads, st.Operator)
	if to == "" {
		return false, nil // nobody else: the operator keeps it
	}
	s.opt.Log.Info("livechat: a dialog moves away from a silent operator", "dialog", st.DialogID, "from", st.Operator, "to", to)
	return true, s.assign(ctx, v, st, to, st.Operator, bascule.TypeTransferredAuto)
}

// dispatch gives waiting dialogs, oldest first, to the operators at this server who can take
// them.
func (s *Service) dispatch(ctx context.Context, v *view) error {
	var waiting []bascule.LivechatState
	for _, st := range v.states {
		if st.Status == bascule.LivechatQueued {
			waiting = append(waiting, st)
		}
	}
	slices.SortFunc(waiting, queueOrder)
	now := s.now()
	for i := range waiting {
		st := &waiting[i]
		to := Pick(now, s.settings(ctx, st.BotID), st.BotID, st.Competency, v.loads, "")
		if to == "" {
			continue
		}
		if err := s.assign(ctx, v, st, to, "", ""); err != nil && bascule.ErrorCode(err) != bascule.CodeConflict {
			return err
		}
	}
	return nil
}
