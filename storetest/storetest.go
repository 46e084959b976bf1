// Package storetest is the conformance suite of bascule.Store: every store (sqlite, postgres)
// runs it, so that the product behaves the same whichever database holds its data.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bascule/bascule"
)

// Factory returns a new, empty store; the suite closes it.
type Factory func(t *testing.T) bascule.Store

// Run runs the whole suite.
func Run(t *testing.T, open Factory) {
	t.Run("Knowledge", func(t *testing.T) { testKnowledge(t, open) })
	t.Run("ReplaceKnowledgeBase", func(t *testing.T) { testReplace(t, open) })
	t.Run("Talk", func(t *testing.T) { testTalk(t, open) })
	t.Run("ConcurrentTalks", func(t *testing.T) { testConcurrentTalks(t, open) })
	t.Run("DialogQueries", func(t *testing.T) { testDialogQueries(t, open) })
	t.Run("Feed", func(t *testing.T) { testFeed(t, open) })
	t.Run("ApplyIsIdempotent", func(t *testing.T) { testApplyIdempotent(t, open) })
	t.Run("Erasure", func(t *testing.T) { testErasure(t, open) })
	t.Run("ClockSkew", func(t *testing.T) { testClockSkew(t, open) })
	t.Run("ReadsFollowReplication", func(t *testing.T) { testReadsFollowReplication(t, open) })
	t.Run("RetriesAmongConcurrentTalks", func(t *testing.T) { testRetriesAmongConcurrentTalks(t, open) })
	t.Run("LivechatStateFollowsWrites", func(t *testing.T) { testLivechatStateFollowsWrites(t, open) })
	t.Run("Uploads", func(t *testing.T) { testUploads(t, open) })
	t.Run("UploadErasure", func(t *testing.T) { testUploadErasure(t, open) })
	t.Run("Accounts", func(t *testing.T) { testAccounts(t, open) })
	t.Run("Livechat", func(t *testing.T) { testLivechat(t, open) })
	t.Run("LivechatReplication", func(t *testing.T) { testLivechatReplication(t, open) })
}

// testReadsFollowReplication: what a store serves about a dialog (activity, position, recent
// answers) includes what the peer added, even for a dialog it served itself just before.
func testReadsFollowReplication(t *testing.T, open Factory) {
	ctx := context.Background()
	main, backup := newStore(t, open), newStore(t, open)
	now := time.Now().UTC().Truncate(time.Millisecond)
	d := NewDialog("c", now)
	first := Talk(d, "one", now)
	first.Type = bascule.TypeMisunderstood
	must(t, main.RecordTalk(ctx, d, first))
	if _, err := main.Dialog(ctx, d.ID); err != nil { // the main has read it
		t.Fatal(err)
	}
	Replicate(t, main, backup)
	later := Talk(d, "two", now.Add(time.Minute))
	later.Type = bascule.TypeMisunderstood
	must(t, backup.RecordTalk(ctx, nil, later))
	Replicate(t, backup, main)
	got, err := main.Dialog(ctx, d.ID)
	must(t, err)
	if !got.LastAt.Equal(later.At) {
		t.Fatalf("main's dialog activity %v, want %v (the backup's answer)", got.LastAt, later.At)
	}
	types, err := main.RecentTypes(ctx, d.ID, 2)
	must(t, err)
	if len(types) != 2 {
		t.Fatalf("RecentTypes after replication: %v", types)
	}
	next := Talk(d, "three", now.Add(2*time.Minute))
	must(t, main.RecordTalk(ctx, nil, next))
	if next.N != 3 {
		t.Fatalf("the main numbered its next answer %d, want 3 (after the backup's)", next.N)
	}
}

