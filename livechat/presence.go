package livechat

import (
	"sync"
	"time"
)

// Presence is who is at this server now: the operators' desks and the visitors' chatboxes,
// with their typing. It is runtime state, in memory: nothing of it is replicated, and a server
// that starts knows nobody until desks and chatboxes come to it (which is why absences are
// only noticed after a grace time).
type presence struct {
	mu        sync.Mutex
	operators map[string]*operatorPresence
	visitors  map[string]*visitorPresence // by dialog id
}

type operatorPresence struct {
	status   string
	desks    int       // desk streams open now
	lastSeen time.Time // last request or stream activity
	typing   map[string]time.Time
	assigned time.Time // last dialog given to them here
}

type visitorPresence struct {
	channels int  // push streams open now
	followed bool // the chatbox polled or opened a push channel here
	lastSeen time.Time
	typing   time.Time
	preview  string
}

// typingFor is how long a typing signal lasts without being repeated.
const typingFor = 6 * time.Second

func newPresence() *presence {
	return &presence{operators: map[string]*operatorPresence{}, visitors: map[string]*visitorPresence{}}
}

func (p *presence) operator(login string) *operatorPresence {
	o := p.operators[login]
	if o == nil {
		o = &operatorPresence{status: StatusOffline, typing: map[string]time.Time{}}
		p.operators[login] = o
	}
	return o
}

// seen records a request of an operator's desk; a desk that comes back after being offline is
// available again unless it says otherwise.
func (p *presence) operatorSeen(login string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.operator(login)
	o.lastSeen = now
}

// deskOpened counts an open desk stream; status is the status the desk asks for ("" keeps it,
// or makes an offline operator available).
func (p *presence) deskOpened(login, status string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.operator(login)
	o.desks++
	o.lastSeen = now
	switch {
	case status != "":
		o.status = status
	case o.status == StatusOffline:
		o.status = StatusAvailable
	}
}

func (p *presence) deskClosed(login string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.operator(login)
	o.desks = max(o.desks-1, 0)
	o.lastSeen = now
}

func (p *presence) setStatus(login, status string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.operator(login)
	o.status, o.lastSeen = status, now
}

// status returns an operator's status here.
func (p *presence) status(login string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o := p.operators[login]; o != nil {
		return o.status
	}
	return StatusOffline
}

// absent returns the operators whose desk has been gone longer than grace: they go offline.
func (p *presence) absent(now time.Time, grace time.Duration) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for login, o := range p.operators {
		if o.status != StatusOffline && o.desks == 0 && now.Sub(o.lastSeen) > grace {
			o.status = StatusOffline
			out = append(out, login)
		}
	}
	return out
}

// operatorLastSeen returns when an operator's desk was last seen here (zero: never).
func (p *presence) operatorLastSeen(login string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o := p.operators[login]; o != nil {
		return o.lastSeen
	}
	return time.Time{}
}

func (p *presence) assignedTo(login string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.operator(login).assigned = now
}

func (p *presence) lastAssigned(login string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o := p.operators[login]; o != nil {
		return o.assigned
	}
	return time.Time{}
}

func (p *presence) operatorTyping(login, dialogID string, on bool, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.operator(login)
	o.lastSeen = now
	if on {
		o.typing[dialogID] = now
	} else {
		delete(o.typing, dialogID)
	}
}

// operatorIsTyping reports whether an operator types in a dialog now.
func (p *presence) operatorIsTyping(login, dialogID string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.operators[login]
	return o != nil && now.Sub(o.typing[dialogID]) < typingFor
}

func (p *presence) visitor(dialogID string) *visitorPresence {
	v := p.visitors[dialogID]
	if v == nil {
		v = &visitorPresence{}
		p.visitors[dialogID] = v
	}
	return v
}

// visitorSeen records a request of a visitor's chatbox (a poll, a message, typing).
func (p *presence) visitorSeen(dialogID string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.visitor(dialogID).lastSeen = now
}

// visitorFollowed records a poll of the visitor's chatbox: it follows the livechat here.
func (p *presence) visitorFollowed(dialogID string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.visitor(dialogID)
	v.lastSeen, v.followed = now, true
}

func (p *presence) channelOpened(dialogID string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.visitor(dialogID)
	v.channels++
	v.lastSeen, v.followed = now, true
}

func (p *presence) channelClosed(dialogID string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.visitor(dialogID)
	v.channels = max(v.channels-1, 0)
	v.lastSeen = now
}

func (p *presence) visitorTyping(dialogID string, on bool, preview string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.visitor(dialogID)
	v.lastSeen = now
	if on {
		v.typing, v.preview = now, preview
	} else {
		v.typing, v.preview = time.Time{}, ""
	}
}

// forget drops what is known of a dialog's visitor (the hand-over ended).
func (p *presence) forget(dialogID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.visitors, dialogID)
	for _, o := range p.operators {
		delete(o.typing, dialogID)
	}
}
