package dump

import (
	"errors"
	"fmt"
	"maps"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/sqlstore"
)

// ErrUnreplicated refuses a restore that would lose changes the database in place originated
// and the dumped server had not applied yet.
var ErrUnreplicated = errors.New("the database in place holds changes of its own that the dump does not include")

// identity is the place of a restored database in the pair: whose it is, where its own feed
// goes on, and how far it holds each peer's feed. The replication relies on these rules:
// a server serves only the changes of its own origin, numbered without reuse, and pulls each
// peer from its cursor.
type identity struct {
	state sqlstore.FeedState
	kept  bool // the server id of the database in place was kept
	// relabel is the origin whose changes become the restored server's own (the dumped
	// server's, under a new id); changes of other origins than the restored server's are
	// left out, as no one would ever serve them.
	relabel string
	lost    int64 // changes of the database in place dropped by Force
}

// plan decides the identity of a database restored from a dump whose state is dumped, over
// the database current (nil: none).
//
// Into an empty directory the database gets a new server id, never the dump's: a restored old
// main must not number new changes with sequences its peer already applied. Its feed is the
// dumped server's feed under the new id, so a peer that pulls the new origin from 0 receives
// everything the dump holds (applying is idempotent), and its cursor of the dumped server is
// the dump's feed counter.
//
// Over an existing database (a stopped backup) the server id in place is kept. Its feed
// counter becomes the larger of its own and the dumped server's cursor of it, so that new
// changes are numbered after everything the peer has; its cursor of the dumped server becomes
// the dump's feed counter (everything that server had is in the data); it has no cursor of
// itself. If it originated changes the dumped server had not applied, they would be lost: the
// restore is refused unless force.
func plan(dumped, current *sqlstore.FeedState, force bool) (*identity, error) {
	cursors := maps.Clone(dumped.Cursors)
	if cursors == nil {
		cursors = map[string]int64{}
	}
	if current == nil {
		id := bascule.NewID()
		cursors[dumped.ServerID] = dumped.Feed
		return &identity{state: sqlstore.FeedState{ServerID: id, Feed: dumped.Feed, Cursors: cursors}, relabel: dumped.ServerID}, nil
	}
	id := current.ServerID
	covered := dumped.Cursors[id]
	if dumped.ServerID == id {
		covered = dumped.Feed // a server's own dump holds its feed up to there
	}
	var lost int64
	if current.Feed > covered {
		lost = current.Feed - covered
		if !force {
			why := fmt.Sprintf("server %s applied its changes only up to %d", dumped.ServerID, covered)
			if dumped.ServerID == id {
				why = fmt.Sprintf("the dump was taken at %d", covered)
			}
			return nil, fmt.Errorf("%w: this server (%s) has numbered its changes up to %d, but %s: %d changes would be lost. "+
				"Let replication catch up and take a new dump, or restore with -force to lose them", ErrUnreplicated, id, current.Feed, why, lost)
		}
	}
	delete(cursors, id)
	if dumped.ServerID != id {
		cursors[dumped.ServerID] = dumped.Feed
	}
	return &identity{state: sqlstore.FeedState{ServerID: id, Feed: max(current.Feed, covered), Cursors: cursors}, kept: true, lost: lost}, nil
}

// change returns the origin a change of origin gets in the restored database, and false when
// the change is left out.
func (p *identity) change(origin string) (string, bool) {
	if origin == p.state.ServerID || (p.relabel != "" && origin == p.relabel) {
		return p.state.ServerID, true
	}
	return "", false
}