// testRetriesAmongConcurrentTalks: questions retried with the ids they already have, mixed
// with new ones, are stored once each, and nobody gets an error.
func testRetriesAmongConcurrentTalks(t *testing.T, open Factory) {
	ctx := context.Background()
	s := newStore(t, open)
	d := NewDialog("c", time.Now())
	must(t, s.RecordTalk(ctx, d, nil))
	var stored []*bascule.Interaction
	for i := range 10 {
		in := Talk(d, fmt.Sprint("q", i), time.Now())
		must(t, s.RecordTalk(ctx, nil, in))
		stored = append(stored, in)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var in *bascule.Interaction
			if i%2 == 0 {
				retry := *stored[i%10]
				retry.N = 0
				in = &retry
			} else {
				in = Talk(d, fmt.Sprint("new", i), time.Now())
			}
			if err := s.RecordTalk(ctx, nil, in); err != nil {
				errs <- err
			}
			if i%2 == 0 && in.N != stored[i%10].N {
				errs <- fmt.Errorf("retry of %s reported N=%d, stored with %d", in.ID, in.N, stored[i%10].N)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all, err := s.Interactions(ctx, d.ID, 0)
	must(t, err)
	if len(all) != 60 {
		t.Fatalf("%d interactions stored, want 60 (10 + 50 new; 50 retries stored nothing)", len(all))
	}
}

func newStore(t *testing.T, open Factory) bascule.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// BotID is the bot the suite creates.
const BotID = "0b0b0000-0000-4000-8000-00000000000b"

// SmallKnowledgeBase is a valid model with two languages, a group and sentences.
func SmallKnowledgeBase() *bascule.KnowledgeBase {
	return &bascule.KnowledgeBase{
		Format: bascule.KnowledgeFormat,
		Bot:    bascule.Bot{ID: BotID, Name: "Suite", Languages: []string{"en", "fr"}, Spaces: []string{bascule.DefaultSpace}},
		Knowledge: []bascule.Knowledge{
			{ID: 1, Question: "Where is my parcel?", Formulations: []string{"track my {parcel}"}, Answer: "<p>Track it online.</p>", Language: "en", Enabled: true},
			{ID: 2, Question: "Où est mon colis ?", Answer: "<p>Suivez-le en ligne.</p>", Language: "fr", Enabled: true},
			{ID: 3, Question: "How do I return an item?", Answer: "<p>Within 30 days.</p>", Language: "en", Enabled: false},
		},
		Groups:    []bascule.MatchingGroup{{Name: "parcel", Terms: []string{"parcel", "package"}}},
		Sentences: []bascule.Sentence{{Kind: bascule.SentenceWelcome, Language: "en", Text: "<p>Hello!</p>"}},
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testKnowledge(t *testing.T, open Factory) {
	ctx := context.Background()
	s := newStore(t, open)
	changed := make(chan string, 100)
	s.OnKnowledgeChange(func(id string) { changed <- id })

	if _, err := s.Bot(ctx, BotID); !errors.Is(err, bascule.ErrNotFound) {
		t.Fatalf("Bot of an empty store: got %v, want not found", err)
	}
	kb := SmallKnowledgeBase()
	if err := s.PutKnowledge(ctx, BotID, &kb.Knowledge[0]); !errors.Is(err, bascule.ErrNotFound) {
		t.Fatalf("knowledge of an unknown bot: got %v, want not found", err)
	}
	b := kb.Bot
	must(t, s.PutBot(ctx, &b))
	if b.Version != 1 || b.UpdatedAt.IsZero() {
		t.Fatalf("PutBot did not assign version/time: %+v", b)
	}
	select {
	case id := <-changed:
		if id != BotID {
			t.Fatalf("OnKnowledgeChange got %s", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnKnowledgeChange not called after PutBot")
	}
	k := bascule.Knowledge{Question: "New?", Answer: "<p>Yes</p>", Language: "en", Enabled: true}
	must(t, s.PutKnowledge(ctx, BotID, &k))
	if k.ID == 0 || k.Version != 1 {
		t.Fatalf("new knowledge got id %d version %d", k.ID, k.Version)
	}
	first := k.ID
	k.Answer = "<p>Still yes</p>"
	must(t, s.PutKnowledge(ctx, BotID, &k))
	if k.ID != first || k.Version != 2 {
		t.Fatalf("update: id %d version %d, want %d and 2", k.ID, k.Version, first)
	}
	must(t, s.DeleteKnowledge(ctx, BotID, first))
	k2 := bascule.Knowledge{Question: "Other?", Answer: "<p>No</p>", Language: "en", Enabled: true}
	must(t, s.PutKnowledge(ctx, BotID, &k2))
	if k2.ID == first {
		t.Fatalf("a deleted knowledge id (%d) was given to a new item", first)
	}
	if err := s.DeleteKnowledge(ctx, BotID, first); !errors.Is(err, bascule.ErrNotFound) {
		t.Fatalf("deleting twice: got %v, want not found", err)
	}
	got, err := s.Knowledge(ctx, BotID, k2.ID)
	must(t, err)
	if got.Question != "Other?" || !got.Enabled {
		t.Fatalf("Knowledge read back %+v", got)
	}
	g := kb.Groups[0]
	must(t, s.PutGroup(ctx, BotID, &g))
	se := kb.Sentences[0]
	must(t, s.PutSentence(ctx, BotID, &se))
	full, err := s.KnowledgeBase(ctx, BotID)
	must(t, err)
	if len(full.Knowledge) != 1 || len(full.Groups) != 1 || len(full.Sentences) != 1 || full.Bot.Name != "Suite" {
		t.Fatalf("KnowledgeBase: %+v", full)
	}
	must(t, s.DeleteGroup(ctx, BotID, "parcel", ""))
	bots, err := s.Bots(ctx)
	must(t, err)
	if len(bots) != 1 {
		t.Fatalf("Bots: %d", len(bots))
	}
	must(t, s.DeleteBot(ctx, BotID))
	if _, err := s.KnowledgeBase(ctx, BotID); !errors.Is(err, bascule.ErrNotFound) {
		t.Fatalf("KnowledgeBase after DeleteBot: %v", err)
	}
}

func testReplace(t *testing.T, open Factory) {
	ctx := context.Background()
	s := newStore(t, open)
	kb := SmallKnowledgeBase()
	must(t, s.ReplaceKnowledgeBase(ctx, kb))
	seq1, err := s.LastSeq(ctx)
	must(t, err)
	// The same model again: nothing changes, nothing goes to the feed.
	must(t, s.ReplaceKnowledgeBase(ctx, SmallKnowledgeBase()))
	seq2, err := s.LastSeq(ctx)
	must(t, err)
	if seq2 != seq1 {
		t.Fatalf("re-importing the same model appended %d changes", seq2-seq1)
	}
	next := SmallKnowledgeBase()
	next.Knowledge = next.Knowledge[:1]
	next.Knowledge[0].Answer = "<p>Changed</p>"
	next.Groups = nil
	must(t, s.ReplaceKnowledgeBase(ctx, next))
	got, err := s.KnowledgeBase(ctx, BotID)
	must(t, err)
	if len(got.Knowledge) != 1 || got.Knowledge[0].Answer != "<p>Changed</p>" || got.Knowledge[0].Version != 2 || len(got.Groups) != 0 {
		t.Fatalf("after replace: %+v", got)
	}
}

// Talk makes a dialog and interaction as the engine would.
func Talk(d *bascule.Dialog, question string, at time.Time) *bascule.Interaction {
	return &bascule.Interaction{ID: bascule.NewOrderedID(at), DialogID: d.ID, BotID: d.BotID, At: at, Question: question,
		Answer: "<p>answer to " + question + "</p>", Type: bascule.TypeUnderstood, KnowledgeID: 1, Language: d.Language, Space: d.Space}
}

// NewDialog makes a dialog as the engine would.
func NewDialog(client string, at time.Time) *bascule.Dialog {
	return &bascule.Dialog{ID: bascule.NewID(), BotID: BotID, ClientID: client, Language: "en", Space: bascule.DefaultSpace,
		StartedAt: at, LastAt: at}
}

func testTalk(t *testing.T, open Factory) {
	ctx := context.Background()
	s := newStore(t, open)
	now := time.Now().UTC().Truncate(time.Millisecond)
	d := NewDialog("c1", now)
	d.Origin = s.ServerID()
	in1 := Talk(d, "first", now)
	must(t, s.RecordTalk(ctx, d, in1))
	in2 := Talk(d, "second", now.Add(time.Second))
	must(t, s.RecordTalk(ctx, nil, in2))
	if in1.N != 1 || in2.N != 2 {
		t.Fatalf("N = %d, %d; want 1, 2", in1.N, in2.N)
	}
	retry := *in2
	must(t, s.RecordTalk(ctx, nil, &retry))
	all, err := s.Interactions(ctx, d.ID, 0)
	must(t, err)
	if len(all) != 2 || all[0].Question != "first" || all[1].Question != "second" {
		t.Fatalf("interactions after a retried talk: %+v", all)
	}
	if retry.N != 2 {
		t.Fatalf("a retried talk must report the stored N, got %d", retry.N)
	}
	last, err := s.Interactions(ctx, d.ID, 1)
	must(t, err)
	if len(last) != 1 || last[0].Question != "second" {
		t.Fatalf("last interaction: %+v", last)
	}
	got, err := s.Dialog(ctx, d.ID)
	must(t, err)
	if !got.LastAt.Equal(now.Add(time.Second)) || got.ClientID != "c1" {
		t.Fatalf("dialog after talks: %+v", got)
	}
	must(t, s.SetVariable(ctx, &bascule.Variable{DialogID: d.ID, Name: "order", Value: "A-42"}))
	vars, err := s.Variables(ctx, d.ID)
	must(t, err)
	if vars["order"] != "A-42" || len(vars) != 1 {
		t.Fatalf("variables: %v", vars)
	}
	if err := s.SetVariable(ctx, &bascule.Variable{DialogID: bascule.NewID(), Name: "x"}); !errors.Is(err, bascule.ErrNotFound) {
		t.Fatalf("variable of an unknown dialog: %v", err)
	}
	if _, err := s.Dialog(ctx, bascule.NewID()); !errors.Is(err, bascule.ErrNotFound) {
		t.Fatalf("unknown dialog: %v", err)
	}
}

// testConcurrentTalks checks the group commit: many writers at once, every one stored once,
// the feed numbered without gaps.
func testConcurrentTalks(t *testing.T, open Factory) {
	ctx := context.Background()
	s := newStore(t, open)
	start, err := s.LastSeq(ctx)
	must(t, err)
	const dialogs, questions = 20, 10
	var wg sync.WaitGroup
	errs := make(chan error, dialogs*questions)
	ids := make([]string, dialogs)
	for i := range dialogs {
		d := NewDialog(fmt.Sprint("client", i), time.Now())
		ids[i] = d.ID
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := range questions {
				nd := d
				if q > 0 {
					nd = nil
				}
				if err := s.RecordTalk(ctx, nd, Talk(d, fmt.Sprint("q", q), time.Now())); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, id := range ids {
		ins, err := s.Interactions(ctx, id, 0)
		must(t, err)
		if len(ins) != questions {
			t.Fatalf("dialog %s has %d interactions, want %d", id, len(ins), questions)
		}
		for i, in := range ins {
			if in.N != i+1 || in.Question != fmt.Sprint("q", i) {
				t.Fatalf("dialog %s interaction %d: N=%d %q", id, i, in.N, in.Question)
			}
		}
	}
	changes, err := s.Changes(ctx, bascule.ClassDialogs, start, 10000)
	must(t, err)
	if want := dialogs * (questions + 1); len(changes) != want {
		t.Fatalf("feed holds %d changes, want %d", len(changes), want)
	}
	for i, c := range changes {
		if c.Seq != start+int64(i)+1 {
			t.Fatalf("feed has a gap: change %d has seq %d", i, c.Seq)
		}
	}
}

func testDialogQueries(t *testing.T, open Factory) {
	ctx := context.Background()
	s := newStore(t, open)
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	var all []*bascule.Dialog
	for i := range 5 {
		d := NewDialog("client-a", base.Add(time.Duration(i)*time.Minute))
		must(t, s.RecordTalk(ctx, d, Talk(d, "hello", d.StartedAt)))
		all = append(all, d)
	}
	// A dialog continuing the last one after a switch-over is one conversation in analytics.
	cont := NewDialog("client-a", base.Add(10*time.Minute))
	cont.Continues = all[4].ID
	must(t, s.RecordTalk(ctx, cont, Talk(cont, "again", cont.StartedAt)))
	// A dialog continuing one this server never saw counts on its own.
	orphan := NewDialog("client-b", base.Add(11*time.Minute))
	orphan.Continues = bascule.NewID()
	must(t, s.RecordTalk(ctx, orphan, Talk(orphan, "hi", orphan.StartedAt)))

	// A visitor's first question failed on the server that opened the dialog and was answered
	// on the other: the first dialog holds no interaction, the conversation still counts once.
	opened := NewDialog("client-c", base.Add(12*time.Minute))
	must(t, s.RecordTalk(ctx, opened, nil))
	moved := NewDialog("client-c", base.Add(13*time.Minute))
	moved.Continues, moved.ContinuesVia = opened.ID, bascule.LinkContext
	must(t, s.RecordTalk(ctx, moved, Talk(moved, "hello?", moved.StartedAt)))
	// A dialog opened and never asked anything is not a conversation.
	must(t, s.RecordTalk(ctx, NewDialog("client-d", base.Add(14*time.Minute)), nil))

	n, err := s.CountDialogs(ctx, BotID, base, base.Add(time.Hour))
	must(t, err)
	if n != 7 {
		t.Fatalf("CountDialogs = %d, want 7 (5 + the orphan continuation + the moved one; linked ones count once, empty ones not)", n)
	}
	page1, err := s.Dialogs(ctx, bascule.DialogFilter{BotID: BotID, From: base, Limit: 4})
	must(t, err)
	page2, err := s.Dialogs(ctx, bascule.DialogFilter{BotID: BotID, From: base, Limit: 4, After: page1[len(page1)-1].ID})
	must(t, err)
	if len(page1) != 4 || len(page2) != 4 || page2[0].ID != all[4].ID {
		t.Fatalf("pagination: %d then %d dialogs", len(page1), len(page2))
	}
	latest, err := s.LatestDialog(ctx, BotID, "client-a")
	must(t, err)
	if latest.ID != cont.ID {
		t.Fatalf("LatestDialog = %s, want %s", latest.ID, cont.ID)
	}
	cd, err := s.ClientDialogs(ctx, BotID, "client-a")
	must(t, err)
	if len(cd) != 6 {
		t.Fatalf("ClientDialogs: %d", len(cd))
	}
	// Top knowledge counts understood answers per knowledge since a time.
	for i, kid := range []int64{7, 7, 7, 8, 8, 9} {
		in := Talk(all[0], fmt.Sprint("top", i), time.Now())
		in.KnowledgeID = kid
		must(t, s.RecordTalk(ctx, nil, in))
	}
	mis := Talk(all[0], "gibberish", time.Now())
	mis.Type, mis.KnowledgeID = bascule.TypeMisunderstood, 0
	must(t, s.RecordTalk(ctx, nil, mis))
	top, err := s.TopKnowledge(ctx, BotID, "en", time.Now().Add(-time.Minute), 2)
	must(t, err)
	if len(top) != 2 || top[0] != (bascule.KnowledgeCount{KnowledgeID: 7, Count: 3}) || top[1].KnowledgeID != 8 {
		t.Fatalf("TopKnowledge: %+v", top)
	}
	must(t, s.RecordFeedback(ctx, &bascule.Feedback{ID: bascule.NewID(), DialogID: all[0].ID, Kind: bascule.FeedbackVote, Value: "positive", At: time.Now()}))
	must(t, s.RecordVisit(ctx, &bascule.Visit{ID: bascule.NewID(), BotID: BotID, ClientID: "client-a", At: time.Now(), Server: s.ServerID()}))
}

func testFeed(t *testing.T, open Factory) {
	ctx := context.Background()
	s := newStore(t, open)
	if s.ServerID() == "" || !bascule.IsID(s.ServerID()) {
		t.Fatalf("server id %q", s.ServerID())
	}
	sig := s.ChangeSignal()
	must(t, s.ReplaceKnowledgeBase(ctx, SmallKnowledgeBase()))
	select {
	case <-sig:
	case <-time.After(5 * time.Second):
		t.Fatal("ChangeSignal not closed after a commit that appended to the feed")
	}
	changes, err := s.Changes(ctx, bascule.ClassKnowledge, 0, 1000)
	must(t, err)
	last, err := s.LastSeq(ctx)
	must(t, err)
	if len(changes) == 0 || changes[len(changes)-1].Seq != last {
		t.Fatalf("feed: %d changes, last seq %d", len(changes), last)
	}
	if cs, err := s.ClassSeq(ctx, bascule.ClassKnowledge); err != nil || cs != last {
		t.Fatalf("ClassSeq(knowledge) = %d, %v; want %d", cs, err, last)
	}
	if cs, err := s.ClassSeq(ctx, bascule.ClassDialogs); err != nil || cs != 0 {
		t.Fatalf("ClassSeq(dialogs) = %d, %v; want 0", cs, err)
	}
	for i, c := range changes {
		if c.Origin != s.ServerID() || c.Seq != int64(i+1) {
			t.Fatalf("change %d: origin %s seq %d", i, c.Origin, c.Seq)
		}
	}
	limited, err := s.Changes(ctx, bascule.ClassKnowledge, 2, 2)
	must(t, err)
	if len(limited) != 2 || limited[0].Seq != 3 {
		t.Fatalf("Changes(2, 2): %+v", limited)
	}
	if err := s.Apply(ctx, s.ServerID(), bascule.ClassKnowledge, changes, last); err == nil {
		t.Fatal("a store must refuse to apply its own changes")
	}
}

// Replicate copies every change of from into to, as the peer puller does.
func Replicate(t *testing.T, from, to bascule.Store) {
	t.Helper()
	ctx := context.Background()
	for _, class := range bascule.FeedClasses {
		cursor, err := to.Cursor(ctx, from.ServerID(), class)
		must(t, err)
		for {
			changes, err := from.Changes(ctx, class, cursor, 500)
			must(t, err)
			if len(changes) == 0 {
				break
			}
			cursor = changes[len(changes)-1].Seq
			must(t, to.Apply(ctx, from.ServerID(), class, changes, cursor))
		}
	}
}

func testApplyIdempotent(t *testing.T, open Factory) {
	ctx := context.Background()
	main, backup := newStore(t, open), newStore(t, open)
	changed := make(chan string, 100)
	backup.OnKnowledgeChange(func(id string) { changed <- id })
	must(t, main.ReplaceKnowledgeBase(ctx, SmallKnowledgeBase()))
	d := NewDialog("c", time.Now())
	d.Origin = main.ServerID()
	must(t, main.RecordTalk(ctx, d, Talk(d, "one", time.Now())))
	must(t, main.RecordFeedback(ctx, &bascule.Feedback{ID: bascule.NewID(), DialogID: d.ID, Kind: bascule.FeedbackVote, Value: "negative", At: time.Now()}))
	for _, class := range bascule.FeedClasses {
		changes, err := main.Changes(ctx, class, 0, 1000)
		must(t, err)
		last := changes[len(changes)-1].Seq
		must(t, backup.Apply(ctx, main.ServerID(), class, changes, last))
		must(t, backup.Apply(ctx, main.ServerID(), class, changes, last)) // the same batch twice
		cur, err := backup.Cursor(ctx, main.ServerID(), class)
		must(t, err)
		if cur != last {
			t.Fatalf("%s cursor %d, want %d", class, cur, last)
		}
	}
	kchanges, err := main.Changes(ctx, bascule.ClassKnowledge, 0, 1000)
	must(t, err)
	if err := backup.Apply(ctx, main.ServerID(), bascule.ClassDialogs, kchanges, 99); err == nil {
		t.Fatal("knowledge changes applied as the dialogs stream")
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("applying knowledge changes must call OnKnowledgeChange")
	}
	ins, err := backup.Interactions(ctx, d.ID, 0)
	must(t, err)
	if len(ins) != 1 {
		t.Fatalf("backup holds %d interactions after a batch applied twice, want 1", len(ins))
	}
	own, err := backup.Changes(ctx, bascule.ClassDialogs, 0, 10)
	must(t, err)
	if len(own) != 0 {
		t.Fatalf("applied changes must not enter the backup's own feed, found %d", len(own))
	}
	AssertSameKnowledge(t, main, backup, BotID)
	// The backup continues the dialog; the main gets the continuation once.
	in := Talk(d, "two", time.Now())
	in.Server = backup.ServerID()
	must(t, backup.RecordTalk(ctx, nil, in))
	if in.N != 2 {
		t.Fatalf("continuation on the backup got N=%d, want 2", in.N)
	}
	Replicate(t, backup, main)
	Replicate(t, backup, main)
	mi, err := main.Interactions(ctx, d.ID, 0)
	must(t, err)
	if len(mi) != 2 || mi[1].Question != "two" {
		t.Fatalf("main after repatriation: %+v", mi)
	}
	// An older version of a knowledge item never overwrites a newer one.
	k := kchanges[1]
	old := []bascule.Change{k}
	kb := SmallKnowledgeBase()
	kb.Knowledge[0].Answer = "<p>v2</p>"
	must(t, main.ReplaceKnowledgeBase(ctx, kb))
	Replicate(t, main, backup)
	must(t, backup.Apply(ctx, main.ServerID(), bascule.ClassKnowledge, old, k.Seq))
	got, err := backup.KnowledgeBase(ctx, BotID)
	must(t, err)
	if !slices.ContainsFunc(got.Knowledge, func(k bascule.Knowledge) bool { return k.Answer == "<p>v2</p>" }) {
		t.Fatal("an old change re-applied overwrote a newer version")
	}
}

// AssertSameKnowledge fails unless both stores hold the same model of a bot.
func AssertSameKnowledge(t *testing.T, a, b bascule.Store, botID string) {
	t.Helper()
	ctx := context.Background()
	ka, err := a.KnowledgeBase(ctx, botID)
	must(t, err)
	kb, err := b.KnowledgeBase(ctx, botID)
	must(t, err)
	if fmt.Sprint(ka) != fmt.Sprint(kb) {
		t.Fatalf("knowledge differs:\n%v\n%v", ka, kb)
	}
}

func testErasure(t *testing.T, open Factory) {
	ctx := context.Background()
	main, backup := newStore(t, open), newStore(t, open)
	now := time.Now().UTC()
	d1 := NewDialog("victim", now.Add(-time.Minute))
	must(t, main.RecordTalk(ctx, d1, Talk(d1, "my name is Alice", d1.StartedAt)))
	Replicate(t, main, backup)
	// The backup, not yet aware of the erasure, adds to the dialog and starts another.
	must(t, backup.RecordTalk(ctx, nil, Talk(d1, "still me", now)))
	d2 := NewDialog("victim", now.Add(-time.Second))
	must(t, backup.RecordTalk(ctx, d2, Talk(d2, "new one", now)))
	keep := NewDialog("someone-else", now)
	must(t, main.RecordTalk(ctx, keep, Talk(keep, "hello", now)))

	n, err := main.EraseClient(ctx, &bascule.ClientErasure{BotID: BotID, ClientID: "victim", Before: now.Add(time.Second)})
	must(t, err)
	if n != 1 {
		t.Fatalf("EraseClient erased %d dialogs on the main, want 1", n)
	}
	// What the backup did before hearing of the erasure arrives late: it must be refused.
	Replicate(t, backup, main)
	Replicate(t, main, backup)
	for _, s := range []bascule.Store{main, backup} {
		ds, err := s.ClientDialogs(ctx, BotID, "victim")
		must(t, err)
		if len(ds) != 0 {
			t.Fatalf("store %s still holds %d dialogs of the erased client", s.ServerID(), len(ds))
		}
		for _, id := range []string{d1.ID, d2.ID} {
			ins, err := s.Interactions(ctx, id, 0)
			must(t, err)
			if len(ins) != 0 {
				t.Fatalf("store %s still holds interactions of erased dialog %s", s.ServerID(), id)
			}
		}
		if _, err := s.Dialog(ctx, keep.ID); err != nil {
			t.Fatalf("another client's dialog was erased: %v", err)
		}
	}
	// The client may come back afterwards: new dialogs are kept.
	d3 := NewDialog("victim", now.Add(time.Minute))
	must(t, backup.RecordTalk(ctx, d3, Talk(d3, "back again", d3.StartedAt)))
	Replicate(t, backup, main)
	if _, err := main.Dialog(ctx, d3.ID); err != nil {
		t.Fatalf("a dialog started after the erasure was refused: %v", err)
	}
}

// testClockSkew: a backup whose clock is behind continues a dialog; its interactions come
// after the main's in the dialog, whatever their timestamps say.
func testClockSkew(t *testing.T, open Factory) {
	ctx := context.Background()
	main, backup := newStore(t, open), newStore(t, open)
	now := time.Now().UTC()
	d := NewDialog("c", now)
	must(t, main.RecordTalk(ctx, d, Talk(d, "one", now)))
	must(t, main.RecordTalk(ctx, nil, Talk(d, "two", now.Add(time.Second))))
	Replicate(t, main, backup)
	late := Talk(d, "three", now.Add(-time.Hour)) // the backup's clock is an hour behind
	must(t, backup.RecordTalk(ctx, nil, late))
	Replicate(t, backup, main)
	for _, s := range []bascule.Store{main, backup} {
		ins, err := s.Interactions(ctx, d.ID, 0)
		must(t, err)
		var qs []string
		for _, in := range ins {
			qs = append(qs, in.Question)
		}
		if !slices.Equal(qs, []string{"one", "two", "three"}) {
			t.Fatalf("order on %s: %v", s.ServerID(), qs)
		}
		got, err := s.Dialog(ctx, d.ID)
		must(t, err)
		if !got.LastAt.Equal(now.Add(time.Second).Truncate(time.Millisecond)) {
			t.Fatalf("LastAt went back in time on %s: %v", s.ServerID(), got.LastAt)
		}
	}
}

// testLivechatStateFollowsWrites: a dialog's livechat state, read (and so perhaps cached) before
// it changes, is read anew after a local write and after a replicated one.
func testLivechatStateFollowsWrites(t *testing.T, open Factory) {
	ctx := context.Background()
	main, backup := newStore(t, open), newStore(t, open)
	must(t, main.ReplaceKnowledgeBase(ctx, SmallKnowledgeBase()))
	d := NewDialog("c", time.Now())
	must(t, main.RecordTalk(ctx, d, Talk(d, "help", time.Now())))
	Replicate(t, main, backup)
	for _, s := range []bascule.Store{main, backup} {
		if _, err := s.Dialog(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LivechatState(ctx, d.ID); !errors.Is(err, bascule.ErrNotFound) {
			t.Fatalf("a dialog never handed over: %v", err)
		}
	}
	st := &bascule.LivechatState{DialogID: d.ID, BotID: BotID, Version: 1, Server: main.ServerID(), Status: bascule.LivechatQueued}
	must(t, main.RecordLivechat(ctx, st))
	if got, err := main.LivechatState(ctx, d.ID); err != nil || got.Status != bascule.LivechatQueued {
		t.Fatalf("after a local write: %+v %v", got, err)
	}
	Replicate(t, main, backup)
	if got, err := backup.LivechatState(ctx, d.ID); err != nil || got.Version != 1 {
		t.Fatalf("after a replicated write: %+v %v", got, err)
	}
}
