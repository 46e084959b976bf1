package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/web"
)

// weatherBot is the test bot of these tests: one knowledge item answered by a web service.
const weatherBot = "3eb0a000-0000-4000-8000-00000000000a"

// startWeatherBot starts a server with extra configuration and the weather bot, whose
// knowledge item calls the service at url, and a site whose chatbox talks to the bot.
func startWeatherBot(t *testing.T, extra, url string, uploads bool) (*testenv.Bascule, string) {
	t.Helper()
	srv := testenv.StartBascule(t, testenv.BasculeOptions{Name: "main", Config: serverConfig + extra})
	admin(t, srv, "POST", "bots", bascule.Bot{ID: weatherBot, Name: "Weather", Languages: []string{"en"},
		Settings: bascule.BotSettings{Uploads: uploads, WebServices: []bascule.WebService{
			{Name: "forecast", URL: url, Fallback: "<p>No forecast at the moment.</p>"}}}}, nil)
	admin(t, srv, "POST", "bots/"+weatherBot+"/knowledge", bascule.Knowledge{Question: "What is the weather forecast?", Language: "en",
		Enabled: true, WebService: "forecast", Answer: `<p>{{.response.temperature}} °C and <b>{{.response.sky}}</b> in {{.response.city}}.</p>`}, nil)
	site := httptest.NewServer(web.New(web.Options{Servers: []string{srv.URL}, Bot: weatherBot}))
	t.Cleanup(site.Close)
	return srv, site.URL
}

// A visitor asks the chatbox a question whose answer comes from a web service on 127.0.0.1,
// which the server reaches through a real forward proxy with Basic authentication: the
// rendered answer shows in the chatbox.
func TestChatboxWebServiceAnswerThroughTheProxy(t *testing.T) {
	proxy := testenv.StartTinyproxy(t, testenv.TinyproxyOptions{User: "alice", Password: "s3cret"})
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Via"), "tinyproxy") {
			http.Error(w, "this service is reached through the proxy only", http.StatusForbidden)
			return
		}
		fmt.Fprint(w, `{"city": "Paris", "temperature": 18, "sky": "<sunny>"}`)
	}))
	defer svc.Close()
	// 127.0.0.1 is not in http.nonProxyHosts: the call goes through the proxy.
	options := filepath.Join(t.TempDir(), "options.env")
	if err := os.WriteFile(options, []byte(fmt.Sprintf("http.proxyHost=127.0.0.1\nhttp.proxyPort=%d\nhttp.proxyUser=alice\n"+
		"http.proxyPassword=s3cret\nhttp.nonProxyHosts=localhost\n", proxy.Port)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, site := startWeatherBot(t, "outbound:\n  options: "+options+"\n", svc.URL+"/forecast", false)

	p := newPage(t, testenv.Chromium(t))
	p.do(chromedp.Navigate(site + "/"))
	p.open()
	p.waitAnswer(1, "How can I help you?")
	p.ask("What is the weather forecast?", "18 °C and <sunny> in Paris.")
	if got := eval[string](p, `[...`+root+`.querySelectorAll('.msg.bot')].pop().querySelector('b').textContent`); got != "<sunny>" {
		t.Errorf("the service's value shows as %q, want the text <sunny> in bold", got)
	}
	var through bool
	for _, r := range proxy.Requests(t) {
		through = through || (r.Method == "GET" && r.Target == svc.URL+"/forecast" && r.Forwarded)
	}
	if !through {
		t.Fatalf("tinyproxy did not forward the call; its log:\n%s", proxy.Log(t))
	}
}
