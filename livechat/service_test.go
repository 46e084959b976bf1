package livechat_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/bus"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/kb"
	"github.com/bascule/bascule/livechat"
	"github.com/bascule/bascule/ratelimit"
	"github.com/bascule/bascule/sqlite"
	"github.com/bascule/bascule/storetest"
)

const bot = storetest.BotID

// A Wednesday, 10:00 in Paris.
var start = time.Date(2026, 6, 17, 8, 0, 0, 0, time.UTC)

// shopKB is a bot with a billing desk open on weekdays from 9:00 to 18:00 (Paris) and a sales
// desk always open, and escalations to each.
func shopKB() *bascule.KnowledgeBase {
	return &bascule.KnowledgeBase{
		Format: bascule.KnowledgeFormat,
		Bot: bascule.Bot{ID: bot, Name: "Shop", Languages: []string{"en", "fr"}, Spaces: []string{bascule.DefaultSpace},
			Settings: bascule.BotSettings{Livechat: &bascule.LivechatSettings{
				InactivityTransfer: bascule.Duration(2 * time.Minute),
				Competencies: []bascule.Competency{
					{Name: "billing", Priority: 1, TimeZone: "Europe/Paris", Hours: []bascule.OpeningHours{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, From: "09:00", To: "18:00"}}},
					{Name: "sales", Priority: 5},
				}}}},
		Knowledge: []bascule.Knowledge{
			{ID: 1, Question: "Where is my parcel?", Answer: "<p>Track it online.</p>", Language: "en", Enabled: true},
			{ID: 2, Question: "I have a question about my invoice", Answer: "<p>Connecting you to billing.</p>", Language: "en", Enabled: true,
				Kind: bascule.KindEscalation, Competency: "billing", Failure: "<p>Billing answers on weekdays, 9:00 to 18:00.</p>"},
			{ID: 3, Question: "I want to buy in bulk", Answer: "<p>Connecting you to sales.</p>", Language: "en", Enabled: true,
				Kind: bascule.KindEscalation, Competency: "sales"},
		},
	}
}

