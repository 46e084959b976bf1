package chatapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/kb"
	"github.com/bascule/bascule/outbound"
)

// The page's variables (the talk's variables field) reach the web service of the answer, over
// the dialog's own; values that are not strings keep their JSON text.
func TestPageVariablesReachWebServices(t *testing.T) {
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"q": r.URL.RawQuery})
	}))
	defer svc.Close()
	proxies, err := outbound.Load(t.TempDir()+"/options.env", nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	e := newEnv(t, withEngine(&logs, engine.Options{WebServices: outbound.NewWebServices(outbound.NewClient(proxies))}))
	e.setBot(func(s *bascule.BotSettings) {
		s.WebServices = []bascule.WebService{{Name: "echo", URL: svc.URL + "/?city={{.city}}&n={{.n}}", Fallback: "<p>fallback</p>"}}
	})
	if err := (&kb.Service{Store: e.store}).PutKnowledge(context.Background(), bot, &bascule.Knowledge{Question: "Which city do you see?",
		Language: "en", Enabled: true, WebService: "echo", Answer: "<p>{{.response.q}}</p>"}); err != nil {
		t.Fatal(err)
	}
	ctx := e.talk("", "#welcome#", "en")["contextId"].(string)
	values(t, e.do("POST", "/servlet/api/chat/variable/"+bot, url.Values{"contextUuid": {ctx}, "name": {"city"}, "value": {"Nice"}, "solutionUsed": {"ASSISTANT"}}.Encode()))
	for _, tt := range []struct{ variables, want string }{
		{`{"n": 2}`, "<p>city=Nice&amp;n=2</p>"},
		{`{"city": "Saint-Malo", "n": 3.5}`, "<p>city=Saint-Malo&amp;n=3.5</p>"},
		{`{"city": null, "n": true}`, "<p>city=Nice&amp;n=true</p>"},
		{`{"n": {"deep": [1]}}`, "<p>city=Nice&amp;n=%7B%22deep%22%3A%20%5B1%5D%7D</p>"},
		{`not JSON`, "<p>fallback</p>"}, // ignored: n is missing, so the service is not called
		{`["a"]`, "<p>fallback</p>"},
	} {
		form := strings.Replace(talkForm("Which city do you see?", "en"), "variables=%7B%7D", "variables="+url.QueryEscape(tt.variables), 1)
		if got := values(t, e.do("POST", "/servlet/api/chat/talk/"+bot+"/"+ctx, form))["text"]; got != tt.want {
			t.Errorf("variables %s: answer %q, want %q", tt.variables, got, tt.want)
		}
	}
}
