package dump

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/sqlstore"
)

// ErrUnreplicated refuses a restore that would lose changes the database in place originated
// and the dumped server had not applied yet.
var ErrUnreplicated = errors.New("the database in place holds changes of its own that the dump does not include")

// identity is the place of a restored database in the pair: whose it is, where its own feed
// goes on, how far it holds each peer's streams, and what it keeps about itself. The
// replication relies on these rules: a server serves only the changes of its own origin,
// numbered without reuse, and pulls each stream of its peer from its cursor.
type identity struct {
	state sqlstore.FeedState
	kept  bool // the server id of the database in place was kept
	// relabel is the origin whose changes become the restored server's own (the dumped
	// server's, under a new id); changes of other origins than the restored server's are
	// left out, as no one would ever serve them.
	relabel string
	lost    []Lost // changes of the database in place dropped by Force
}

// Lost is a run of a server's own changes of one class that a restore drops: those after
// After, up to Upto.
type Lost struct {
	Class       bascule.FeedClass
	After, Upto int64
}

// plan decides the identity of a database restored from a dump whose state is dumped, over
// the database current (nil: none).
//
// Into an empty directory the database gets a new server id, never the dump's: a restored old
// main must not number new changes with sequences its peer already applied. Its feed is the
// dumped server's feed under the new id, so a peer that pulls the new origin from 0 receives
// everything the dump holds (applying is idempotent); its cursors of the dumped server's
// streams are the dump's feed counter; it keeps nothing of the dumped server's meta (its
// place in the pair), which its configuration decides afresh.
//
// Over an existing database (a stopped backup) the server id in place is kept, with its meta.
// Its feed counter becomes the larger of its own and the dumped server's cursors of it, so
// that new changes are numbered after everything the peer has; its cursors of the dumped
// server become the dump's feed counter (everything that server had is in the data); it has no
// cursor of itself. If it originated changes the dumped server had not applied, they would be
// lost: the restore is refused unless force.
func plan(dumped, current *sqlstore.FeedState, force bool) (*identity, error) {
	cursors := map[sqlstore.Stream]int64{}
	for s, seq := range dumped.Cursors {
		cursors[s] = seq
	}
	if current == nil {
		id := bascule.NewID()
		for _, c := range bascule.FeedClasses {
			cursors[sqlstore.Stream{Origin: dumped.ServerID, Class: c}] = dumped.Feed
		}
		return &identity{state: sqlstore.FeedState{ServerID: id, Feed: dumped.Feed, Cursors: cursors, Meta: map[string]string{}},
			relabel: dumped.ServerID}, nil
	}
	id := current.ServerID
	p := &identity{kept: true}
	feed := current.Feed
	for _, c := range bascule.FeedClasses {
		covered := dumped.Cursors[sqlstore.Stream{Origin: id, Class: c}]
		if dumped.ServerID == id {
			covered = dumped.Feed // a server's own dump holds its feed up to there
		}
		if last := current.Last[c]; last > covered {
			p.lost = append(p.lost, Lost{Class: c, After: covered, Upto: last})
		}
		feed = max(feed, covered)
	}
	if len(p.lost) > 0 && !force {
		var runs []string
		for _, l := range p.lost {
			runs = append(runs, fmt.Sprintf("its %s changes after %d (up to %d)", l.Class, l.After, l.Upto))
		}
		who := fmt.Sprintf("server %s had not applied", dumped.ServerID)
		if dumped.ServerID == id {
			who = "the dump, taken earlier, does not hold"
		}
		return nil, fmt.Errorf("%w: %s of this server (%s) would be lost: %s them. "+
			"Let replication catch up and take a new dump, or restore with -force to lose them",
			ErrUnreplicated, strings.Join(runs, " and "), id, who)
	}
	for s := range cursors {
		if s.Origin == id {
			delete(cursors, s)
		}
	}
	if dumped.ServerID != id {
		for _, c := range bascule.FeedClasses {
			cursors[sqlstore.Stream{Origin: dumped.ServerID, Class: c}] = dumped.Feed
		}
	}
	p.state = sqlstore.FeedState{ServerID: id, Feed: feed, Cursors: cursors, Meta: current.Meta}
	return p, nil
}

// change returns the origin a change of origin gets in the restored database, and false when
// the change is left out.
func (p *identity) change(origin string) (string, bool) {
	if origin == p.state.ServerID || (p.relabel != "" && origin == p.relabel) {
		return p.state.ServerID, true
	}
	return "", false
}
