package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/postgres"
	"github.com/bascule/bascule/storetest"
)

// Two nodes on one database hear each other: a knowledge edit on one reloads exactly that bot
// on the other, a commit to the feed wakes the other's long polls, and a bus event reaches
// the subscribers of both.
func TestNodesHearEachOther(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	var nodes [2]*postgres.Store
	for i := range nodes {
		s, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		nodes[i] = s
	}
	a, b := nodes[0], nodes[1]
	reloads := make(chan string, 16)
	b.OnKnowledgeChange(func(bot string) { reloads <- bot })
	within := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: not within 5s", what)
		}
	}

	wake := b.ChangeSignal()
	if err := a.ReplaceKnowledgeBase(ctx, storetest.SmallKnowledgeBase()); err != nil {
		t.Fatal(err)
	}
	within("node B's feed readers woke up", wake)
	select {
	case bot := <-reloads:
		if bot != storetest.BotID {
			t.Fatalf("node B reloads %q, want exactly the edited bot %s", bot, storetest.BotID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("node B did not hear of the knowledge edit")
	}

	wake = b.ChangeSignal()
	if err := a.RecordTalk(ctx, storetest.NewDialog("c", time.Now()), nil); err != nil {
		t.Fatal(err)
	}
	within("a talk on node A wakes node B's feed readers", wake)
	select {
	case bot := <-reloads:
		t.Fatalf("a talk made node B reload bot %q", bot)
	case <-time.After(200 * time.Millisecond):
	}

	evA, cancelA := a.Bus().Subscribe("desk")
	defer cancelA()
	evB, cancelB := b.Bus().Subscribe("desk")
	defer cancelB()
	if err := a.Bus().Publish(ctx, "desk", []byte("look again\x00")); err != nil {
		t.Fatal(err)
	}
	for name, ev := range map[string]<-chan []byte{"A": evA, "B": evB} {
		select {
		case p := <-ev:
			if string(p) != "look again\x00" {
				t.Fatalf("node %s got %q", name, p)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("node %s did not get the bus event", name)
		}
	}
	if err := a.Bus().Publish(ctx, "desk", make([]byte, 8000)); err == nil || !strings.Contains(err.Error(), "nudge") {
		t.Fatalf("an event too large to cross nodes: %v", err)
	}

	// The listening connections are cut (a failover of the database, a restart): the nodes
	// connect again and, having missed news meanwhile, reload everything once.
	var cut int
	if err := a.DB().QueryRowContext(ctx, "SELECT COUNT(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "+
		"WHERE datname = current_database() AND query LIKE 'LISTEN%'").Scan(&cut); err != nil || cut != 2 {
		t.Fatalf("cut %d listening connections (%v), want the 2 nodes'", cut, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for heard := false; !heard; {
		if time.Now().After(deadline) {
			t.Fatal("node B hears nothing after its listening connection was cut")
		}
		bot, err := a.Bot(ctx, storetest.BotID)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.PutBot(ctx, bot); err != nil {
			t.Fatal(err)
		}
		select {
		case id := <-reloads:
			heard = id == storetest.BotID
		case <-time.After(200 * time.Millisecond):
		}
	}
}
