package kb

import (
	"context"
	"strings"
	"testing"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/storetest"
)

// TestEscalationFailureSanitised: an escalation's failure answer is HTML shown to visitors:
// it is cleaned like an answer, on import and on a single write.
func TestEscalationFailureSanitised(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	kb := storetest.SmallKnowledgeBase()
	kb.Knowledge[0].Kind, kb.Knowledge[0].Failure = bascule.KindEscalation, `<p>Closed<script>x()</script></p>`
	rep, err := svc.Import(ctx, kb)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sanitized) != 1 || rep.Sanitized[0] != "knowledge[0].failure" {
		t.Fatalf("report: %+v", rep)
	}
	k := kb.Knowledge[1]
	k.Kind, k.Failure = bascule.KindEscalation, `<p onclick="steal()">Fermé</p>`
	if err := svc.PutKnowledge(ctx, storetest.BotID, &k); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{kb.Knowledge[0].ID, k.ID} {
		got, err := svc.Store.Knowledge(ctx, storetest.BotID, id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(got.Failure, "script") || strings.Contains(got.Failure, "onclick") || got.Failure == "" {
			t.Fatalf("stored failure answer %q", got.Failure)
		}
	}
}
