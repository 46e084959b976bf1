package livechat

import (
	"strings"
	"testing"
	"time"

	"github.com/bascule/bascule"
)

const botA, botB = "0b0b0000-0000-4000-8000-00000000000a", "0b0b0000-0000-4000-8000-00000000000b"

// settings: billing answers on weekdays 9:00-18:00 in Paris, sales every day and first for
// dialogs that ask for no competency; "night" answers 22:00-24:00.
var settings = &bascule.LivechatSettings{Competencies: []bascule.Competency{
	{Name: "billing", Priority: 1, TimeZone: "Europe/Paris", Hours: []bascule.OpeningHours{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, From: "09:00", To: "18:00"}}},
	{Name: "sales", Priority: 5},
	{Name: "night", Priority: 9, Hours: []bascule.OpeningHours{{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, From: "22:00", To: "24:00"}}},
	{Name: "vip", QueueCapacity: 1},
}}

// A Wednesday, 10:00 in Paris (08:00 UTC in summer), and the same day at 20:00 in Paris.
var (
	wednesdayMorning = time.Date(2026, 6, 17, 8, 0, 0, 0, time.UTC)
	wednesdayEvening = time.Date(2026, 6, 17, 18, 0, 0, 0, time.UTC)
	saturdayMorning  = time.Date(2026, 6, 20, 8, 0, 0, 0, time.UTC)
)

func op(login, status string, active, capacity, queue int, competencies ...string) Load {
	return Load{Account: &bascule.Account{Login: login, Name: login, Role: bascule.RoleOperator, Capacity: capacity,
		QueueCapacity: queue, Competencies: competencies}, Status: status, Active: active}
}

