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

// Operator makes an account as the livechat package would (with a hash and a key).
func Operator(login string) *bascule.Account {
	return &bascule.Account{Login: login, Name: "Operator " + login, Role: bascule.RoleOperator, Capacity: 3,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", SessionKey: "key-" + login}
}

// Handover makes the livechat state of a dialog just handed over on server.
func Handover(d *bascule.Dialog, server string, at time.Time) *bascule.LivechatState {
	return &bascule.LivechatState{DialogID: d.ID, BotID: d.BotID, Version: 1, Server: server, Status: bascule.LivechatQueued,
		QueuedAt: at, UpdatedAt: at}
}

// Message makes an operator's message.
func Message(d *bascule.Dialog, login, text string, at time.Time) *bascule.Interaction {
	return &bascule.Interaction{ID: bascule.NewOrderedID(at), DialogID: d.ID, BotID: d.BotID, At: at, Answer: text,
		Type: bascule.TypeOperator, From: bascule.FromOperator(login), Language: d.Language, Space: d.Space}
}

func testAccounts(t *testing.T, open Factory) {
	ctx := context.Background()
	s := newStore(t, open)
	if _, err := s.Account(ctx, "ann"); !errors.Is(err, bascule.ErrNotFound) {
		t.Fatalf("Account of an empty store: %v", err)
	}
	a := Operator("ann")
	a.Password = "secret words"
	must(t, s.PutAccount(ctx, a))
	if a.Version != 1 || a.UpdatedAt.IsZero() || a.Password != "" {
		t.Fatalf("PutAccount: version %d, time %v, password %q left", a.Version, a.UpdatedAt, a.Password)
	}
	a.Capacity = 5
	must(t, s.PutAccount(ctx, a))
	must(t, s.PutAccount(ctx, Operator("bob")))
	got, err := s.Account(ctx, "ann")
	must(t, err)
	if got.Version != 2 || got.Capacity != 5 || got.PasswordHash == "" || got.SessionKey == "" || got.Password != "" {
		t.Fatalf("Account read back: %+v", got)
	}
	all, err := s.Accounts(ctx)
	must(t, err)
	if len(all) != 2 || all[0].Login != "ann" || all[1].Login != "bob" {
		t.Fatalf("Accounts: %+v", all)
	}
	must(t, s.DeleteAccount(ctx, "bob"))
	if err := s.DeleteAccount(ctx, "bob"); !errors.Is(err, bascule.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	changes, err := s.Changes(ctx, bascule.ClassKnowledge, 0, 100)
	must(t, err)
	var kinds []string
	for _, c := range changes {
		kinds = append(kinds, c.Entity+" "+c.Op+" "+c.Key)
	}
	if want := []string{"account put ann", "account put ann", "account put bob", "account delete bob"}; !slices.Equal(kinds, want) {
		t.Fatalf("accounts in the knowledge stream: %v, want %v", kinds, want)
	}
}

func testLivechat(t *testing.T, open Factory) {
	ctx := context.Background()
	s := newStore(t, open)
	now := time.Now().UTC().Truncate(time.Millisecond)
	d := NewDialog("c", now)
	esc := Talk(d, "I want a human", now)
	must(t, s.RecordTalk(ctx, d, esc))
	if _, err := s.LivechatState(ctx, d.ID); !errors.Is(err, bascule.ErrNotFound) {
		t.Fatalf("state of a dialog never handed over: %v", err)
	}
	st := Handover(d, s.ServerID(), now)
	st.Start = esc.ID
	must(t, s.RecordLivechat(ctx, st))
	// A write that read an old state loses: the caller decides again.
	stale := *st
	stale.Status = bascule.LivechatClosed
	if err := s.RecordLivechat(ctx, &stale); !errors.Is(err, bascule.ErrConflict) {
		t.Fatalf("a state of the same version written again: got %v, want a conflict", err)
	}
	next := *st
	next.Version, next.Status, next.Operator, next.AssignedAt = 2, bascule.LivechatAssigned, "ann", now.Add(time.Second)
	joined := Message(d, "ann", "<p>Ann joined</p>", now.Add(time.Second))
	joined.Type = bascule.TypeOperatorJoined
	must(t, s.RecordLivechat(ctx, &next, joined))
	// Messages of the visitor (through the talk path) and of the operator, at once, are
	// numbered one after the other, each stored once.
	var wg sync.WaitGroup
	var msgs []*bascule.Interaction
	errs := make(chan error, 40)
	for i := range 20 {
		visitor := Talk(d, fmt.Sprint("visitor ", i), now.Add(2*time.Second))
		visitor.Answer, visitor.From, visitor.Type = "", bascule.FromVisitor, bascule.TypeVisitorMessage
		op := Message(d, "ann", fmt.Sprint("operator ", i), now.Add(2*time.Second))
		msgs = append(msgs, op)
		wg.Add(2)
		go func() { defer wg.Done(); errs <- s.RecordTalk(ctx, nil, visitor) }()
		go func() { defer wg.Done(); errs <- s.RecordLivechat(ctx, nil, op) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	retry := *msgs[3]
	retry.N = 0
	must(t, s.RecordLivechat(ctx, nil, &retry))
	if retry.N != msgs[3].N {
		t.Fatalf("a message sent again reported N=%d, stored with %d", retry.N, msgs[3].N)
	}
	ins, err := s.Interactions(ctx, d.ID, 0)
	must(t, err)
	if len(ins) != 42 {
		t.Fatalf("%d interactions, want 42 (the escalation, the join, 20 + 20 messages)", len(ins))
	}
	for i, in := range ins {
		if in.N != i+1 {
			t.Fatalf("interaction %d (%s) has N=%d: positions must follow one another", i, in.Question+in.Answer, in.N)
		}
	}
	after := Talk(d, "after", now.Add(3*time.Second))
	must(t, s.RecordTalk(ctx, nil, after))
	if after.N != 43 {
		t.Fatalf("the next question got N=%d, want 43", after.N)
	}
	got, err := s.LivechatState(ctx, d.ID)
	must(t, err)
	if got.Version != 2 || got.Operator != "ann" || got.Start != esc.ID || !got.AssignedAt.Equal(next.AssignedAt) {
		t.Fatalf("state read back: %+v", got)
	}

	// Listing: open dialogs, by bot and operator, and those closed recently.
	other := NewDialog("c2", now)
	must(t, s.RecordTalk(ctx, other, Talk(other, "help", now)))
	must(t, s.RecordLivechat(ctx, Handover(other, s.ServerID(), now)))
	old := NewDialog("c3", now)
	must(t, s.RecordTalk(ctx, old, Talk(old, "help", now)))
	closed := Handover(old, s.ServerID(), now)
	closed.Status, closed.ClosedAt, closed.Reason = bascule.LivechatClosed, now.Add(-time.Hour), bascule.TypeLivechatEnded
	must(t, s.RecordLivechat(ctx, closed))
	for _, tc := range []struct {
		f    bascule.LivechatFilter
		want []string
	}{
		{bascule.LivechatFilter{Open: true}, []string{d.ID, other.ID}},
		{bascule.LivechatFilter{Open: true, Operator: "ann"}, []string{d.ID}},
		{bascule.LivechatFilter{Open: true, BotID: bascule.NewID()}, nil},
		{bascule.LivechatFilter{Open: true, ClosedSince: now.Add(-2 * time.Hour)}, []string{d.ID, other.ID, old.ID}},
		{bascule.LivechatFilter{Open: true, ClosedSince: now.Add(-time.Minute)}, []string{d.ID, other.ID}},
		{bascule.LivechatFilter{}, []string{d.ID, other.ID, old.ID}},
	} {
		list, err := s.LivechatStates(ctx, tc.f)
		must(t, err)
		var ids []string
		for _, st := range list {
			ids = append(ids, st.DialogID)
		}
		slices.Sort(ids)
		slices.Sort(tc.want)
		if !slices.Equal(ids, tc.want) {
			t.Errorf("LivechatStates(%+v) = %v, want %v", tc.f, ids, tc.want)
		}
	}
}

// testLivechatReplication: accounts go from the main to the backup; livechat states written on
// both servers converge on the same newest version, whatever the order they arrive in, and
// the messages of a livechat continued on the backup reach the main once.
func testLivechatReplication(t *testing.T, open Factory) {
	ctx := context.Background()
	main, backup := newStore(t, open), newStore(t, open)
	now := time.Now().UTC().Truncate(time.Millisecond)
	must(t, main.PutAccount(ctx, Operator("ann")))
	must(t, main.PutAccount(ctx, Operator("bob")))
	must(t, main.DeleteAccount(ctx, "bob"))
	d := NewDialog("c", now)
	must(t, main.RecordTalk(ctx, d, Talk(d, "a human please", now)))
	st := Handover(d, main.ServerID(), now)
	must(t, main.RecordLivechat(ctx, st))
	v2 := *st
	v2.Version, v2.Status, v2.Operator = 2, bascule.LivechatAssigned, "ann"
	must(t, main.RecordLivechat(ctx, &v2, Message(d, "ann", "<p>Hello</p>", now.Add(time.Second))))
	Replicate(t, main, backup)
	Replicate(t, main, backup)
	accounts, err := backup.Accounts(ctx)
	must(t, err)
	if len(accounts) != 1 || accounts[0].Login != "ann" || accounts[0].SessionKey == "" {
		t.Fatalf("backup accounts: %+v", accounts)
	}
	got, err := backup.LivechatState(ctx, d.ID)
	must(t, err)
	if got.Version != 2 || got.Operator != "ann" {
		t.Fatalf("backup state: %+v", got)
	}
	// The main dies; the backup carries on with the dialog and closes it.
	v3 := *got
	v3.Version, v3.Server, v3.OperatorOn = 3, backup.ServerID(), backup.ServerID()
	must(t, backup.RecordLivechat(ctx, &v3, Message(d, "ann", "<p>Still here</p>", now.Add(2*time.Second))))
	v4 := v3
	v4.Version, v4.Status, v4.ClosedAt, v4.Reason = 4, bascule.LivechatClosed, now.Add(3*time.Second), bascule.TypeLivechatEnded
	must(t, backup.RecordLivechat(ctx, &v4))
	Replicate(t, backup, main)
	Replicate(t, backup, main)
	for _, s := range []bascule.Store{main, backup} {
		got, err := s.LivechatState(ctx, d.ID)
		must(t, err)
		if got.Version != 4 || got.Status != bascule.LivechatClosed {
			t.Fatalf("%s state: %+v", s.ServerID(), got)
		}
		ins, err := s.Interactions(ctx, d.ID, 0)
		must(t, err)
		if len(ins) != 3 || ins[2].Answer != "<p>Still here</p>" {
			t.Fatalf("%s interactions: %+v", s.ServerID(), ins)
		}
	}
	// An old version arriving late changes nothing.
	changes, err := main.Changes(ctx, bascule.ClassDialogs, 0, 100)
	must(t, err)
	var first []bascule.Change
	for _, c := range changes {
		if c.Entity == bascule.EntityLivechat {
			first = append(first, c)
			break
		}
	}
	must(t, backup.Apply(ctx, main.ServerID(), bascule.ClassDialogs, first, first[0].Seq))
	if got, err := backup.LivechatState(ctx, d.ID); err != nil || got.Version != 4 {
		t.Fatalf("an old version applied late: %+v %v", got, err)
	}
	// Both servers, cut off from each other, write the same version: one wins on both, and a
	// close wins over anything else.
	d2 := NewDialog("c2", now)
	must(t, main.RecordTalk(ctx, d2, Talk(d2, "human", now)))
	must(t, main.RecordLivechat(ctx, Handover(d2, main.ServerID(), now)))
	Replicate(t, main, backup)
	onMain := Handover(d2, main.ServerID(), now)
	onMain.Version, onMain.Status, onMain.Operator = 2, bascule.LivechatAssigned, "ann"
	onBackup := Handover(d2, backup.ServerID(), now)
	onBackup.Version, onBackup.Status, onBackup.Reason = 2, bascule.LivechatClosed, bascule.TypeLivechatLeftQueue
	must(t, main.RecordLivechat(ctx, onMain))
	must(t, backup.RecordLivechat(ctx, onBackup))
	Replicate(t, main, backup)
	Replicate(t, backup, main)
	for _, s := range []bascule.Store{main, backup} {
		got, err := s.LivechatState(ctx, d2.ID)
		must(t, err)
		if got.Status != bascule.LivechatClosed || got.Server != backup.ServerID() {
			t.Fatalf("%s kept %+v after concurrent writes of one version; want the close", s.ServerID(), got)
		}
	}
	if own, err := backup.Changes(ctx, bascule.ClassKnowledge, 0, 10); err != nil || len(own) != 0 {
		t.Fatalf("accounts applied on the backup entered its own feed: %v %v", own, err)
	}
}
