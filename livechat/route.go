package livechat

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/bascule/bascule"
)

// Operator statuses at the desk.
const (
	// StatusAvailable: the operator takes new dialogs, up to their capacity.
	StatusAvailable = "available"
	// StatusBreak: on break. The operator keeps their dialogs and takes no new one; visitors
	// may still wait for them (their queue capacity counts), as they will be back.
	StatusBreak = "break"
	// StatusOffline: not at the desk (logged out, or the desk was gone longer than the grace
	// time). The operator takes nothing, no visitor waits for them, and their dialogs go to
	// others.
	StatusOffline = "offline"
)

// Statuses lists the statuses an operator may choose.
var Statuses = []string{StatusAvailable, StatusBreak, StatusOffline}

// Why a hand-over found no operator.
const (
	ReasonClosed = "closed" // out of the competency's opening hours
	ReasonNobody = "nobody" // no operator of the competency at the desk
	ReasonFull   = "full"   // the waiting queue is full
)

// Load is what routing knows of an operator: their account, their status at the desk, and how
// many dialogs they have now.
type Load struct {
	Account      *bascule.Account
	Status       string
	Active       int       // dialogs assigned to them now
	LastAssigned time.Time // shares dialogs among equally loaded operators
}

// Decision is where a hand-over goes: to an operator, or to the queue at a position, or
// nowhere for a reason.
type Decision struct {
	Operator string
	Position int
	Reason   string
}

// eligible reports whether an operator may have a dialog of a bot and competency at all
// (whatever their load): the account serves the bot, has the competency, and is at the desk.
func eligible(l *Load, botID, competency string) bool {
	a := l.Account
	return !a.Disabled && a.Serves(botID) && l.Status != StatusOffline && l.Status != "" &&
		(competency == "" || slices.Contains(a.Competencies, competency))
}

// Open reports whether a bot's operators answer dialogs of a competency at now. A dialog that
// asks for no competency is open when any competency is (always, when the bot declares none);
// a competency the bot does not declare is always open.
func Open(lc *bascule.LivechatSettings, competency string, now time.Time) bool {
	if lc == nil || len(lc.Competencies) == 0 {
		return true
	}
	if competency != "" {
		c := lc.Competency(competency)
		return c == nil || c.OpenAt(now)
	}
	for i := range lc.Competencies {
		if lc.Competencies[i].OpenAt(now) {
			return true
		}
	}
	return false
}

// rank is the order operators are called in for a dialog of a competency. For a dialog that
// asks for none, the operators of the open competency with the highest priority come first,
// then the next competency, and operators without any competency last (dydu's rule). Then
// the least loaded (share of their capacity) first, then whoever waited longest for a dialog.
func rank(lc *bascule.LivechatSettings, competency string, now time.Time, ops []*Load) {
	group := func(l *Load) int {
		if competency != "" || lc == nil {
			return 0
		}
		best := math.MinInt
		for _, name := range l.Account.Competencies {
			if c := lc.Competency(name); c != nil && c.OpenAt(now) && c.Priority > best {
				best = c.Priority
			}
		}
		return best
	}
	slices.SortStableFunc(ops, func(a, b *Load) int {
		if c := cmp.Compare(group(b), group(a)); c != 0 {
			return c
		}
		la := float64(a.Active) / float64(max(a.Account.Capacity, 1))
		lb := float64(b.Active) / float64(max(b.Account.Capacity, 1))
		if c := cmp.Compare(la, lb); c != 0 {
			return c
		}
		if c := a.LastAssigned.Compare(b.LastAssigned); c != 0 {
			return c
		}
		return cmp.Compare(a.Account.Login, b.Account.Login)
	})
}

// Pick returns the operator who takes a dialog now ("" if none can): eligible, available,
// under their capacity, and first in rank. except is an operator who may not have it (the
// one an inactive dialog is taken from).
func Pick(now time.Time, lc *bascule.LivechatSettings, botID, competency string, ops []Load, except string) string {
	if !Open(lc, competency, now) {
		return ""
	}
	var free []*Load
	for i := range ops {
		l := &ops[i]
		if eligible(l, botID, competency) && l.Status == StatusAvailable && l.Active < l.Account.Capacity && l.Account.Login != except {
			free = append(free, l)
		}
	}
	if len(free) == 0 {
		return ""
	}
	rank(lc, competency, now, free)
	return free[0].Account.Login
}

// QueueCapacity is how many visitors may wait for a competency: the competency's own
// capacity when the bot sets one, else the sum of the queue capacities of its operators at
// the desk (on break included: they will be back). No operator at the desk: nobody waits.
func QueueCapacity(lc *bascule.LivechatSettings, botID, competency string, ops []Load) int {
	sum, present := 0, false
	for i := range ops {
		if eligible(&ops[i], botID, competency) {
			present = true
			sum += ops[i].Account.QueueCapacity
		}
	}
	if !present {
		return 0
	}
	if c := lc.Competency(competency); c != nil && c.QueueCapacity > 0 {
		return c.QueueCapacity
	}
	return sum
}

// Route decides where a new hand-over goes: to an operator who can take it now, else to the
// waiting queue (behind waiting visitors of the same competency) if it has room, else nowhere.
func Route(now time.Time, lc *bascule.LivechatSettings, botID, competency string, ops []Load, waiting int) Decision {
	if !Open(lc, competency, now) {
		return Decision{Reason: ReasonClosed}
	}
	if op := Pick(now, lc, botID, competency, ops, ""); op != "" {
		return Decision{Operator: op}
	}
	capacity := QueueCapacity(lc, botID, competency, ops)
	switch {
	case capacity == 0 && !slices.ContainsFunc(ops, func(l Load) bool { return eligible(&l, botID, competency) }):
		return Decision{Reason: ReasonNobody}
	case waiting >= capacity:
		return Decision{Reason: ReasonFull}
	}
	return Decision{Position: waiting + 1}
}

// EstimateWait is how long a visitor at a position of the queue will likely wait: a dialog
// lasts handle on average, and the operators who may take it free a place each in turn.
func EstimateWait(position, operators int, handle time.Duration) time.Duration {
	if position <= 0 {
		return 0
	}
	return time.Duration(position) * handle / time.Duration(max(operators, 1))
}