func TestRoute(t *testing.T) {
	disabled := op("dis", StatusAvailable, 0, 3, 5, "billing", "sales")
	disabled.Account.Disabled = true
	otherBot := op("other", StatusAvailable, 0, 3, 5, "billing", "sales")
	otherBot.Account.Bots = []string{botB}
	earlier := op("early", StatusAvailable, 1, 2, 0, "sales")
	earlier.LastAssigned = wednesdayMorning.Add(-time.Hour)
	later := op("late", StatusAvailable, 1, 2, 0, "sales")
	later.LastAssigned = wednesdayMorning.Add(-time.Minute)
	for _, tc := range []struct {
		name       string
		now        time.Time
		competency string
		ops        []Load
		waiting    int
		want       Decision
	}{
		// Capacity: an operator takes dialogs up to their capacity, the least loaded first.
		{"free operator", wednesdayMorning, "billing", []Load{op("ann", StatusAvailable, 0, 3, 0, "billing")}, 0, Decision{Operator: "ann"}},
		{"at capacity: the queue", wednesdayMorning, "billing", []Load{op("ann", StatusAvailable, 3, 3, 2, "billing")}, 0, Decision{Position: 1}},
		{"least loaded share of capacity", wednesdayMorning, "sales", []Load{op("ann", StatusAvailable, 2, 4, 0, "sales"), op("bob", StatusAvailable, 1, 1, 0, "sales"), op("cid", StatusAvailable, 1, 4, 0, "sales")}, 0, Decision{Operator: "cid"}},
		{"equal load: who waited longest", wednesdayMorning, "sales", []Load{later, earlier}, 0, Decision{Operator: "early"}},
		// Queue capacity: the sum of the operators', or the competency's own.
		{"queue has room", wednesdayMorning, "billing", []Load{op("ann", StatusAvailable, 3, 3, 2, "billing"), op("bob", StatusAvailable, 1, 1, 1, "billing")}, 2, Decision{Position: 3}},
		{"queue full", wednesdayMorning, "billing", []Load{op("ann", StatusAvailable, 3, 3, 2, "billing"), op("bob", StatusAvailable, 1, 1, 1, "billing")}, 3, Decision{Reason: ReasonFull}},
		{"no queue capacity", wednesdayMorning, "billing", []Load{op("ann", StatusAvailable, 3, 3, 0, "billing")}, 0, Decision{Reason: ReasonFull}},
		{"competency's own queue capacity", wednesdayMorning, "vip", []Load{op("ann", StatusAvailable, 3, 3, 9, "vip")}, 1, Decision{Reason: ReasonFull}},
		{"competency's own queue capacity, room", wednesdayMorning, "vip", []Load{op("ann", StatusAvailable, 3, 3, 0, "vip")}, 0, Decision{Position: 1}},
		// Competencies: only operators who have it; with none asked, by competency priority.
		{"without the competency", wednesdayMorning, "billing", []Load{op("ann", StatusAvailable, 0, 3, 5, "sales")}, 0, Decision{Reason: ReasonNobody}},
		{"no competency asked: highest priority first", wednesdayMorning, "", []Load{op("ann", StatusAvailable, 0, 3, 0, "billing"), op("bob", StatusAvailable, 2, 3, 0, "sales")}, 0, Decision{Operator: "bob"}},
		{"no competency asked: next priority when the first is full", wednesdayMorning, "", []Load{op("ann", StatusAvailable, 0, 3, 0, "billing"), op("bob", StatusAvailable, 3, 3, 0, "sales")}, 0, Decision{Operator: "ann"}},
		{"no competency asked: closed competencies do not rank", wednesdayMorning, "", []Load{op("ann", StatusAvailable, 1, 3, 0, "night"), op("bob", StatusAvailable, 2, 3, 0, "sales")}, 0, Decision{Operator: "bob"}},
		{"no competency asked: operators without any come last", wednesdayMorning, "", []Load{op("ann", StatusAvailable, 0, 3, 0), op("bob", StatusAvailable, 2, 3, 0, "billing")}, 0, Decision{Operator: "bob"}},
		// Opening hours, in the competency's time zone.
		{"billing closed in the evening", wednesdayEvening, "billing", []Load{op("ann", StatusAvailable, 0, 3, 5, "billing")}, 0, Decision{Reason: ReasonClosed}},
		{"billing closed on saturday", saturdayMorning, "billing", []Load{op("ann", StatusAvailable, 0, 3, 5, "billing")}, 0, Decision{Reason: ReasonClosed}},
		{"sales always open", saturdayMorning, "sales", []Load{op("ann", StatusAvailable, 0, 3, 5, "sales")}, 0, Decision{Operator: "ann"}},
		{"night opens at 22:00 UTC", time.Date(2026, 6, 17, 22, 30, 0, 0, time.UTC), "night", []Load{op("ann", StatusAvailable, 0, 3, 5, "night")}, 0, Decision{Operator: "ann"}},
		// Statuses: on break, no new dialog but visitors may wait; offline, nothing.
		{"on break: the queue", wednesdayMorning, "sales", []Load{op("ann", StatusBreak, 0, 3, 2, "sales")}, 0, Decision{Position: 1}},
		{"offline: nobody", wednesdayMorning, "sales", []Load{op("ann", StatusOffline, 0, 3, 2, "sales")}, 0, Decision{Reason: ReasonNobody}},
		{"disabled: nobody", wednesdayMorning, "sales", []Load{disabled}, 0, Decision{Reason: ReasonNobody}},
		{"another bot's operator: nobody", wednesdayMorning, "sales", []Load{otherBot}, 0, Decision{Reason: ReasonNobody}},
		{"nobody at all", wednesdayMorning, "sales", nil, 0, Decision{Reason: ReasonNobody}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Route(tc.now, settings, botA, tc.competency, tc.ops, tc.waiting); got != tc.want {
				t.Errorf("Route = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRouteWithoutCompetencies(t *testing.T) {
	// A bot that declares no competency is always open and any operator takes its dialogs.
	ops := []Load{op("ann", StatusAvailable, 0, 1, 0)}
	if got := Route(saturdayMorning, nil, botA, "", ops, 0); got.Operator != "ann" {
		t.Errorf("Route = %+v", got)
	}
	if got := Pick(saturdayMorning, nil, botA, "", ops, "ann"); got != "" {
		t.Errorf("Pick excluding the only operator = %q", got)
	}
}

func TestEstimateWait(t *testing.T) {
	for _, tc := range []struct {
		position, operators int
		want                time.Duration
	}{{0, 2, 0}, {1, 1, 3 * time.Minute}, {4, 2, 6 * time.Minute}, {2, 0, 6 * time.Minute}} {
		if got := EstimateWait(tc.position, tc.operators, 3*time.Minute); got != tc.want {
			t.Errorf("EstimateWait(%d, %d) = %v, want %v", tc.position, tc.operators, got, tc.want)
		}
	}
}

func TestOpeningHoursValidation(t *testing.T) {
	bad := &bascule.LivechatSettings{Competencies: []bascule.Competency{
		{Name: "x", TimeZone: "Mars/Olympus", Hours: []bascule.OpeningHours{{Days: []string{"mon", "funday"}, From: "18:00", To: "09:00"}}},
		{Name: "x"},
	}, InactivityTransfer: bascule.Duration(time.Second)}
	err := bad.Validate("bot.settings.livechat")
	for _, want := range []string{"competencies[0].timeZone", "funday", "competencies[0].hours[0]", "declared twice", "inactivityTransfer"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validation lacks %q: %v", want, err)
		}
	}
	if err := settings.Validate("s"); err != nil {
		t.Errorf("valid settings refused: %v", err)
	}
}

func TestTimelineCursorsNeverGoBack(t *testing.T) {
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	ins := []bascule.Interaction{
		{ID: "a", At: base, Type: bascule.TypeLivechatStarted},
		{ID: "b", At: base.Add(time.Second), Type: bascule.TypeOperatorJoined, From: "operator:ann", Answer: "joined"},
		// Written on a server whose clock is an hour behind, after a failover.
		{ID: "c", At: base.Add(-time.Hour), Type: bascule.TypeOperator, From: "operator:ann", Answer: "hello"},
		{ID: "d", At: base.Add(-time.Hour), Type: bascule.TypeVisitorMessage, Question: "hi"},
		{ID: "e", At: base.Add(2 * time.Second), Type: bascule.TypeLivechatEnded, Answer: "bye"},
	}
	cs := cursors(ins)
	for i := 1; i < len(cs); i++ {
		if cs[i] <= cs[i-1] {
			t.Fatalf("cursors %v go back", cs)
		}
	}
	items := timeline(ins, "a", cursorOf(ins, "a"), func(l string) string { return "Ann" })
	if len(items) != 3 || items[0].Text != "joined" || items[1].Text != "hello" || !items[1].Human || items[1].Operator != "Ann" || !items[2].End {
		t.Fatalf("timeline: %+v", items)
	}
	if again := timeline(ins, "a", items[1].Cursor, nil); len(again) != 1 || again[0].Text != "bye" {
		t.Fatalf("timeline after the second item: %+v", again)
	}
	if none := timeline(ins, "zz", 0, nil); none != nil {
		t.Fatalf("timeline of an unknown start: %+v", none)
	}
}