// env is a livechat over a real engine and SQLite store, with a clock the test moves.
type env struct {
	t      *testing.T
	store  bascule.Store
	engine *engine.Engine
	svc    *livechat.Service
	bus    *bus.Memory
	peerUp bool

	mu  sync.Mutex
	now time.Time
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// pairView is a pair whose peer is reachable or not, as the test says.
type pairView struct{ e *env }

func (p pairView) SelfURL() string     { return "https://app1.example.com" }
func (p pairView) PeerURL() string     { return "https://app2.example.com" }
func (p pairView) PeerReachable() bool { return p.e.peerUp }
func (p pairView) PreferPeer() bool    { return false }

func newEnv(t *testing.T, tune ...func(*livechat.Options)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := (&kb.Service{Store: st}).Import(ctx, shopKB()); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, bus: bus.NewMemory(), now: start}
	e.engine = engine.New(st, engine.Options{Now: e.clock})
	opt := livechat.Options{Store: st, Engine: e.engine, Bus: e.bus, Now: e.clock, Pair: pairView{e}}
	for _, f := range tune {
		f(&opt)
	}
	e.svc = livechat.New(opt)
	e.engine.SetLivechat(e.svc)
	accounts := &livechat.Accounts{Store: st}
	for _, a := range []bascule.Account{
		{Login: "ann", Name: "Ann", Competencies: []string{"billing", "sales"}, Capacity: 1, QueueCapacity: 2, Password: "ann's password"},
		{Login: "bob", Name: "Bob", Competencies: []string{"sales"}, Capacity: 2, QueueCapacity: 1, Password: "bob's password"},
		{Login: "sue", Name: "Sue", Role: bascule.RoleSupervisor, Capacity: 1, Password: "sue's password"},
	} {
		if err := accounts.Put(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) account(login string) *bascule.Account {
	e.t.Helper()
	a, err := e.store.Account(context.Background(), login)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// desk opens an operator's desk (available unless status says otherwise).
func (e *env) desk(login, status string) *livechat.Watch {
	e.t.Helper()
	w, err := e.svc.OpenDesk(context.Background(), e.account(login), status)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(w.Close)
	return w
}

// visitor is one chatbox.
type visitor struct {
	e      *env
	ctx    string
	cursor int64
}

func (e *env) visitor() *visitor { return &visitor{e: e} }

// say sends a question as the dydu chatbox does (mode Synchron until it follows a livechat).
func (v *visitor) say(text string) *engine.TalkResult {
	v.e.t.Helper()
	mode := "Synchron"
	if v.cursor != 0 {
		mode = "polling"
	}
	res, err := v.e.engine.Talk(context.Background(), &engine.TalkRequest{BotID: bot, ContextID: v.ctx, Input: text, Language: "en", Mode: mode})
	if err != nil {
		v.e.t.Fatalf("talk %q: %v", text, err)
	}
	if res.Dialog != nil {
		v.ctx = res.Dialog.ID
	}
	if res.SpecialAction == engine.ActionStartPolling {
		v.cursor = res.Cursor
	}
	return res
}

// poll polls as the dydu chatbox does, and returns the item ("" type: nothing).
func (v *visitor) poll() livechat.Item {
	v.e.t.Helper()
	it, err := v.e.svc.Poll(context.Background(), bot, v.ctx, v.cursor)
	if err != nil {
		v.e.t.Fatal(err)
	}
	if it == nil {
		return livechat.Item{}
	}
	v.cursor = it.Cursor
	return *it
}

func (v *visitor) state() *bascule.LivechatState {
	v.e.t.Helper()
	st, err := v.e.store.LivechatState(context.Background(), v.ctx)
	if err != nil {
		v.e.t.Fatal(err)
	}
	return st
}

func (v *visitor) expect(status, operator string) {
	v.e.t.Helper()
	if st := v.state(); st.Status != status || st.Operator != operator {
		v.e.t.Fatalf("dialog is %s with %q, want %s with %q", st.Status, st.Operator, status, operator)
	}
}

func (e *env) tick() {
	e.t.Helper()
	if err := e.svc.Tick(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// TestHandOver: escalation to an operator, the queue up to its capacity, messages both ways,
// the end of the dialog, and the next waiting visitor given to the operator.
func TestHandOver(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Nobody at the desk: the escalation fails with the bot's sentence.
	v1 := e.visitor()
	if res := v1.say("I want to buy in bulk"); res.SpecialAction != "" || !strings.Contains(res.Text, "No advisor is available") {
		t.Fatalf("nobody at the desk: %+v", res)
	}
	e.desk("ann", "")
	res := v1.say("I want to buy in bulk")
	if res.SpecialAction != engine.ActionStartPolling || res.Type != bascule.TypeLivechatStarted || res.Text != "<p>Connecting you to sales.</p>" || res.Cursor == 0 {
		t.Fatalf("hand-over: %+v", res)
	}
	v1.expect(bascule.LivechatAssigned, "ann")
	if it := v1.poll(); it.Type != bascule.TypeOperatorJoined || !strings.Contains(it.Text, "Ann joined") || it.Operator != "Ann" {
		t.Fatalf("first poll: %+v", it)
	}
	if it := v1.poll(); it.Type != "" {
		t.Fatalf("nothing more to say, got %+v", it)
	}

	// Ann's capacity is 1 and her queue capacity 2: two visitors wait, the third is told no.
	v2, v3, v4 := e.visitor(), e.visitor(), e.visitor()
	for i, v := range []*visitor{v2, v3} {
		e.advance(time.Second)
		res := v.say("I want to buy in bulk")
		if res.SpecialAction != engine.ActionStartWaitingQueue || res.QueuePosition != i+1 || res.EstimatedWait <= 0 || !strings.Contains(res.Text, "number") {
			t.Fatalf("visitor %d: %+v", i+2, res)
		}
	}
	if res := v4.say("I want to buy in bulk"); res.SpecialAction != "" || !strings.Contains(res.Text, "No advisor") {
		t.Fatalf("the queue is full: %+v", res)
	}
	if ok, _ := e.svc.Waiting(ctx, bot, v2.ctx); !ok {
		t.Fatal("chat/status: v2 should wait")
	}

	// Messages both ways, each stored once.
	ann := e.account("ann")
	if _, err := e.svc.Send(ctx, ann, v1.ctx, "", "Hello, how can I help?"); err != nil {
		t.Fatal(err)
	}
	if it := v1.poll(); !it.Human || it.Text != "<p>Hello, how can I help?</p>" || it.Type != bascule.TypeOperator {
		t.Fatalf("operator message: %+v", it)
	}
	if res := v1.say("I need 200 chairs <b>now</b>"); res.Text != "" || res.Type != bascule.TypeVisitorMessage || res.Interaction == nil {
		t.Fatalf("the visitor's message goes to the operator, the bot stays silent: %+v", res)
	}
	dv, err := e.svc.Dialog(ctx, ann, v1.ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	var said []string
	for _, in := range dv.Interactions {
		said = append(said, in.Question+"|"+in.Answer)
	}
	if want := "I need 200 chairs <b>now</b>|"; said[len(said)-1] != want || !strings.HasPrefix(said[0], "I want to buy in bulk|") {
		t.Fatalf("the desk's history: %q", said)
	}
	// While Ann types, the visitor's poll says so.
	if err := e.svc.Typing(ctx, ann, v1.ctx, true); err != nil {
		t.Fatal(err)
	}
	if it := v1.poll(); it.Type != livechat.TypingCode {
		t.Fatalf("typing: %+v", it)
	}

	// Ann ends the dialog: the visitor is told, and the first waiting visitor goes to Ann.
	if err := e.svc.Close(ctx, ann, v1.ctx); err != nil {
		t.Fatal(err)
	}
	if it := v1.poll(); !it.End || it.Type != bascule.TypeLivechatEnded {
		t.Fatalf("end: %+v", it)
	}
	v1.expect(bascule.LivechatClosed, "ann")
	v2.expect(bascule.LivechatAssigned, "ann")
	v3.expect(bascule.LivechatQueued, "")
	// The bot answers v1 again.
	v1.cursor = 0
	if res := v1.say("Where is my parcel?"); res.Text != "<p>Track it online.</p>" {
		t.Fatalf("after the end, the bot answers: %+v", res)
	}
	// v2 (a dydu chatbox that waited without polling) learns at its next message that Ann has
	// it, and starts polling from the start of its hand-over.
	res = v2.say("hello?")
	if res.SpecialAction != engine.ActionStartPolling || !strings.Contains(res.Text, "Ann joined") {
		t.Fatalf("a waiting visitor's message once assigned: %+v", res)
	}
	if it := v2.poll(); it.Type != bascule.TypeOperatorJoined {
		t.Fatalf("v2's first poll: %+v", it)
	}
	if res := v3.say("still there?"); res.SpecialAction != engine.ActionStartWaitingQueue || res.QueuePosition != 1 {
		t.Fatalf("v3 moved up the queue: %+v", res)
	}
	// v3 leaves the queue.
	if res := v3.say(engine.InputLeaveQueue); res.SpecialAction != engine.ActionLeaveWaitingQueue || res.Type != bascule.TypeLivechatLeftQueue {
		t.Fatalf("leaving the queue: %+v", res)
	}
	if ok, _ := e.svc.Waiting(ctx, bot, v3.ctx); ok {
		t.Fatal("v3 still waits after leaving")
	}
}

// TestStatusRules: what each status of an operator means for new dialogs, the queue and the
// dialogs they have.
func TestStatusRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.desk("ann", livechat.StatusBreak)
	v1 := e.visitor()
	// On break: no new dialog, but the visitor may wait for Ann.
	if res := v1.say("I want to buy in bulk"); res.SpecialAction != engine.ActionStartWaitingQueue {
		t.Fatalf("on break: %+v", res)
	}
	// Available again: Ann takes the waiting dialog.
	if err := e.svc.SetStatus(ctx, e.account("ann"), livechat.StatusAvailable); err != nil {
		t.Fatal(err)
	}
	v1.expect(bascule.LivechatAssigned, "ann")
	// On break with a dialog: she keeps it.
	if err := e.svc.SetStatus(ctx, e.account("ann"), livechat.StatusBreak); err != nil {
		t.Fatal(err)
	}
	v1.expect(bascule.LivechatAssigned, "ann")
	// Offline: her dialog goes back to the head of the queue, then to Bob when he comes.
	if err := e.svc.SetStatus(ctx, e.account("ann"), livechat.StatusOffline); err != nil {
		t.Fatal(err)
	}
	v1.expect(bascule.LivechatQueued, "")
	if res := e.visitor().say("I want to buy in bulk"); res.SpecialAction != "" {
		t.Fatalf("with Ann offline and nobody else, a new escalation fails: %+v", res)
	}
	e.desk("bob", "")
	v1.expect(bascule.LivechatAssigned, "bob")
	if err := e.svc.SetStatus(ctx, e.account("bob"), "asleep"); bascule.ErrorCode(err) != bascule.CodeInvalid {
		t.Fatalf("an unknown status: %v", err)
	}
}

// TestAbsences: an operator whose desk is gone, and a visitor whose chatbox stopped following,
// are missed after their grace times, not before.
func TestAbsences(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	annDesk := e.desk("ann", "")
	v1 := e.visitor()
	v1.say("I want to buy in bulk")
	v1.expect(bascule.LivechatAssigned, "ann")
	w, err := e.svc.Watch(ctx, bot, v1.ctx)
	if err != nil {
		t.Fatal(err)
	}
	annDesk.Close() // a reload, or the move to the other server
	e.advance(59 * time.Second)
	e.tick()
	v1.expect(bascule.LivechatAssigned, "ann")
	e.advance(2 * time.Second)
	e.tick()
	v1.expect(bascule.LivechatQueued, "")
	e.desk("bob", "")
	v1.expect(bascule.LivechatAssigned, "bob")
	if it := v1.poll(); it.Type != bascule.TypeOperatorJoined || it.Operator != "Ann" {
		t.Fatalf("first, Ann joined: %+v", it)
	}
	if it := v1.poll(); it.Type != bascule.TypeOperatorLeft || !strings.Contains(it.Text, "Ann was disconnected") {
		t.Fatalf("then Ann left: %+v", it)
	}
	if it := v1.poll(); it.Type != bascule.TypeOperatorJoined || it.Operator != "Bob" {
		t.Fatalf("then Bob joined: %+v", it)
	}
	// The visitor's push channel closes: they have left once the grace time is over.
	w.Close()
	e.advance(89 * time.Second)
	if _, err := e.svc.Send(ctx, e.account("bob"), v1.ctx, "", "Are you there?"); err != nil {
		t.Fatal(err)
	}
	e.tick()
	v1.expect(bascule.LivechatAssigned, "bob")
	e.advance(2 * time.Second)
	e.tick()
	if st := v1.state(); st.Status != bascule.LivechatClosed || st.Reason != bascule.TypeVisitorLeft {
		t.Fatalf("the visitor left: %+v", st)
	}
	// A dydu chatbox that waits in the queue does not poll: it is not missed, until the
	// dialog's idle time.
	annDesk2 := e.desk("ann", livechat.StatusBreak)
	defer annDesk2.Close()
	v2 := e.visitor()
	v2.say("I have a question about my invoice")
	v2.expect(bascule.LivechatQueued, "")
	e.advance(5 * time.Minute)
	e.tick()
	v2.expect(bascule.LivechatQueued, "")
	e.advance(6 * time.Minute)
	e.tick()
	if st := v2.state(); st.Status != bascule.LivechatClosed || st.Reason != bascule.TypeVisitorLeft {
		t.Fatalf("a queued dialog idle for 11 min: %+v", st)
	}
}

// TestAbsencesAcrossThePair: a server misses only the people it saw, or anyone once the peer
// is unreachable.
func TestAbsencesAcrossThePair(t *testing.T) {
	e := newEnv(t)
	e.peerUp = true
	ctx := context.Background()
	e.desk("ann", "")
	v1 := e.visitor()
	v1.say("I want to buy in bulk")
	st := v1.state()
	// The state says Ann's desk is on the peer (it moved there); this server does not miss her
	// while the peer answers.
	moved := *st
	moved.Version, moved.OperatorOn, moved.Server = st.Version+1, "the-peer", "the-peer"
	if err := e.store.Apply(ctx, "the-peer", bascule.ClassDialogs, []bascule.Change{{Seq: 1, Origin: "the-peer", Entity: bascule.EntityLivechat,
		Key: st.DialogID, Op: bascule.OpPut, Data: mustJSON(t, moved)}}, 1); err != nil {
		t.Fatal(err)
	}
	e.svc.SetStatus(ctx, e.account("ann"), livechat.StatusBreak) // she is not at this server's desk
	e.advance(10 * time.Minute)
	e.tick()
	v1.expect(bascule.LivechatAssigned, "ann")
	// The peer fails: after the grace time, counted from the failure, her dialog goes back to
	// the queue here.
	e.peerUp = false
	e.svc.SetStatus(ctx, e.account("ann"), livechat.StatusOffline)
	v1.expect(bascule.LivechatQueued, "")
}

// TestInactivityTransfer: an operator who leaves a visitor without an answer longer than the
// bot's inactivity time loses the dialog to an available colleague.
func TestInactivityTransfer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.desk("ann", "")
	v1 := e.visitor()
	v1.say("I want to buy in bulk")
	v1.expect(bascule.LivechatAssigned, "ann")
	e.desk("bob", "")
	ann := e.account("ann")
	// Ann greets the visitor within the time, then the visitor asks and Ann stays silent.
	e.advance(time.Minute)
	e.tick()
	e.svc.Send(ctx, ann, v1.ctx, "", "Hello!")
	e.advance(3 * time.Minute)
	e.tick()
	v1.expect(bascule.LivechatAssigned, "ann") // nobody waits for her: she answered last
	v1.say("How much for 200 chairs?")
	e.advance(119 * time.Second)
	e.tick()
	v1.expect(bascule.LivechatAssigned, "ann")
	e.advance(2 * time.Second)
	e.tick()
	v1.expect(bascule.LivechatAssigned, "bob")
	if st := v1.state(); st.Transfers != 1 {
		t.Fatalf("transfers: %+v", st)
	}
	var last livechat.Item
	for it := v1.poll(); it.Type != ""; it = v1.poll() {
		last = it
	}
	if last.Type != bascule.TypeTransferredAuto || !strings.Contains(last.Text, "Ann hands the conversation over to Bob") {
		t.Fatalf("the visitor is told of the transfer: %+v", last)
	}
	// With nobody else available, the dialog stays.
	e.svc.SetStatus(ctx, ann, livechat.StatusBreak)
	v1.say("hello?")
	e.advance(3 * time.Minute)
	v1.poll() // the chatbox still follows the livechat
	e.tick()
	v1.expect(bascule.LivechatAssigned, "bob")
}

// TestTransferAndVisibility: manual transfers, and who sees and acts on which dialog.
func TestTransferAndVisibility(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.desk("ann", "")
	e.desk("sue", livechat.StatusBreak)
	ann, bob, sue := e.account("ann"), e.account("bob"), e.account("sue")
	v1, v2 := e.visitor(), e.visitor()
	v1.say("I have a question about my invoice")
	e.advance(time.Second)
	v2.say("I have a question about my invoice")
	v1.expect(bascule.LivechatAssigned, "ann")
	v2.expect(bascule.LivechatQueued, "")
	// Bob has no billing competency: he sees neither dialog and cannot act on them.
	if ds, _ := e.svc.Dialogs(ctx, bob); len(ds) != 0 {
		t.Fatalf("Bob sees %d dialogs", len(ds))
	}
	if _, err := e.svc.Send(ctx, bob, v1.ctx, "", "hijack"); !errors.Is(err, bascule.ErrNotFound) {
		t.Fatalf("Bob writes in Ann's dialog: %v", err)
	}
	if err := e.svc.Take(ctx, bob, v2.ctx); !errors.Is(err, bascule.ErrNotFound) {
		t.Fatalf("Bob takes a billing dialog: %v", err)
	}
	// Ann sees hers and the waiting one; the supervisor sees all.
	if ds, _ := e.svc.Dialogs(ctx, ann); len(ds) != 2 {
		t.Fatalf("Ann sees %d dialogs", len(ds))
	}
	if ds, _ := e.svc.Dialogs(ctx, sue); len(ds) != 2 {
		t.Fatalf("Sue sees %d dialogs", len(ds))
	}
	// Ann is at her capacity: she cannot take the waiting one.
	if err := e.svc.Take(ctx, ann, v2.ctx); bascule.ErrorCode(err) != bascule.CodeLimit {
		t.Fatalf("Ann takes beyond her capacity: %v", err)
	}
	// A transfer to an operator who cannot take it is refused; to the supervisor on break too.
	if err := e.svc.Transfer(ctx, ann, v1.ctx, "bob"); bascule.ErrorCode(err) != bascule.CodeConflict {
		t.Fatalf("transfer to Bob, not at the desk and without billing: %v", err)
	}
	if err := e.svc.Transfer(ctx, ann, v1.ctx, "sue"); bascule.ErrorCode(err) != bascule.CodeConflict {
		t.Fatalf("transfer to Sue on break: %v", err)
	}
	if err := e.svc.SetStatus(ctx, sue, livechat.StatusAvailable); err != nil {
		t.Fatal(err)
	}
	// Sue became available: as a supervisor with no competency she may still take billing
	// dialogs only by hand (the queue gives them to operators with the competency).
	v2.expect(bascule.LivechatQueued, "")
	if err := e.svc.Take(ctx, sue, v2.ctx); err != nil {
		t.Fatal(err)
	}
	v2.expect(bascule.LivechatAssigned, "sue")
	// Ann closes; Sue transfers hers to Ann, who is free again.
	if err := e.svc.Close(ctx, ann, v1.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Transfer(ctx, sue, v2.ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	if st := v2.state(); st.Operator != "ann" || st.Transfers != 1 {
		t.Fatalf("after the transfer: %+v", st)
	}
	// The supervisor may end any dialog.
	if err := e.svc.Close(ctx, sue, v2.ctx); err != nil {
		t.Fatal(err)
	}
	v2.expect(bascule.LivechatClosed, "ann")
}

// TestOpeningHours: out of the competency's hours, the escalation gives its failure answer.
func TestOpeningHours(t *testing.T) {
	e := newEnv(t)
	e.desk("ann", "")
	e.advance(9 * time.Hour) // 19:00 in Paris
	v := e.visitor()
	if res := v.say("I have a question about my invoice"); res.SpecialAction != "" || res.Text != "<p>Billing answers on weekdays, 9:00 to 18:00.</p>" {
		t.Fatalf("billing after hours: %+v", res)
	}
	if res := v.say("I want to buy in bulk"); res.SpecialAction != engine.ActionStartPolling {
		t.Fatalf("sales, always open: %+v", res)
	}
}

// TestAskForAHuman: a visitor who asks for a person in so many words is handed over (to any
// operator, by competency priority), a question the bot understands is answered.
func TestAskForAHuman(t *testing.T) {
	e := newEnv(t)
	e.desk("ann", "")
	v := e.visitor()
	if res := v.say("Where is my parcel?"); res.Text != "<p>Track it online.</p>" {
		t.Fatalf("an ordinary question: %+v", res)
	}
	res := v.say("I want to talk to a human")
	if res.SpecialAction != engine.ActionStartPolling || !strings.Contains(res.Text, "advisor") {
		t.Fatalf("asking for a human: %+v", res)
	}
	if st := v.state(); st.Competency != "" || st.Operator != "ann" {
		t.Fatalf("state: %+v", st)
	}
}

// TestErasedWhileHandedOver: a visitor's data erased during a hand-over ends it, and frees
// the operator's place.
func TestErasedWhileHandedOver(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.desk("ann", "")
	res, err := e.engine.Talk(ctx, &engine.TalkRequest{BotID: bot, Input: "I want to buy in bulk", Language: "en", ClientID: "erase-me"})
	if err != nil || res.SpecialAction != engine.ActionStartPolling {
		t.Fatalf("hand-over: %+v %v", res, err)
	}
	if n, err := e.engine.EraseClient(ctx, bot, "erase-me"); err != nil || n != 1 {
		t.Fatalf("erasure: %d %v", n, err)
	}
	e.tick()
	if st, _ := e.store.LivechatState(ctx, res.Dialog.ID); st.Status != bascule.LivechatClosed {
		t.Fatalf("the erased dialog's hand-over: %+v", st)
	}
	if res := e.visitor().say("I want to buy in bulk"); res.SpecialAction != engine.ActionStartPolling {
		t.Fatalf("Ann's place was not freed: %+v", res)
	}
}

func TestSessions(t *testing.T) {
	e := newEnv(t, func(o *livechat.Options) { o.Logins = ratelimit.New(1.0/60, 3) })
	ctx := context.Background()
	if _, err := e.svc.Login(ctx, "ann", "wrong password", "10.0.0.1"); bascule.ErrorCode(err) != bascule.CodeUnauthorized {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := e.svc.Login(ctx, "nobody", "whatever it is", "10.0.0.1"); bascule.ErrorCode(err) != bascule.CodeUnauthorized {
		t.Fatalf("unknown login: %v", err)
	}
	sess, err := e.svc.Login(ctx, "ANN ", "ann's password", "10.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	if sess.Account.PasswordHash != "" || sess.Account.SessionKey != "" || sess.Account.Login != "ann" {
		t.Fatalf("the session shows secrets: %+v", sess.Account)
	}
	// Guessing is limited: per login, whatever the address.
	e.svc.Login(ctx, "ann", "guess 1 ....", "10.0.0.3")
	if _, err := e.svc.Login(ctx, "ann", "ann's password", "10.0.0.4"); bascule.ErrorCode(err) != bascule.CodeLimit {
		t.Fatalf("the fourth attempt in a minute: %v", err)
	}
	a, err := e.svc.Authenticate(ctx, sess.Token)
	if err != nil || a.Login != "ann" {
		t.Fatalf("Authenticate: %v %v", a, err)
	}
	for _, bad := range []string{"", "x.y.z.w", sess.Token + "x", strings.Replace(sess.Token, "YW5u", "Ym9i", 1)} {
		if _, err := e.svc.Authenticate(ctx, bad); bascule.ErrorCode(err) != bascule.CodeUnauthorized {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	// Idle sessions expire; renewed ones last, up to their maximum age.
	e.advance(29 * time.Minute)
	renewed, err := e.svc.Renew(ctx, a, sess.Token)
	if err != nil {
		t.Fatal(err)
	}
	e.advance(2 * time.Minute)
	if _, err := e.svc.Authenticate(ctx, sess.Token); bascule.ErrorCode(err) != bascule.CodeUnauthorized {
		t.Fatalf("an idle session: %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, renewed.Token); err != nil {
		t.Fatalf("a renewed session: %v", err)
	}
	for range 30 {
		e.advance(25 * time.Minute)
		if renewed, err = e.svc.Renew(ctx, a, renewed.Token); err != nil {
			break
		}
	}
	if bascule.ErrorCode(err) != bascule.CodeUnauthorized {
		t.Fatalf("a session renewed past 12 hours: %v", err)
	}
	// A new password ends every session of the operator.
	sess, err = e.svc.Login(ctx, "bob", "bob's password", "10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	accounts := &livechat.Accounts{Store: e.store}
	if err := accounts.Put(ctx, &bascule.Account{Login: "bob", Name: "Bob", Capacity: 2, Password: "a new password"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, sess.Token); bascule.ErrorCode(err) != bascule.CodeUnauthorized {
		t.Fatalf("a session after a new password: %v", err)
	}
	// Logging out ends the session here.
	sess, _ = e.svc.Login(ctx, "sue", "sue's password", "10.0.0.6")
	if err := e.svc.Logout(ctx, e.account("sue"), sess.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, sess.Token); bascule.ErrorCode(err) != bascule.CodeUnauthorized {
		t.Fatalf("a session after logout: %v", err)
	}
}

// TestSessionsAcrossThePair: a session opened on the main is good on the backup, which
// received the account (and its key) through the feed; accounts are written on the main only.
func TestSessionsAcrossThePair(t *testing.T) {
	main, backup := newEnv(t), newEnv(t)
	ctx := context.Background()
	accounts := &livechat.Accounts{Store: main.store}
	if err := accounts.Put(ctx, &bascule.Account{Login: "zoe", Name: "Zoé", Capacity: 4, Password: "zoe's password"}); err != nil {
		t.Fatal(err)
	}
	storetest.Replicate(t, main.store, backup.store)
	sess, err := main.svc.Login(ctx, "zoe", "zoe's password", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if a, err := backup.svc.Authenticate(ctx, sess.Token); err != nil || a.Name != "Zoé" {
		t.Fatalf("the main's session on the backup: %v %v", a, err)
	}
	readOnly := &livechat.Accounts{Store: backup.store, Writable: func() error {
		return bascule.Errorf(bascule.CodeReadOnly, "this server is the backup: edit configuration on the main (https://app1.example.com)")
	}}
	err = readOnly.Put(ctx, &bascule.Account{Login: "max", Name: "Max", Password: "max's password"})
	if bascule.ErrorCode(err) != bascule.CodeReadOnly || !strings.Contains(err.Error(), "app1.example.com") {
		t.Fatalf("an account written on the backup: %v", err)
	}
}

func TestAccountRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	accounts := &livechat.Accounts{Store: e.store}
	err := accounts.Put(ctx, &bascule.Account{Login: "Bad Login", Name: "", Role: "boss", Capacity: 11, QueueCapacity: -1, Password: "short"})
	for _, field := range []string{"login", "name", "role", "capacity", "queueCapacity", "password"} {
		if err == nil || !strings.Contains(err.Error(), field+":") {
			t.Errorf("no error about %s: %v", field, err)
		}
	}
	if err := accounts.Put(ctx, &bascule.Account{Login: "new", Name: "New"}); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("a new account without a password: %v", err)
	}
	// An update without a password keeps it, and the sessions.
	sess, _ := e.svc.Login(ctx, "ann", "ann's password", "x")
	if err := accounts.Put(ctx, &bascule.Account{Login: "ann", Name: "Ann B.", Capacity: 5, Competencies: []string{"sales", "sales"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, sess.Token); err != nil {
		t.Fatalf("a session after an update without password: %v", err)
	}
	got, _ := accounts.Get(ctx, "ann")
	if got.Name != "Ann B." || len(got.Competencies) != 1 || got.PasswordHash != "" {
		t.Fatalf("account after update: %+v", got)
	}
}

func TestPasswords(t *testing.T) {
	h := livechat.HashPassword("correct horse battery")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash format: %s", h)
	}
	if !livechat.CheckPassword(h, "correct horse battery") || livechat.CheckPassword(h, "correct horse battery ") {
		t.Fatal("CheckPassword")
	}
	if livechat.HashPassword("same") == livechat.HashPassword("same") {
		t.Fatal("hashes are not salted")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=999999999,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=8,t=1,p=1$!!$aGFzaA", "plain"} {
		if livechat.CheckPassword(bad, "x") {
			t.Errorf("malformed hash %q matched", bad)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
