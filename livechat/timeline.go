package livechat

import (
	"slices"
	"time"

	"github.com/bascule/bascule"
)

// The visitor's side of a livechat is a timeline: the operator's messages and the notices
// (an operator joined, the dialog was transferred, it ended), in the dialog's order. A
// chatbox follows it with a cursor: the dydu chatbox sends back the last
// pollUpdatedInteractionDate it received, ours the id of the last event. The cursor is a
// number of milliseconds, as dydu's is, but it must never go back when the dialog moves from
// one server to the other, whose clocks differ: an item's cursor is its time, or one more than
// the item before it, whichever is later. Both servers hold the same interactions in the same
// order, so they give every item the same cursor.

// Item is one thing the visitor is told.
type Item struct {
	Cursor int64  `json:"cursor"`
	Type   string `json:"type"`           // the answer type (typeResponse), or the notice's code
	Text   string `json:"text,omitempty"` // HTML
	// Operator is the display name of the operator who wrote it or is named by it.
	Operator string `json:"operator,omitempty"`
	// Human is true for an operator's own words.
	Human bool `json:"human,omitempty"`
	// End says the hand-over ended: the chatbox goes back to the bot.
	End bool `json:"end,omitempty"`
	// LeftQueue says the visitor left the waiting queue.
	LeftQueue bool `json:"leftQueue,omitempty"`
	// Position and Wait (seconds) describe the waiting queue (Type TypeLivechatQueued).
	Position int `json:"position,omitempty"`
	Wait     int `json:"wait,omitempty"`
	// Typing is set on the signal that the operator types (Type TypingCode).
	Typing bool `json:"typing,omitempty"`
	At     time.Time
}

// TypingCode is the notification code of an operator typing (dydu's OperatorWritingStatus).
const TypingCode = "OperatorWritingStatus"

// notices are the answer types of the timeline that are not an operator's words.
var notices = []string{bascule.TypeOperatorJoined, bascule.TypeOperatorLeft, bascule.TypeTransferred,
	bascule.TypeTransferredAuto, bascule.TypeLivechatEnded, bascule.TypeVisitorLeft, bascule.TypeLivechatLeftQueue}

// ends are the notices after which the chatbox goes back to the bot.
var ends = []string{bascule.TypeLivechatEnded, bascule.TypeVisitorLeft, bascule.TypeLivechatLeftQueue}

// cursors returns the cursor of each interaction of a dialog (in the store's order).
func cursors(ins []bascule.Interaction) []int64 {
	out := make([]int64, len(ins))
	var prev int64
	for i := range ins {
		c := max(bascule.Millis(ins[i].At), prev+1)
		out[i], prev = c, c
	}
	return out
}

// cursorOf returns the cursor of the interaction id (0 if it is not there).
func cursorOf(ins []bascule.Interaction, id string) int64 {
	cs := cursors(ins)
	for i := range ins {
		if ins[i].ID == id {
			return cs[i]
		}
	}
	return 0
}

// timeline returns the items of the hand-over that started with interaction start, whose
// cursor is above after. name gives an operator's display name from their login.
func timeline(ins []bascule.Interaction, start string, after int64, name func(login string) string) []Item {
	cs := cursors(ins)
	from := slices.IndexFunc(ins, func(in bascule.Interaction) bool { return in.ID == start })
	if from < 0 {
		return nil
	}
	var out []Item
	for i := from + 1; i < len(ins); i++ {
		in := &ins[i]
		if cs[i] <= after || (in.Type != bascule.TypeOperator && !slices.Contains(notices, in.Type)) {
			continue
		}
		it := Item{Cursor: cs[i], Type: in.Type, Text: in.Answer, At: in.At, Human: in.Type == bascule.TypeOperator,
			End: slices.Contains(ends, in.Type), LeftQueue: in.Type == bascule.TypeLivechatLeftQueue}
		if login := bascule.OperatorOf(in.From); login != "" {
			it.Operator = name(login)
		}
		out = append(out, it)
	}
	return out
}
