package pair_test

import (
	"context"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/testenv"
)

// A knowledge edit on the main reaches the backup (the figure is printed: the goal is 2 s),
// and the backup refuses knowledge writes with an error that names the main.
func TestKnowledgeFlowsFromMainAndOnlyFromMain(t *testing.T) {
	t.Parallel() // waits mostly on its own pair of processes
	p := startPair(t, pairOptions{})
	eventually(t, 30*time.Second, "the backup received the sample bot", func() bool {
		code, _ := adminCall(t, p.backup, "GET", "bots/"+bot, "")
		return code == 200
	})
	start := time.Now()
	code, body := adminCall(t, p.main, "POST", "bots/"+bot+"/knowledge",
		`{"question":"Do you sell gift wrapping?","answer":"<p>Yes, for 3 euros.</p>","language":"en"}`)
	if code != 201 {
		t.Fatalf("create on the main: %d %s", code, body)
	}
	var took time.Duration
	eventually(t, 30*time.Second, "the edit reached the backup", func() bool {
		v := talk(t, p.backup, "", "Do you sell gift wrapping?", "")
		took = time.Since(start)
		return strings.Contains(v["text"], "3 euros")
	})
	t.Logf("knowledge edit on the main answered by the backup after %v (goal: 2s)", took.Round(time.Millisecond))
	code, body = adminCall(t, p.backup, "POST", "bots/"+bot+"/knowledge", `{"question":"x?","answer":"<p>x</p>","language":"en"}`)
	if code != http.StatusConflict || !strings.Contains(body, "backup") || !strings.Contains(body, "https://") {
		t.Fatalf("knowledge write on the backup: %d %s", code, body)
	}
	// A deletion on the main reaches the backup too.
	code, body = adminCall(t, p.main, "DELETE", "bots/"+bot+"/knowledge/2001", "")
	if code != 204 {
		t.Fatalf("delete: %d %s", code, body)
	}
	eventually(t, 30*time.Second, "the deletion reached the backup", func() bool {
		code, _ := adminCall(t, p.backup, "GET", "bots/"+bot+"/knowledge/2001", "")
		return code == 404
	})
}

