package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/loadgen"
	"github.com/bascule/bascule/internal/testenv"
)

// adminToken opens the admin API of the servers these tests start (testConfig).
const adminToken = "cmd-tests-0123456789abcdef0123456789abcdef"

// testConfig is a standalone server with the sample bot and the admin API, without the rate
// limit per client (tests poll); extra is more YAML.
func testConfig(extra string) string {
	return "admin:\n  tokens:\n    - name: test\n      token: " + adminToken + "\nlimits:\n  per_client:\n    rate: 0\n" + extra
}

// adminCall calls a server's admin API and decodes its JSON answer into out (when not nil).
func adminCall(t *testing.T, srv *testenv.Bascule, method, path string, in, out any) {
	t.Helper()
	srv.Admin(t, adminToken, method, path, in, out)
}

// configureSampleBot changes the sample bot's settings and adds knowledge to it.
func configureSampleBot(t *testing.T, srv *testenv.Bascule, settings func(*bascule.BotSettings), items ...bascule.Knowledge) {
	t.Helper()
	var b bascule.Bot
	adminCall(t, srv, "GET", "bots/"+bascule.SampleBotID, nil, &b)
	settings(&b.Settings)
	adminCall(t, srv, "PUT", "bots/"+bascule.SampleBotID, b, nil)
	for _, k := range items {
		adminCall(t, srv, "POST", "bots/"+bascule.SampleBotID+"/knowledge", k, nil)
	}
}

// chatPost sends a form to the chat API as the dydu chatbox does and returns the decoded values.
func chatPost(t *testing.T, srv *testenv.Bascule, path string, form url.Values) map[string]string {
	t.Helper()
	resp, err := http.Post(srv.URL+"/servlet/api/"+path, "application/x-www-form-urlencoded; charset=UTF-8", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
	}
	v, err := loadgen.DecodeValues(body)
	if err != nil {
		t.Fatalf("%s: %v %s", path, err, body)
	}
	return v
}

// visitor is a dydu chatbox's dialog with the sample bot.
type visitor struct {
	t   *testing.T
	srv *testenv.Bascule
	ctx string
}

// ask sends a question with the page's variables (a JSON object, "" for {}) and returns the
// answer's text.
func (v *visitor) ask(question, variables string) string {
	v.t.Helper()
	if variables == "" {
		variables = "{}"
	}
	path := "chat/talk/" + bascule.SampleBotID
	if v.ctx != "" {
		path += "/" + v.ctx
	}
	vals := chatPost(v.t, v.srv, path, url.Values{"clientId": {"c05fa63649d04a4"}, "language": {"en"}, "space": {"Defaut"},
		"userInput": {question}, "solutionUsed": {"ASSISTANT"}, "variables": {variables}, "mode": {"U3luY2hyb24="}})
	v.ctx = vals["contextId"]
	return vals["text"]
}

// logLine waits for the server to log a line containing every part, and returns it: the
// server's output reaches the test through a pipe, a moment after the server wrote it.
func logLine(t *testing.T, srv *testenv.Bascule, parts ...string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
	lines:
		for line := range strings.Lines(srv.Logs()) {
			for _, p := range parts {
				if !strings.Contains(line, p) {
					continue lines
				}
			}
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not log a line with %q:\n%s", parts, srv.Logs())
		}
	}
}
