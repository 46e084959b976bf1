package bascule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Livechat: a dialog handed over from the bot to a human operator. Operators have accounts
// (configuration: edited on the main only, replicated in the knowledge class); the livechat
// state of a dialog (waiting, with an operator, closed) is dialog data, written wherever the
// dialog is served and replicated in the dialogs class; what the visitor and the operator
// write are interactions, like the bot's answers.

// Replicated livechat entities. EntityAccount (an operator account) is declared with the
// others; EntityLivechat is the livechat state of one dialog.
const EntityLivechat = "livechat"

// Answer types of the livechat, as the dydu chatbox knows them (typeResponse, and code of its
// notifications).
const (
	TypeLivechatQueued    = "DMLiveChatConnectionInQueue"      // the visitor waits for an operator
	TypeLivechatLeftQueue = "DMLiveChatLeaveQueue"             // the visitor left the queue
	TypeOperatorJoined    = "OperatorConnected"                // an operator took the dialog
	TypeOperatorLeft      = "OperatorDisconnected"             // the operator's desk was lost: the dialog waits for another
	TypeTransferred       = "DialogTransferredManually"        // the operator passed the dialog to another
	TypeTransferredAuto   = "DialogTransferredAutomatically"   // the dialog was moved away from an inactive operator
	TypeVisitorLeft       = "NAAutoCloseDialogBecauseUserLeft" // closed: the visitor left
	TypeVisitorMessage    = "LCVisitorMessage"                 // words of a visitor to the operator
)

// Livechat statuses of a dialog.
const (
	LivechatBot      = "bot"      // the bot answers (never handed over, or back after a close)
	LivechatQueued   = "queued"   // waiting for an operator
	LivechatAssigned = "assigned" // an operator has it
	LivechatClosed   = "closed"   // the hand-over ended
)

// FromVisitor and the operator prefix are the values of Interaction.From in a livechat.
const (
	FromVisitor  = "visitor"
	fromOperator = "operator:"
)

// FromOperator returns the Interaction.From of an operator's message.
func FromOperator(login string) string { return fromOperator + login }

// OperatorOf returns the login of an operator's interaction ("" for anyone else).
func OperatorOf(from string) string {
	login, ok := strings.CutPrefix(from, fromOperator)
	if !ok {
		return ""
	}
	return login
}

// LivechatState is where a dialog stands in the livechat. Both servers of a pair may write it
// (the dialog moves with the visitor, the desk with the operator), so every write makes a new
// version: Version counts the writes of this dialog's state, whatever the servers' clocks say,
// and of two states the newer is the one with the higher Version (then the closed one, then
// the higher Server id: a deterministic choice when both servers wrote the same version while
// cut off from each other).
type LivechatState struct {
	DialogID   string `json:"dialogId"`
	BotID      string `json:"botId"`
	Version    int64  `json:"version"`
	Server     string `json:"server"` // the server that wrote this version
	Status     string `json:"status"`
	Competency string `json:"competency,omitempty"`
	Operator   string `json:"operator,omitempty"` // login of the operator who has (or had) the dialog
	// Start is the id of the interaction that started this hand-over: what came before is the
	// bot's part, shown to the operator, never delivered again to the visitor.
	Start      string    `json:"start"`
	QueuedAt   time.Time `json:"queuedAt,omitzero"`
	AssignedAt time.Time `json:"assignedAt,omitzero"`
	ClosedAt   time.Time `json:"closedAt,omitzero"`
	// Reason is the answer type that closed the hand-over (TypeLivechatEnded: the operator;
	// TypeVisitorLeft; TypeLivechatLeftQueue).
	Reason    string `json:"reason,omitempty"`
	Transfers int    `json:"transfers,omitempty"`
	// VisitorOn and OperatorOn name the servers that last saw the visitor's chatbox and the
	// operator's desk: each notices the absence of the one it saw, so that two servers never
	// both close or move the dialog.
	VisitorOn  string    `json:"visitorOn,omitempty"`
	OperatorOn string    `json:"operatorOn,omitempty"`
	UpdatedAt  time.Time `json:"updatedAt"` // the writer's clock; for people, not for ordering
}

// Open reports whether the dialog is with an operator or waiting for one.
func (s *LivechatState) Open() bool {
	return s != nil && (s.Status == LivechatQueued || s.Status == LivechatAssigned)
}

// Newer reports whether s wins over other (nil: s wins). The order is total, so both servers
// keep the same state whatever order the versions arrive in.
func (s *LivechatState) Newer(other *LivechatState) bool {
	if other == nil {
		return true
	}
	if s.Version != other.Version {
		return s.Version > other.Version
	}
	if sc, oc := s.Status == LivechatClosed, other.Status == LivechatClosed; sc != oc {
		return sc // an end is never undone by a concurrent write of the same version
	}
	return s.Server > other.Server
}

// LivechatFilter selects livechat states.
type LivechatFilter struct {
	BotID    string // "" for every bot
	Operator string // "" for every operator
	Open     bool   // only queued and assigned dialogs
	// ClosedSince, with Open, adds the dialogs closed since then (a desk shows them a while).
	ClosedSince time.Time
}

// Operator roles.
const (
	RoleOperator   = "operator"   // sees the dialogs routed to them
	RoleSupervisor = "supervisor" // sees every dialog, and may act on any
)

// Operator limits (dydu: up to 10 simultaneous dialogs).
const (
	MaxOperatorCapacity = 10
	MaxQueueCapacity    = 100
)

// Account is an operator of the livechat desk. Accounts are configuration: written on the main
// only, replicated to the backup, where the same login and password work.
type Account struct {
	Login string `json:"login"`
	Name  string `json:"name"` // shown to visitors
	Role  string `json:"role"` // RoleOperator or RoleSupervisor
	// Password is only ever read from a request (to set it); it is never stored or returned.
	Password string `json:"password,omitempty"`
	// PasswordHash is the argon2id hash of the password, in the PHC string format.
	PasswordHash string `json:"passwordHash,omitempty"`
	// SessionKey signs the operator's desk sessions on both servers. A new password makes a
	// new key: every session of the operator ends.
	SessionKey   string   `json:"sessionKey,omitempty"`
	Bots         []string `json:"bots,omitempty"` // the bots whose dialogs they take; empty: all
	Competencies []string `json:"competencies,omitempty"`
	// Capacity is how many dialogs the operator has at once (1 to 10, default 3).
	Capacity int `json:"capacity,omitempty"`
	// QueueCapacity is how many more visitors may wait for this operator (dydu's additional
	// capacity): the waiting queue of a competency holds the sum over its operators.
	QueueCapacity int       `json:"queueCapacity,omitempty"`
	Disabled      bool      `json:"disabled,omitempty"`
	Version       int64     `json:"version,omitempty"`
	UpdatedAt     time.Time `json:"updatedAt,omitzero"`
}

// Public returns the account without its secrets, as the admin API and the desk show it.
func (a Account) Public() Account {
	a.Password, a.PasswordHash, a.SessionKey = "", "", ""
	return a
}

// Serves reports whether the operator takes dialogs of a bot.
func (a *Account) Serves(botID string) bool {
	return len(a.Bots) == 0 || slices.Contains(a.Bots, botID)
}

// Validate checks an account (without its password, which the livechat package checks).
func (a *Account) Validate() error {
	var errs []error
	if !IsLogin(a.Login) {
		errs = append(errs, FieldErrorf("login", "%q: use 2 to 64 lowercase letters, digits, '.', '_', '-' or '@'", a.Login))
	}
	if strings.TrimSpace(a.Name) == "" || len(a.Name) > 100 {
		errs = append(errs, FieldErrorf("name", "must hold 1 to 100 characters"))
	}
	if a.Role != RoleOperator && a.Role != RoleSupervisor {
		errs = append(errs, FieldErrorf("role", "%q is not operator or supervisor", a.Role))
	}
	if a.Capacity < 1 || a.Capacity > MaxOperatorCapacity {
		errs = append(errs, FieldErrorf("capacity", "must be between 1 and %d", MaxOperatorCapacity))
	}
	if a.QueueCapacity < 0 || a.QueueCapacity > MaxQueueCapacity {
		errs = append(errs, FieldErrorf("queueCapacity", "must be between 0 and %d", MaxQueueCapacity))
	}
	for i, b := range a.Bots {
		if !IsUUID(b) {
			errs = append(errs, FieldErrorf(fmt.Sprintf("bots[%d]", i), "%q is not a bot id", b))
		}
	}
	for i, c := range a.Competencies {
		if !IsGroupName(c) {
			errs = append(errs, FieldErrorf(fmt.Sprintf("competencies[%d]", i), "%q: use letters, digits, '_' and '-' only", c))
		}
	}
	return errors.Join(errs...)
}

// IsLogin reports whether s is usable as an operator login.
func IsLogin(s string) bool {
	if len(s) < 2 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)) {
			return false
		}
	}
	return true
}

// LivechatSettings are a bot's livechat options: its competencies and when operators answer.
type LivechatSettings struct {
	Competencies []Competency `json:"competencies,omitempty"`
	// InactivityTransfer moves a dialog to another operator when its operator has left the
	// visitor without an answer this long (0: never).
	InactivityTransfer Duration `json:"inactivityTransfer,omitempty"`
}

// Competency is a skill that escalations ask for and operators have.
type Competency struct {
	Name string `json:"name"`
	// Priority orders competencies for dialogs that ask for none: the operators of the
	// competency with the highest priority are called first (dydu's rule).
	Priority int `json:"priority,omitempty"`
	// Hours are when operators of the competency answer; none: always.
	Hours []OpeningHours `json:"hours,omitempty"`
	// TimeZone of the hours (an IANA name such as Europe/Paris; default UTC).
	TimeZone string `json:"timeZone,omitempty"`
	// QueueCapacity bounds the visitors waiting for the competency; 0: the sum of its
	// operators' queue capacities.
	QueueCapacity int `json:"queueCapacity,omitempty"`
}

