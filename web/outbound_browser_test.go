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
	if eval[bool](p, root+`.querySelector('.attach').hidden`) != true {
		t.Error("the file button shows for a bot that takes no files")
	}
}

// A bot that takes files: the chatbox shows its file button, a file with a virus is refused
// with the antivirus's verdict in the dialog, and a clean file is received.
func TestChatboxSendsFiles(t *testing.T) {
	clamd := testenv.StartClamd(t)
	srv, site := startWeatherBot(t, "antivirus:\n  addr: "+clamd.Addr+"\n", "http://localhost:1/unused", true)
	dir := t.TempDir()
	eicar, notes := filepath.Join(dir, "eicar.txt"), filepath.Join(dir, "notes.txt")
	os.WriteFile(eicar, testenv.EICAR(), 0o600)
	os.WriteFile(notes, []byte("a clean file"), 0o600)

	p := newPage(t, testenv.Chromium(t))
	p.do(chromedp.Navigate(site + "/"))
	p.open()
	p.waitAnswer(1, "How can I help you?")
	p.until("the file button", root+`.querySelector('.attach').hidden == false`)
	if got := eval[string](p, root+`.querySelector('.attach').getAttribute('aria-label')`); got != "Send a file" {
		t.Errorf("the file button is labelled %q", got)
	}
	p.do(chromedp.SetUploadFiles(inBox("[type=file]"), []string{eicar}))
	p.waitAnswer(2, "Our antivirus found a virus in this file")
	p.waitRequest("/servlet/fileupload?ctx=", 200)
	p.do(chromedp.SetUploadFiles(inBox("[type=file]"), []string{notes}))
	p.waitAnswer(3, "File received: notes.txt.")
	if got := eval[string](p, `[...`+root+`.querySelectorAll('.msg.user')].pop().textContent`); !strings.Contains(got, "📎 notes.txt") {
		t.Errorf("the visitor's bubble says %q", got)
	}
	var dialog struct{ Uploads []bascule.Upload }
	admin(t, srv, "GET", "dialogs/"+eval[string](p, `JSON.parse(localStorage.getItem('bascule.`+weatherBot+`')).ctx`), nil, &dialog)
	if len(dialog.Uploads) != 1 || dialog.Uploads[0].Name != "notes.txt" {
		t.Fatalf("stored files: %+v", dialog.Uploads)
	}
}