// A dialog started on the main continues on the backup after the main stops: same context,
// available, history whole. Back on the main, the question of a dialog that now lives on the
// backup is answered by the backup (stickiness held by the servers too).
func TestContinuityAndStickiness(t *testing.T) {
	t.Parallel() // waits mostly on its own pair of processes
	p := startPair(t, pairOptions{})
	v := talk(t, p.main, "", "Where is my order?", "")
	ctx := v["contextId"]
	p.settle(30 * time.Second)
	p.main.Stop()
	avail := form(t, p.backup, "/servlet/api/chat/availablecontext/"+bot+"/"+ctx, nil)
	if avail["isContextStillAvailable"] != "true" {
		t.Fatalf("the backup does not know the replicated context: %v", avail)
	}
	v2 := talk(t, p.backup, ctx, "How can I return an item?", "")
	if v2["contextId"] != ctx {
		t.Fatalf("the backup did not continue the dialog: %s then %s", ctx, v2["contextId"])
	}
	h := historyQuestions(t, p.backup, ctx)
	if len(h) != 2 || h[0] != "Where is my order?" || h[1] != "How can I return an item?" {
		t.Fatalf("history on the backup is not whole: %q", h)
	}
	p.main.Start()
	p.settle(30 * time.Second)
	// The main is back; the visitor's chatbox sends the next question there anyway.
	v3 := talk(t, p.main, ctx, "How long does delivery take?", "")
	if v3["contextId"] != ctx {
		t.Fatalf("the main changed the context: %v", v3["contextId"])
	}
	p.settle(30 * time.Second)
	p.main.Stop()
	p.backup.Stop()
	ins, err := openStopped(t, p.main).Interactions(context.Background(), ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	backupID := openStopped(t, p.backup).ServerID()
	if len(ins) != 3 || ins[1].Server != backupID || ins[2].Server != backupID {
		t.Fatalf("the dialog that moved to the backup must be answered there until it ends: %+v", ins)
	}
}

// A context the backup does not know (the main had not replicated it yet) starts a new dialog
// there, linked to it: history shows one conversation and analytics count one.
func TestUnknownContextIsLinked(t *testing.T) {
	// The backup pulls dialogs only hourly here, so the main's dialog never reaches it in time.
	p := startPair(t, pairOptions{backupPeer: "  every:\n    dialogs: 1h\n"})
	eventually(t, 30*time.Second, "the backup received the sample bot", func() bool {
		code, _ := adminCall(t, p.backup, "GET", "bots/"+bot, "")
		return code == 200
	})
	ctx := talk(t, p.main, "", "Where is my order?", "")["contextId"]
	p.main.Stop()
	v := talk(t, p.backup, ctx, "How can I return an item?", "")
	if v["contextId"] == ctx || !bascule.IsID(v["contextId"]) {
		t.Fatalf("an unknown context must get a new one: %v", v["contextId"])
	}
	p.backup.Stop()
	st := openStopped(t, p.backup)
	d, err := st.Dialog(context.Background(), v["contextId"])
	if err != nil || d.Continues != ctx || d.ContinuesVia != bascule.LinkContext {
		t.Fatalf("the new dialog is not linked to the one it continues: %+v %v", d, err)
	}
}

// GDPR erasure on either server reaches the other.
func TestErasureReachesThePeer(t *testing.T) {
	t.Parallel() // waits mostly on its own pair of processes
	p := startPair(t, pairOptions{})
	for _, c := range []struct {
		where, other string
	}{{"main", "backup"}, {"backup", "main"}} {
		on, other := p.main, p.backup
		if c.where == "backup" {
			on, other = p.backup, p.main
		}
		client := "gdpr-" + c.where
		f := url.Values{"userInput": {"Where is my order?"}, "language": {"en"}, "clientId": {client}}
		ctx := form(t, on, "/servlet/api/chat/talk/"+bot, f)["contextId"]
		p.settle(30 * time.Second)
		if got := form(t, other, "/servlet/api/chat/gdpr/"+bot, url.Values{"clientId": {client}, "object": {"Get"}}); !strings.Contains(got["data"], ctx) {
			t.Fatalf("%s does not hold the client's dialog before erasure: %v", c.other, got)
		}
		form(t, on, "/servlet/api/chat/gdpr/"+bot, url.Values{"clientId": {client}, "object": {"Delete"}})
		eventually(t, 30*time.Second, "the erasure on the "+c.where+" reached the "+c.other, func() bool {
			got := form(t, other, "/servlet/api/chat/gdpr/"+bot, url.Values{"clientId": {client}, "object": {"Get"}})
			return got["data"] == "[]"
		})
	}
}

// The peer down for a while, then back: nothing is lost, replication resumes from the cursor.
func TestPeerDownThenBack(t *testing.T) {
	t.Parallel() // waits mostly on its own pair of processes
	p := startPair(t, pairOptions{})
	p.settle(30 * time.Second)
	p.backup.Stop()
	var ctxs []string
	for range 20 {
		ctxs = append(ctxs, talk(t, p.main, "", "Where is my order?", "")["contextId"])
	}
	st := status(t, p.main)
	if peer := replication(st)["peer"].(map[string]any); peer["reachable"] != false {
		// The main notices within a few seconds; the status says so.
		eventually(t, 20*time.Second, "the main reports its peer unreachable", func() bool {
			return replication(status(t, p.main))["peer"].(map[string]any)["reachable"] == false
		})
	}
	p.backup.Start()
	p.settle(60 * time.Second)
	for _, ctx := range ctxs {
		if v := form(t, p.backup, "/servlet/api/chat/availablecontext/"+bot+"/"+ctx, nil); v["isContextStillAvailable"] != "true" {
			t.Fatalf("dialog %s missing on the backup after it came back", ctx)
		}
	}
}

// Promotion: the main is lost, the backup is promoted and takes knowledge writes; the old main
// comes back, learns it was replaced, refuses writes and turns visitors away.
func TestPromotion(t *testing.T) {
	t.Parallel() // waits mostly on its own pair of processes
	p := startPair(t, pairOptions{})
	p.settle(30 * time.Second)
	p.main.Kill()
	out, err := exec.Command(testenv.BasculeBinary(t), "promote", "-config", p.backup.Config, "-data", p.backup.DataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "is now the main") {
		t.Fatalf("promote: %v %s", err, out)
	}
	var last string
	eventually(t, 10*time.Second, "the promoted backup takes knowledge writes", func() bool {
		code, body := adminCall(t, p.backup, "POST", "bots/"+bot+"/knowledge", `{"question":"Promoted?","answer":"<p>yes</p>","language":"en"}`)
		if code != 201 && body != last {
			t.Logf("backup answered %d %s", code, body)
			last = body
		}
		return code == 201
	})
	p.main.Start()
	eventually(t, 30*time.Second, "the old main learns it was replaced", func() bool {
		r := replication(status(t, p.main))
		return r["replacedBy"] != nil && r["role"] == "backup"
	})
	if st := status(t, p.main); st["httpStatus"] != http.StatusServiceUnavailable {
		t.Fatalf("a replaced main must turn chatboxes away (503), got %v", st["httpStatus"])
	}
	code, body := adminCall(t, p.main, "POST", "bots/"+bot+"/knowledge", `{"question":"Old main?","answer":"<p>no</p>","language":"en"}`)
	if code != http.StatusConflict || !strings.Contains(body, "replaced") {
		t.Fatalf("the replaced main accepted a write: %d %s", code, body)
	}
	// It stays replaced across a restart.
	p.main.Stop()
	p.main.Start()
	if r := replication(status(t, p.main)); r["replacedBy"] == nil {
		t.Fatalf("the old main forgot it was replaced: %v", r)
	}
}

// Only HTTPS with the pair's certificates reaches the peer API.
func TestPeerAPIRefusesStrangers(t *testing.T) {
	t.Parallel() // waits mostly on its own pair of processes
	p := startPair(t, pairOptions{})
	peerURL := peerListen(t, p.main)
	// Plain HTTP on the TLS listener.
	if resp, err := http.Get("http://" + peerURL + "/peer/v1/state"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP reached the peer API")
		}
	}
	// TLS without a client certificate.
	if resp, err := testenv.InsecureClient(5 * time.Second).Get("https://" + peerURL + "/peer/v1/state"); err == nil {
		resp.Body.Close()
		t.Fatalf("TLS without a client certificate reached the peer API: %d", resp.StatusCode)
	}
}

// peerListen reads a server's peer listener from its configuration.
func peerListen(t *testing.T, b *testenv.Bascule) string {
	t.Helper()
	cfg := readConfig(t, b)
	i := strings.Index(cfg, "  listen: ")
	return strings.TrimSpace(strings.SplitN(cfg[i+len("  listen: "):], "\n", 2)[0])
}