// OpeningHours is a span of time on some days of the week, From included, To excluded.
type OpeningHours struct {
	Days []string `json:"days"` // mon, tue, wed, thu, fri, sat, sun
	From string   `json:"from"` // 09:00
	To   string   `json:"to"`   // 18:00; 24:00 is the end of the day
}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// minutes reads HH:MM as minutes since midnight (24:00 included).
func minutes(s string) (int, bool) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil || h > 24 || m > 59 || (h == 24 && m > 0) {
		return 0, false
	}
	return h*60 + m, true
}

// Competency returns the bot's competency of a name, or nil.
func (l *LivechatSettings) Competency(name string) *Competency {
	if l == nil {
		return nil
	}
	for i := range l.Competencies {
		if l.Competencies[i].Name == name {
			return &l.Competencies[i]
		}
	}
	return nil
}

// OpenAt reports whether operators of the competency answer at t.
func (c *Competency) OpenAt(t time.Time) bool {
	if len(c.Hours) == 0 {
		return true
	}
	loc := time.UTC
	if c.TimeZone != "" {
		if l, err := time.LoadLocation(c.TimeZone); err == nil {
			loc = l
		}
	}
	t = t.In(loc)
	day, now := weekdays[t.Weekday()], t.Hour()*60+t.Minute()
	for _, h := range c.Hours {
		from, _ := minutes(h.From)
		to, _ := minutes(h.To)
		if slices.Contains(h.Days, day) && now >= from && now < to {
			return true
		}
	}
	return false
}

// Validate checks the livechat settings; prefix names them in errors.
func (l *LivechatSettings) Validate(prefix string) error {
	if l == nil {
		return nil
	}
	var errs []error
	names := map[string]bool{}
	for i, c := range l.Competencies {
		f := fmt.Sprintf("%s.competencies[%d]", prefix, i)
		if !IsGroupName(c.Name) {
			errs = append(errs, FieldErrorf(f+".name", "%q: use letters, digits, '_' and '-' only", c.Name))
		}
		if names[c.Name] {
			errs = append(errs, FieldErrorf(f+".name", "competency %q is declared twice", c.Name))
		}
		names[c.Name] = true
		if c.TimeZone != "" {
			if _, err := time.LoadLocation(c.TimeZone); err != nil {
				errs = append(errs, FieldErrorf(f+".timeZone", "%q is not a time zone such as Europe/Paris", c.TimeZone))
			}
		}
		if c.QueueCapacity < 0 || c.QueueCapacity > MaxQueueCapacity*MaxOperatorCapacity {
			errs = append(errs, FieldErrorf(f+".queueCapacity", "must be between 0 and %d", MaxQueueCapacity*MaxOperatorCapacity))
		}
		for j, h := range c.Hours {
			hf := fmt.Sprintf("%s.hours[%d]", f, j)
			if len(h.Days) == 0 {
				errs = append(errs, FieldErrorf(hf+".days", "must list days such as mon, tue"))
			}
			for _, d := range h.Days {
				if !slices.Contains(weekdays, d) {
					errs = append(errs, FieldErrorf(hf+".days", "%q is not one of %s", d, strings.Join(weekdays, ", ")))
				}
			}
			from, ok1 := minutes(h.From)
			to, ok2 := minutes(h.To)
			if !ok1 || !ok2 || from >= to {
				errs = append(errs, FieldErrorf(hf, "from %q to %q: write HH:MM times, from before to", h.From, h.To))
			}
		}
	}
	if l.InactivityTransfer.D() != 0 && l.InactivityTransfer.D() < 10*time.Second {
		errs = append(errs, FieldErrorf(prefix+".inactivityTransfer", "must be 0 (never) or at least 10s"))
	}
	return errors.Join(errs...)
}

// LivechatStore holds operator accounts and the livechat state of dialogs. Writes append to
// the feed like every other write.
type LivechatStore interface {
	Accounts(ctx context.Context) ([]Account, error)
	Account(ctx context.Context, login string) (*Account, error)
	// PutAccount creates or replaces an account; the store assigns Version and UpdatedAt.
	PutAccount(ctx context.Context, a *Account) error
	DeleteAccount(ctx context.Context, login string) error
	// LivechatState returns the livechat state of a dialog (not found: never handed over).
	LivechatState(ctx context.Context, dialogID string) (*LivechatState, error)
	LivechatStates(ctx context.Context, f LivechatFilter) ([]LivechatState, error)
	// RecordLivechat writes, in one transaction, a new version of a dialog's livechat state
	// (when st is not nil) and interactions of the livechat (numbered after the dialog's
	// last). The state's Version must be above the stored one, or nothing is written and the
	// error is a conflict: the caller read an old state and decides again. An interaction whose id
	// is stored already is not stored twice.
	RecordLivechat(ctx context.Context, st *LivechatState, ins ...*Interaction) error
}
