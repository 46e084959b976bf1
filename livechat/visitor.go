package livechat

import (
	"context"
	"encoding/json"
	"unicode/utf8"

	"github.com/bascule/bascule"
)

// The visitor's side: the chatbox follows the hand-over by polling (the dydu chatbox) or on
// a push channel (ours), says when the visitor types, and asks whether it still waits.

// Updates is what a chatbox learns when it looks at its livechat.
type Updates struct {
	Items []Item // the timeline after the chatbox's cursor
	// Queue is the visitor's place while waiting (nil otherwise).
	Queue *Item
	// Typing says the operator types now.
	Typing bool
	// Open says the hand-over goes on (false: the chatbox may stop following it).
	Open bool
}

// Updates returns what happened in a dialog's livechat after the cursor. Looking counts as
// the visitor's presence on this server.
func (s *Service) Updates(ctx context.Context, botID, contextID string, after int64) (*Updates, error) {
	d, err := s.dialog(ctx, botID, contextID)
	if err != nil || d == nil {
		return &Updates{}, err
	}
	now := s.now()
	s.pres.visitorFollowed(d.ID, now)
	st, err := s.state(ctx, d.ID)
	if err != nil || st == nil {
		return &Updates{}, err
	}
	if st.Open() && st.VisitorOn != s.self {
		// The chatbox moved here (the other server failed): this server watches the visitor now.
		if st, err = s.transition(ctx, d, func(cur, next *bascule.LivechatState) ([]*bascule.Interaction, error) {
			if !cur.Open() {
				return nil, errUnchanged
			}
			next.VisitorOn = s.self
			return nil, nil
		}); err != nil {
			return nil, err
		}
	}
	ins, err := s.opt.Store.Interactions(ctx, d.ID, 0)
	if err != nil {
		return nil, err
	}
	u := &Updates{Items: timeline(ins, st.Start, after, s.name), Open: st.Open()}
	switch st.Status {
	case bascule.LivechatAssigned:
		u.Typing = s.pres.operatorIsTyping(st.Operator, d.ID, now)
	case bascule.LivechatQueued:
		v, err := s.look(ctx)
		if err != nil {
			return nil, err
		}
		pos, wait := s.position(v, st)
		u.Queue = &Item{Cursor: after, Type: bascule.TypeLivechatQueued, Position: pos, Wait: int(wait.Seconds()),
			Text: say(d.Language).queuedText(pos, int(wait.Seconds()))}
	}
	return u, nil
}

// Poll is dydu's chat/poll/last: the first thing the visitor has not been told after the
// cursor, else the operator typing, else nothing (nil). The dydu chatbox takes one answer per
// poll, and sends back its cursor.
func (s *Service) Poll(ctx context.Context, botID, contextID string, after int64) (*Item, error) {
	u, err := s.Updates(ctx, botID, contextID, after)
	switch {
	case err != nil:
		return nil, err
	case len(u.Items) > 0:
		return &u.Items[0], nil
	case u.Typing:
		return &Item{Cursor: after, Type: TypingCode, Typing: true}, nil
	}
	return nil, nil
}

// Watch follows a dialog's livechat for a push channel: Events says when to look again with
// Updates, and carries the operator's typing. The visitor counts as present while it is open.
type Watch struct {
	// Events are the bus's events about the dialog (JSON Event).
	Events <-chan []byte
	cancel func()
}

// Close ends the watch.
func (w *Watch) Close() { w.cancel() }

// Watch starts following a dialog's livechat (nil, nil: no such dialog).
func (s *Service) Watch(ctx context.Context, botID, contextID string) (*Watch, error) {
	d, err := s.dialog(ctx, botID, contextID)
	if err != nil || d == nil {
		return nil, err
	}
	events, cancel := s.opt.Bus.Subscribe(dialogTopic + d.ID)
	s.pres.channelOpened(d.ID, s.now())
	return &Watch{Events: events, cancel: func() {
		cancel()
		s.pres.channelClosed(d.ID, s.now())
	}}, nil
}

// ParseEvent reads an event of the bus.
func ParseEvent(b []byte) Event {
	var e Event
	json.Unmarshal(b, &e)
	return e
}

// maxPreview bounds what the operator sees of what the visitor is typing.
const maxPreview = 200

// VisitorTyping records that the visitor types (dydu's chat/typing), and shows the operator
// what they type so far.
func (s *Service) VisitorTyping(ctx context.Context, botID, contextID string, typing bool, content string) error {
	d, err := s.dialog(ctx, botID, contextID)
	if err != nil || d == nil {
		return err
	}
	st, err := s.state(ctx, d.ID)
	if err != nil || !st.Open() {
		return err
	}
	if utf8.RuneCountInString(content) > maxPreview {
		content = string([]rune(content)[:maxPreview])
	}
	s.pres.visitorTyping(d.ID, typing, content, s.now())
	s.publish(ctx, deskTopic, Event{Dialog: d.ID, Bot: d.BotID, What: EventTyping, On: typing, Preview: content})
	return nil
}

// VisitorSeen records that the visitor's chatbox is there (dydu's chat/reading).
func (s *Service) VisitorSeen(ctx context.Context, botID, contextID string) error {
	d, err := s.dialog(ctx, botID, contextID)
	if err != nil || d == nil {
		return err
	}
	s.pres.visitorSeen(d.ID, s.now())
	return nil
}

// Waiting reports whether a dialog waits in the queue (dydu's chat/status).
func (s *Service) Waiting(ctx context.Context, botID, contextID string) (bool, error) {
	d, err := s.dialog(ctx, botID, contextID)
	if err != nil || d == nil {
		return false, err
	}
	st, err := s.state(ctx, d.ID)
	return st != nil && st.Status == bascule.LivechatQueued, err
}

// OperatorName returns the display name of an operator, for the history of a dialog.
func (s *Service) OperatorName(login string) string { return s.name(login) }
