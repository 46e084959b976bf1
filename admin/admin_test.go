package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/admin"
	"github.com/bascule/bascule/kb"
	"github.com/bascule/bascule/livechat"
	"github.com/bascule/bascule/sqlite"
	"github.com/bascule/bascule/storetest"
)

const token = "0123456789abcdef0123456789abcdef"

type env struct {
	t     *testing.T
	srv   *httptest.Server
	store bascule.Store
}

func newEnv(t *testing.T, writable func() error) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	api := admin.New(admin.Options{KB: &kb.Service{Store: st, Writable: writable}, Tokens: map[string]string{token: "ops"},
		Accounts: &livechat.Accounts{Store: st, Writable: writable}})
	mux := http.NewServeMux()
	mux.Handle(admin.Prefix, api)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, store: st}
}

func (e *env) call(method, path, body string, status int) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+admin.Prefix+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, status, b)
	}
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, nil)
	for _, h := range []string{"", "Bearer wrong-token-wrong-token-wrong-tok", "Basic " + token, "Bearer "} {
		req, _ := http.NewRequest("GET", e.srv.URL+admin.Prefix+"bots", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: status %d", h, resp.StatusCode)
		}
	}
	e.call("GET", "bots", "", 200)
}

func TestKnowledgeLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	kbJSON, _ := json.Marshal(storetest.SmallKnowledgeBase())
	rep := e.call("POST", "bots/"+storetest.BotID+"/import", string(kbJSON), 200)
	if rep["knowledge"] != float64(3) {
		t.Fatalf("import report: %v", rep)
	}
	created := e.call("POST", "bots/"+storetest.BotID+"/knowledge",
		`{"question":"Can I pay in three instalments?","answer":"<p>Yes <script>x()</script></p>","language":"en"}`, 201)
	id := int64(created["id"].(float64))
	if created["answer"] != "<p>Yes </p>" || created["enabled"] != true {
		t.Fatalf("created knowledge was not sanitised or enabled: %v", created)
	}
	path := "bots/" + storetest.BotID + "/knowledge/" + jsonInt(id)
	got := e.call("GET", path, "", 200)
	if got["question"] != "Can I pay in three instalments?" {
		t.Fatalf("get: %v", got)
	}
	upd := e.call("PUT", path, `{"question":"Can I pay in 3 instalments?","answer":"<p>Yes</p>","language":"en","enabled":false}`, 200)
	if upd["version"] != float64(2) || upd["enabled"] != false {
		t.Fatalf("update: %v", upd)
	}
	// Errors name the field.
	bad := e.call("PUT", path, `{"question":"","answer":"<p>x</p>","language":"de"}`, 400)
	if fields := errorFields(bad); !strings.Contains(fields, "knowledge.question") || !strings.Contains(fields, "knowledge.language") {
		t.Fatalf("field errors: %v", bad)
	}
	unknown := e.call("POST", "bots/"+storetest.BotID+"/knowledge", `{"question":"q","answr":"a","language":"en"}`, 400)
	if unknown["error"].(map[string]any)["field"] != "answr" {
		t.Fatalf("unknown field: %v", unknown)
	}
	e.call("PUT", "bots/"+storetest.BotID+"/groups/parcel", `{"terms":["parcel","package","box"]}`, 200)
	e.call("PUT", "bots/"+storetest.BotID+"/sentences/welcome/en", `{"text":"<p>Hi!</p>"}`, 200)
	if g := e.call("GET", "bots/"+storetest.BotID+"/groups", "", 200); len(g["groups"].([]any)) != 1 {
		t.Fatalf("groups: %v", g)
	}
	// A group still referred to cannot be deleted.
	e.call("DELETE", "bots/"+storetest.BotID+"/groups/parcel", "", 409)
	e.call("DELETE", path, "", 204)
	e.call("GET", path, "", 404)
	// Export round trip, in both formats.
	req, _ := http.NewRequest("GET", e.srv.URL+admin.Prefix+"bots/"+storetest.BotID+"/export?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	csv, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(csv), "id,language,question,answer") || !strings.Contains(string(csv), "Where is my parcel?") {
		t.Fatalf("CSV export: %s", csv)
	}
	e.call("POST", "bots/"+storetest.BotID+"/import?format=csv", string(csv), 200)
}

func TestImportRefusedWritesNothing(t *testing.T) {
	e := newEnv(t, nil)
	m := storetest.SmallKnowledgeBase()
	m.Knowledge[1].Answer = ""
	b, _ := json.Marshal(m)
	out := e.call("POST", "bots/"+storetest.BotID+"/import", string(b), 400)
	if !strings.Contains(errorFields(out), "knowledge[1].answer") {
		t.Fatalf("error: %v", out)
	}
	if bots := e.call("GET", "bots", "", 200); len(bots["bots"].([]any)) != 0 {
		t.Fatal("a refused import wrote something")
	}
}

func TestReadOnlyServerRefusesWrites(t *testing.T) {
	e := newEnv(t, func() error {
		return bascule.Errorf(bascule.CodeReadOnly, "this server is a backup: edit knowledge on the main, https://app1.example.com")
	})
	out := e.call("POST", "bots", `{"id":"`+storetest.BotID+`","name":"x","languages":["en"]}`, 409)
	if !strings.Contains(out["error"].(map[string]any)["message"].(string), "app1.example.com") {
		t.Fatalf("refusal does not name the main: %v", out)
	}
	e.call("GET", "bots", "", 200)
}

func TestDialogsAndAnalytics(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if err := e.store.ReplaceKnowledgeBase(ctx, storetest.SmallKnowledgeBase()); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	d := storetest.NewDialog("client", now)
	if err := e.store.RecordTalk(ctx, d, storetest.Talk(d, "hello", now)); err != nil {
		t.Fatal(err)
	}
	list := e.call("GET", "bots/"+storetest.BotID+"/dialogs?from="+now.Add(-time.Hour).Format(time.RFC3339), "", 200)
	if ds := list["dialogs"].([]any); len(ds) != 1 {
		t.Fatalf("dialogs: %v", list)
	}
	one := e.call("GET", "dialogs/"+d.ID, "", 200)
	if ins := one["interactions"].([]any); len(ins) != 1 {
		t.Fatalf("dialog: %v", one)
	}
	e.call("GET", "bots/"+storetest.BotID+"/dialogs?from=yesterday", "", 400)
	if a := e.call("GET", "bots/"+storetest.BotID+"/analytics", "", 200); a["dialogs"] != float64(1) {
		t.Fatalf("analytics: %v", a)
	}
}

// errorFields lists the fields an error answer names.
func errorFields(body map[string]any) string {
	fields := []string{body["error"].(map[string]any)["field"].(string)}
	if list, ok := body["errors"].([]any); ok {
		for _, e := range list {
			fields = append(fields, e.(map[string]any)["field"].(string))
		}
	}
	return strings.Join(fields, " ")
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }
