package dump

import (
	"errors"
	"maps"
	"testing"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/sqlstore"
)

func TestIdentityRules(t *testing.T) {
	const main, backup, old = "main", "backup", "older"
	dumped := &sqlstore.FeedState{ServerID: main, Feed: 100, Cursors: map[string]int64{backup: 40, old: 7}}
	for _, tc := range []struct {
		name    string
		current *sqlstore.FeedState
		force   bool
		want    sqlstore.FeedState // ServerID "" means a new one
		kept    bool
		lost    int64
		err     error
	}{
		{name: "empty directory: a new id, the dumped feed under it",
			want: sqlstore.FeedState{Feed: 100, Cursors: map[string]int64{main: 100, backup: 40, old: 7}}},
		{name: "the backup, caught up", current: &sqlstore.FeedState{ServerID: backup, Feed: 40, Cursors: map[string]int64{main: 90}},
			want: sqlstore.FeedState{ServerID: backup, Feed: 40, Cursors: map[string]int64{main: 100, old: 7}}, kept: true},
		{name: "a backup behind the main's cursor of it (restored from an older state)", current: &sqlstore.FeedState{ServerID: backup, Feed: 30},
			want: sqlstore.FeedState{ServerID: backup, Feed: 40, Cursors: map[string]int64{main: 100, old: 7}}, kept: true},
		{name: "the backup with changes the main lacks", current: &sqlstore.FeedState{ServerID: backup, Feed: 45}, err: ErrUnreplicated},
		{name: "forced", current: &sqlstore.FeedState{ServerID: backup, Feed: 45}, force: true,
			want: sqlstore.FeedState{ServerID: backup, Feed: 45, Cursors: map[string]int64{main: 100, old: 7}}, kept: true, lost: 5},
		{name: "a fresh server the main never heard of", current: &sqlstore.FeedState{ServerID: "fresh"},
			want: sqlstore.FeedState{ServerID: "fresh", Feed: 0, Cursors: map[string]int64{main: 100, backup: 40, old: 7}}, kept: true},
		{name: "the main's own older dump", current: &sqlstore.FeedState{ServerID: main, Feed: 120, Cursors: map[string]int64{backup: 50}}, err: ErrUnreplicated},
		{name: "the main's own dump, forced", current: &sqlstore.FeedState{ServerID: main, Feed: 120}, force: true,
			want: sqlstore.FeedState{ServerID: main, Feed: 120, Cursors: map[string]int64{backup: 40, old: 7}}, kept: true, lost: 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := maps.Clone(dumped.Cursors)
			p, err := plan(dumped, tc.current, tc.force)
			if !maps.Equal(before, dumped.Cursors) {
				t.Fatal("plan changed the dump's cursors")
			}
			if tc.err != nil || err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("got %v, want %v", err, tc.err)
				}
				return
			}
			want := tc.want
			if want.ServerID == "" {
				if !bascule.IsID(p.state.ServerID) || p.state.ServerID == main {
					t.Fatalf("new server id %q", p.state.ServerID)
				}
				want.ServerID = p.state.ServerID
			}
			if p.state.ServerID != want.ServerID || p.state.Feed != want.Feed || !maps.Equal(p.state.Cursors, want.Cursors) ||
				p.kept != tc.kept || p.lost != tc.lost {
				t.Fatalf("got %+v kept=%v lost=%d\nwant %+v kept=%v lost=%d", p.state, p.kept, p.lost, want, tc.kept, tc.lost)
			}
			if _, ok := p.state.Cursors[p.state.ServerID]; ok {
				t.Fatal("a server must not hold a cursor of itself")
			}
			// Changes: the restored server's own stay, the dumped server's become its own
			// under a new id, and no other origin is kept.
			for origin, want := range map[string]bool{p.state.ServerID: true, main: !tc.kept || tc.current.ServerID == main, backup: tc.current != nil && tc.current.ServerID == backup, old: false} {
				if _, ok := p.change(origin); ok != want {
					t.Errorf("change of origin %s kept=%v, want %v", origin, ok, want)
				}
			}
			if to, ok := p.change(main); ok && to != p.state.ServerID {
				t.Errorf("the dumped server's changes become %s's, want %s's", to, p.state.ServerID)
			}
		})
	}
}
