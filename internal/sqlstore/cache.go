package sqlstore

import (
	"sync"
	"time"

	"github.com/bascule/bascule"
)

// dialogCache keeps the live dialogs this process serves: reading a dialog for every question
// would ask the database what the writer itself wrote a moment ago. The writer goroutine
// updates it after each commit, replication and erasure invalidate what they touch, so for
// one process on its own database it is exact. Stores shared by several processes (PostgreSQL
// with several nodes) turn it off.
type dialogCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*cachedDialog
	// gen counts invalidations: a dialog read from the database before one must not be
	// cached after it, or the cache would hold what the invalidation removed.
	gen uint64
}

// cachedDialog is a dialog and what the rules and the writer need of its recent past.
type cachedDialog struct {
	d      bascule.Dialog
	lastN  int      // -1: unknown, ask the database
	recent []string // types of the last interactions, oldest first; nil: unknown
	// live is the dialog's livechat state when liveKnown (nil: never handed over). Every
	// question asks for it, and almost always there is none.
	live      *bascule.LivechatState
	liveKnown bool
}

// recentTypes is how many answer types a cached dialog remembers (the misunderstood run).
const recentTypes = 8

func newDialogCache(max int) *dialogCache {
	if max <= 0 {
		return nil
	}
	return &dialogCache{max: max, m: make(map[string]*cachedDialog)}
}

func (c *dialogCache) get(id string) (*cachedDialog, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok {
		return nil, false
	}
	cp := *e
	cp.recent = append([]string(nil), e.recent...)
	if e.recent == nil {
		cp.recent = nil
	}
	if e.live != nil {
		live := *e.live
		cp.live = &live
	}
	return &cp, true
}

// livechatLoaded records the livechat state read for a cached dialog (nil: none), unless
// something was invalidated since the read began.
func (c *dialogCache) livechatLoaded(dialogID string, st *bascule.LivechatState, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[dialogID]; ok && gen == c.gen {
		e.live, e.liveKnown = st, true
	}
}

// generation returns the invalidation count, to pass to loaded.
func (c *dialogCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// loaded records a dialog read from the database when nothing was invalidated since the read
// began (gen) and the writer does not know it better already.
func (c *dialogCache) loaded(d *bascule.Dialog, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[d.ID]; !ok && gen == c.gen {
		c.insertLocked(&cachedDialog{d: *d, lastN: -1})
	}
}

// talked records committed talks, in commit order.
func (c *dialogCache) talked(ops []*talkOp) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, op := range ops {
		if op.dialog != nil {
			if _, ok := c.m[op.dialog.ID]; !ok {
				d := *op.dialog
				if d.Host == "" {
					d.Host = d.Origin
				}
				// A dialog just created has no interaction and was never handed over.
				c.insertLocked(&cachedDialog{d: d, lastN: 0, recent: []string{}, liveKnown: true})
			}
		}
		in := op.in
		if in == nil {
			continue
		}
		e, ok := c.m[in.DialogID]
		if !ok {
			continue
		}
		if in.At.After(e.d.LastAt) {
			e.d.LastAt = in.At
		}
		e.d.Host = in.Server
		if e.lastN >= 0 && in.N > e.lastN {
			e.lastN = in.N
		} else if e.lastN >= 0 && in.N <= e.lastN {
			e.lastN, e.recent = -1, nil // a retry stored earlier: the order is the database's
		}
		if e.recent != nil {
			e.recent = append(e.recent, in.Type)
			if len(e.recent) > recentTypes {
				e.recent = e.recent[len(e.recent)-recentTypes:]
			}
		}
	}
}

// forget drops dialogs that changed by other means (replication, erasure).
func (c *dialogCache) forget(ids ...string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		delete(c.m, id)
	}
}

func (c *dialogCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

// insertLocked adds an entry, first dropping idle dialogs (and if that is not enough, any
// half) when the cache is full: memory stays bounded whatever the traffic.
func (c *dialogCache) insertLocked(e *cachedDialog) {
	if len(c.m) >= c.max {
		cutoff := time.Now().Add(-30 * time.Minute)
		for id, o := range c.m {
			if o.d.LastAt.Before(cutoff) {
				delete(c.m, id)
			}
		}
		for id := range c.m {
			if len(c.m) < c.max/2 {
				break
			}
			delete(c.m, id)
		}
	}
	c.m[e.d.ID] = e
}
