package dump

import (
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/sqlstore"
)

const (
	k = bascule.ClassKnowledge
	d = bascule.ClassDialogs
)

// streams builds cursors: origin -> [knowledge, dialogs].
func streams(m map[string][2]int64) map[sqlstore.Stream]int64 {
	out := map[sqlstore.Stream]int64{}
	for o, s := range m {
		out[sqlstore.Stream{Origin: o, Class: k}], out[sqlstore.Stream{Origin: o, Class: d}] = s[0], s[1]
	}
	return out
}

func TestIdentityRules(t *testing.T) {
	const main, backup, old = "main", "backup", "older"
	dumped := &sqlstore.FeedState{ServerID: main, Feed: 100, Cursors: streams(map[string][2]int64{backup: {30, 40}, old: {7, 7}}),
		Meta: map[string]string{"pair_state": "the main's"}}
	last := func(kn, di int64) map[bascule.FeedClass]int64 { return map[bascule.FeedClass]int64{k: kn, d: di} }
	mine := map[string]string{"pair_state": "the backup's"}
	for _, tc := range []struct {
		name    string
		current *sqlstore.FeedState
		force   bool
		want    sqlstore.FeedState // ServerID "" means a new one
		lost    []Lost
		err     string
	}{
		{name: "empty directory: a new id, the dumped feed under it, no meta",
			want: sqlstore.FeedState{Feed: 100, Cursors: streams(map[string][2]int64{main: {100, 100}, backup: {30, 40}, old: {7, 7}}), Meta: map[string]string{}}},
		{name: "the backup, caught up", current: &sqlstore.FeedState{ServerID: backup, Feed: 40, Last: last(30, 40), Cursors: streams(map[string][2]int64{main: {90, 90}}), Meta: mine},
			want: sqlstore.FeedState{ServerID: backup, Feed: 40, Cursors: streams(map[string][2]int64{main: {100, 100}, old: {7, 7}}), Meta: mine}},
		{name: "a backup behind the main's cursors of it", current: &sqlstore.FeedState{ServerID: backup, Feed: 30, Last: last(20, 30), Meta: mine},
			want: sqlstore.FeedState{ServerID: backup, Feed: 40, Cursors: streams(map[string][2]int64{main: {100, 100}, old: {7, 7}}), Meta: mine}},
		{name: "the backup with dialogs the main lacks", current: &sqlstore.FeedState{ServerID: backup, Feed: 45, Last: last(30, 45)},
			err: "its dialogs changes after 40 (up to 45) of this server (backup) would be lost: server main had not applied them"},
		{name: "the backup with knowledge the main lacks", current: &sqlstore.FeedState{ServerID: backup, Feed: 40, Last: last(35, 40)},
			err: "its knowledge changes after 30 (up to 35)"},
		{name: "forced", current: &sqlstore.FeedState{ServerID: backup, Feed: 45, Last: last(30, 45), Meta: mine}, force: true,
			want: sqlstore.FeedState{ServerID: backup, Feed: 45, Cursors: streams(map[string][2]int64{main: {100, 100}, old: {7, 7}}), Meta: mine},
			lost: []Lost{{d, 40, 45}}},
		{name: "a fresh server the main never heard of", current: &sqlstore.FeedState{ServerID: "fresh", Last: last(0, 0)},
			want: sqlstore.FeedState{ServerID: "fresh", Feed: 0, Cursors: streams(map[string][2]int64{main: {100, 100}, backup: {30, 40}, old: {7, 7}})}},
		{name: "the main's own older dump", current: &sqlstore.FeedState{ServerID: main, Feed: 120, Last: last(110, 120)},
			err: "the dump, taken earlier, does not hold them"},
		{name: "the main's own dump, forced", current: &sqlstore.FeedState{ServerID: main, Feed: 120, Last: last(110, 120)}, force: true,
			want: sqlstore.FeedState{ServerID: main, Feed: 120, Cursors: streams(map[string][2]int64{backup: {30, 40}, old: {7, 7}})},
			lost: []Lost{{k, 100, 110}, {d, 100, 120}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := maps.Clone(dumped.Cursors)
			p, err := plan(dumped, tc.current, tc.force)
			if !maps.Equal(before, dumped.Cursors) {
				t.Fatal("plan changed the dump's cursors")
			}
			if tc.err != "" || err != nil {
				if !errors.Is(err, ErrUnreplicated) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "-force") {
					t.Fatalf("got %v, want %s", err, tc.err)
				}
				return
			}
			want := tc.want
			if want.ServerID == "" {
				if !bascule.IsID(p.state.ServerID) || p.state.ServerID == main || p.kept {
					t.Fatalf("new server id %q (kept %v)", p.state.ServerID, p.kept)
				}
				want.ServerID = p.state.ServerID
			} else if !p.kept {
				t.Fatal("the id in place was not kept")
			}
			if p.state.ServerID != want.ServerID || p.state.Feed != want.Feed || !maps.Equal(p.state.Cursors, want.Cursors) ||
				!maps.Equal(p.state.Meta, want.Meta) || !reflect.DeepEqual(p.lost, tc.lost) {
				t.Fatalf("got %+v lost %v\nwant %+v lost %v", p.state, p.lost, want, tc.lost)
			}
			// Changes: the restored server's own stay, the dumped server's become its own
			// under a new id, and no other origin is kept.
			for origin, want := range map[string]bool{p.state.ServerID: true, main: !p.kept || p.state.ServerID == main, backup: p.state.ServerID == backup, old: false} {
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
