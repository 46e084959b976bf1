package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/web"
)

// The browser tests drive the real chatbox in Debian's Chromium against real bascule
// processes. They wait for events and page states, never for fixed times, and print what a
// release note needs: the failover timings (see report in main_test.go).

// wait bounds every wait of a browser test: generous for a loaded 2-core machine, short
// enough that a broken chatbox fails the test rather than the whole run.
const wait = 20 * time.Second

// serverConfig is the configuration of the test servers: standalone with the sample bot (the
// default), quiet logs, and the admin API, through which tests look at what a server stored.
const serverConfig = "log:\n  level: warn\nadmin:\n  tokens:\n    - name: test\n      token: " + adminToken + "\n"

const adminToken = "browser-tests-0123456789abcdef0123456789"

// admin calls a server's admin API and decodes its JSON answer into out (when not nil).
func admin(t *testing.T, srv *testenv.Bascule, method, path string, in, out any) {
	t.Helper()
	srv.Admin(t, adminToken, method, path, in, out)
}

// root is the chatbox's shadow root on the page.
const root = `document.querySelector('.bascule-chatbox')?.shadowRoot`

// inBox selects an element of the chatbox by a CSS selector.
func inBox(css string) chromedp.JSPath {
	return chromedp.JSPath(root + `?.querySelector(` + jsString(css) + `)`)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// request is one request of the page as the network events tell it. Times are the browser's
// monotonic clock, in seconds.
type request struct {
	URL, Method string
	Form        url.Values // the body of a form POST
	Start, End  float64
	Answered    float64 // when the status line came
	Status      int64
	Failed      string // the network error, when it failed
	Done        bool
}

// page is one tab of a browser, with the record of its requests.
type page struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	byID    map[network.RequestID]*request
	order   []*request
	changed chan struct{} // closed (and replaced) at each network event
}

func newPage(t *testing.T, browser context.Context) *page {
	t.Helper()
	p := &page{t: t, ctx: browser, byID: map[network.RequestID]*request{}, changed: make(chan struct{})}
	err := chromedp.Listen(browser, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		close(p.changed)
		p.changed = make(chan struct{})
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			r := &request{URL: ev.Request.URL, Method: ev.Request.Method, Start: float64(ev.Timestamp)}
			var body []byte
			for _, e := range ev.Request.PostDataEntries {
				body = append(body, e.Bytes...)
			}
			r.Form, _ = url.ParseQuery(string(body))
			p.byID[ev.RequestID] = r
			p.order = append(p.order, r)
		case *network.EventResponseReceived:
			if r := p.byID[ev.RequestID]; r != nil {
				r.Status, r.Answered = ev.Response.Status, float64(ev.Timestamp)
			}
		case *network.EventLoadingFinished:
			if r := p.byID[ev.RequestID]; r != nil {
				r.End, r.Done = float64(ev.Timestamp), true
			}
		case *network.EventLoadingFailed:
			if r := p.byID[ev.RequestID]; r != nil {
				r.End, r.Done, r.Failed = float64(ev.Timestamp), true, ev.ErrorText
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// requests returns a copy of the requests so far whose URL contains all of parts.
func (p *page) requests(parts ...string) []request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []request
next:
	for _, r := range p.order {
		for _, s := range parts {
			if !strings.Contains(r.URL, s) {
				continue next
			}
		}
		out = append(out, *r)
	}
	return out
}

// waitNet waits until cond holds on the requests so far, checking at each network event.
func (p *page) waitNet(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.After(wait)
	for {
		p.mu.Lock()
		changed := p.changed
		p.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			p.t.Fatalf("waiting for %s\n%s", what, p.dump())
		}
	}
}

// waitRequest waits until the last request whose URL contains part is done with status.
func (p *page) waitRequest(part string, status int64) {
	p.t.Helper()
	p.waitNet(fmt.Sprintf("a %s request answered %d", part, status), func() bool {
		got := p.requests(part)
		return len(got) > 0 && got[len(got)-1].Done && got[len(got)-1].Status == status
	})
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, wait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("browser: %v\n%s", err, p.dump())
	}
}

// eval evaluates a JavaScript expression and decodes its value.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, wait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// until waits for a JavaScript condition (an expression) to hold on the page.
func (p *page) until(what, cond string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, wait+time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(wait))); err != nil {
		p.t.Fatalf("waiting for %s: %v\n%s", what, err, p.dump())
	}
}

// dump describes the chatbox and the requests, for failure messages.
func (p *page) dump() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(`+root+`?.querySelector('.panel')?.innerText) || '(no panel)'`))
	state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(localStorage)`))
	var b strings.Builder
	fmt.Fprintf(&b, "chatbox:\n%s\nstorage: %s\nrequests:\n", text, state)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.order {
		fmt.Fprintf(&b, "  %s %s -> %d %s\n", r.Method, r.URL, r.Status, r.Failed)
	}
	return b.String()
}

// The chatbox as the visitor sees it.

func (p *page) open() {
	p.t.Helper()
	p.do(chromedp.Click(inBox(".teaser")))
	p.until("the chatbox to open", root+`?.querySelector('.panel:not([hidden])') != null`)
}

// answers counts the bot's bubbles.
func (p *page) answers() int {
	p.t.Helper()
	return eval[int](p, root+`.querySelectorAll('.msg.bot').length`)
}

// waitAnswer waits until there are n bot bubbles, the last one containing want.
func (p *page) waitAnswer(n int, want string) {
	p.t.Helper()
	p.until(fmt.Sprintf("answer %d (%q)", n, want), fmt.Sprintf(`(() => { const b = %s?.querySelectorAll('.msg.bot') || []; return b.length >= %d && b[b.length-1].textContent.includes(%s) })()`, root, n, jsString(want)))
}

// typeQuestion types a question without sending it: the chatbox sees the visitor typing.
func (p *page) typeQuestion(q string) {
	p.t.Helper()
	p.do(chromedp.SendKeys(inBox("textarea"), q))
}

// send presses Enter in the question field. SendKeys would add the char event that a real
// browser does not send when the page cancels the keydown (the chatbox does: Enter sends), so
// the key goes as a bare keydown and keyup, as from a keyboard.
func (p *page) send() {
	p.t.Helper()
	p.enter(inBox("textarea"))
	if v := eval[string](p, root+`.querySelector('textarea').value`); v != "" {
		p.t.Fatalf("the question field holds %q after Enter", v)
	}
}

// enter presses Enter in a field, as from a keyboard.
func (p *page) enter(field chromedp.JSPath) {
	p.t.Helper()
	p.do(chromedp.Focus(field), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13,
			})
			if err != nil {
				return err
			}
		}
		return nil
	}))
}

// ask types a question, sends it and waits for its answer.
func (p *page) ask(q, want string) {
	p.t.Helper()
	n := p.answers()
	p.typeQuestion(q)
	p.send()
	p.waitAnswer(n+1, want)
}

// stored returns the chatbox's state in localStorage.
func (p *page) stored() map[string]any {
	p.t.Helper()
	var st map[string]any
	raw := eval[string](p, `localStorage.getItem('bascule.`+bascule.SampleBotID+`') || '{}'`)
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		p.t.Fatalf("chatbox state: %v: %s", err, raw)
	}
	return st
}

// probe records, in the page, when the visitor presses Enter and when each answer shows, so
// that timings are what the visitor lives, not what the test's polling sees.
func (p *page) probe() {
	p.t.Helper()
	eval[chromedp.Void](p, `(() => {
		const probe = window.__probe = {shown: []}
		const notice = `+root+`.querySelector('.notice')
		addEventListener('keydown', (e) => { if (e.key == 'Enter') { probe.enter = performance.now(); probe.noticed = false } }, true)
		new MutationObserver(() => { if (notice.textContent) probe.noticed = true }).observe(notice, {childList: true, characterData: true, subtree: true})
		new MutationObserver((ms) => { for (const m of ms) for (const n of m.addedNodes) if (n.classList && n.classList.contains('bot')) probe.shown.push(performance.now()) })
			.observe(`+root+`.querySelector('.log'), {childList: true, subtree: true})
	})()`)
}

// timing is how long a question took when its first server failed.
type timing struct {
	shown   time.Duration // from Enter to the answer on screen (the visitor's wait)
	failed  time.Duration // from the question leaving to its failure on the first server
	settled time.Duration // from that failure to the answer received from the next server
	direct  bool          // the question went to the backup at once (the check while typing saw the main down)
}

func (tm timing) String() string {
	if tm.direct {
		return fmt.Sprintf("Enter -> answer shown %v (sent straight to the backup)", tm.shown)
	}
	return fmt.Sprintf("Enter -> answer shown %v (the main failed after %v; the backup answered %v after the failure)", tm.shown, tm.failed, tm.settled)
}

// sendTimed sends the typed question, waits for its answer and returns the visitor's wait
// (from Enter to the answer on screen) and the talk requests the question took.
func (p *page) sendTimed(want string) (time.Duration, []request) {
	p.t.Helper()
	n := p.answers()
	before := len(p.requests("/chat/talk/"))
	p.send()
	p.waitAnswer(n+1, want)
	shown := eval[float64](p, `window.__probe.shown[window.__probe.shown.length-1] - window.__probe.enter`)
	if eval[bool](p, `window.__probe.noticed`) {
		p.t.Errorf("the visitor was told that no server answers, while one did")
	}
	return ms(shown), p.requests("/chat/talk/")[before:]
}

// sendFailover sends the typed question and checks that the backup answers it, after the main
// failed it or without asking the main at all.
func (p *page) sendFailover(main, backup, want string) timing {
	p.t.Helper()
	shown, talks := p.sendTimed(want)
	last := talks[len(talks)-1]
	if !strings.HasPrefix(last.URL, backup+"/") || last.Status != 200 {
		p.t.Fatalf("the answer did not come from the backup %s: %+v\n%s", backup, last, p.dump())
	}
	tm := timing{shown: shown, direct: len(talks) == 1}
	if !tm.direct {
		first := talks[0]
		if !strings.HasPrefix(first.URL, main+"/") || (first.Failed == "" && first.Status < 400) {
			p.t.Fatalf("the question went to the backup after %+v, not after a failure of the main %s\n%s", first, main, p.dump())
		}
		failedAt := first.End
		if first.Status >= 400 {
			failedAt = first.Answered
		}
		tm.failed, tm.settled = secs(failedAt-first.Start), secs(last.End-failedAt)
		// Sent again, it is the same interaction: one in the dialog, not two.
		if id := first.Form.Get("interactionId"); !bascule.IsID(id) || last.Form.Get("interactionId") != id {
			p.t.Fatalf("interaction ids %q then %q; want one id of 32 hex digits", id, last.Form.Get("interactionId"))
		}
	}
	if got := p.stored()["server"]; got != backup {
		p.t.Fatalf("the dialog is on %v after the failover, want the backup %s", got, backup)
	}
	return tm
}

func ms(v float64) time.Duration {
	return time.Duration(v * float64(time.Millisecond)).Round(time.Millisecond)
}
func secs(v float64) time.Duration {
	return time.Duration(v * float64(time.Second)).Round(time.Millisecond)
}

// lastTalk returns the last talk request of the page.
func (p *page) lastTalk() request {
	p.t.Helper()
	talks := p.requests("/chat/talk/")
	if len(talks) == 0 {
		p.t.Fatalf("no talk request\n%s", p.dump())
	}
	return talks[len(talks)-1]
}

// onServer checks that the dialog is on server and that its last talk went there.
func (p *page) onServer(server, why string) {
	p.t.Helper()
	if last, got := p.lastTalk(), p.stored()["server"]; got != server || !strings.HasPrefix(last.URL, server+"/") || last.Status != 200 {
		p.t.Fatalf("%s: the dialog is on %v, its last talk %s -> %d; want %s\n%s", why, got, last.URL, last.Status, server, p.dump())
	}
}

// newDialog starts a new dialog with the chatbox's button and waits for its welcome.
func (p *page) newDialog() {
	p.t.Helper()
	p.do(chromedp.Click(inBox(".fresh")))
	p.waitAnswer(1, "Maison Bascule")
}

// typeChecked types a question and waits for the check that the chatbox makes of server when
// the visitor starts typing, and for its verdict (up or not).
func (p *page) typeChecked(q, server string, up bool) {
	p.t.Helper()
	status := server + "/servlet/api/serverstatus"
	before := len(p.requests(status))
	p.typeQuestion(q)
	p.waitNet("the check of "+server, func() bool {
		got := p.requests(status)
		return len(got) > before && got[len(got)-1].Done && (got[len(got)-1].Status == 200) == up
	})
}

// startSite serves a customer's website, here the demo shop, whose chatbox uses servers.
func startSite(t *testing.T, servers ...string) string {
	t.Helper()
	site := httptest.NewServer(web.New(web.Options{Servers: servers}))
	t.Cleanup(site.Close)
	return site.URL
}

func startPair(t *testing.T) (main, backup *testenv.Bascule) {
	t.Helper()
	main = testenv.StartBascule(t, testenv.BasculeOptions{Name: "main", Config: serverConfig})
	backup = testenv.StartBascule(t, testenv.BasculeOptions{Name: "backup", Config: serverConfig})
	return main, backup
}

const (
	question = "Where is my order?"
	answer   = "follow your order"
	welcome  = "Maison Bascule"
)

// TestChatboxDemo: the demo page a server serves, with its chatbox in teaser mode, then in
// popin mode and in French.
func TestChatboxDemo(t *testing.T) {
	browser := testenv.Chromium(t)
	srv := testenv.StartBascule(t, testenv.BasculeOptions{Name: "main", Config: serverConfig})
	p := newPage(t, browser)
	p.do(chromedp.Navigate(srv.URL + "/"))
	p.do(chromedp.WaitVisible(inBox(".teaser")))
	if got := p.requests("/chatbox/chatbox."); len(got) != 0 {
		t.Fatalf("teaser mode: the full chatbox was downloaded before the first open: %+v", got)
	}

	p.open()
	p.waitAnswer(1, welcome)
	if js, css := p.requests("/chatbox/chatbox.", ".js"), p.requests("/chatbox/chatbox.", ".css"); len(js) != 1 || len(css) != 1 {
		t.Fatalf("opening the chatbox: want its script and style once each, got %d and %d\n%s", len(js), len(css), p.dump())
	}
	// Keyboard and screen readers: the question field has the focus once the visitor opened
	// the chatbox; Escape closes it and gives the focus back to the button.
	if got := eval[string](p, root+`.activeElement?.tagName`); got != "TEXTAREA" {
		t.Errorf("after opening, the focus is on %q, want the question field", got)
	}
	p.ask(question, answer)
	if got := eval[string](p, root+`.querySelector('[aria-live]').textContent`); !strings.Contains(got, answer) {
		t.Errorf("the live region announces %q, want the answer", got)
	}

	// A reword: the suggestions are buttons, and a click asks the question.
	p.ask("order", "Did you mean")
	p.do(chromedp.Click(chromedp.JSPath(`[...` + root + `.querySelectorAll('.choices button')].find((b) => b.textContent == 'How do I cancel my order?')`)))
	p.until("the reword's answer", fmt.Sprintf(`[...%s.querySelectorAll('.msg.user')].pop().textContent.includes('How do I cancel my order?') && %s.querySelectorAll('.msg.bot').length == 4`, root, root))

	// Feedback thumbs, when the bot asks for feedback: a thumb down offers the reasons.
	var bot map[string]any
	admin(t, srv, "GET", "bots/"+bascule.SampleBotID, nil, &bot)
	bot["settings"].(map[string]any)["askFeedback"] = true
	admin(t, srv, "PUT", "bots/"+bascule.SampleBotID, bot, nil)
	p.ask(question, answer)
	p.do(chromedp.Click(inBox(`.feedback button[aria-label="No"]`)))
	p.do(chromedp.Click(inBox(`.feedback button`)))
	p.until("the thanks for the feedback", root+`.querySelector('.feedback').textContent.includes('Thank you')`)
	p.waitRequest("/chat/feedback/"+bascule.SampleBotID, 200)
	p.waitRequest("/chat/feedback/insatisfaction/", 200)
	// On a phone, the chatbox takes the whole screen.
	p.do(chromedp.EmulateViewport(375, 700))
	if w := eval[float64](p, root+`.querySelector('.panel').getBoundingClientRect().width`); w != 375 {
		t.Errorf("on a 375 px wide screen the chatbox is %v px wide", w)
	}
	p.do(chromedp.ResetViewport())

	p.do(chromedp.KeyEvent("\x1b"))
	p.until("Escape to close the chatbox", root+`.querySelector('.panel').hidden && `+root+`.activeElement?.className == 'teaser'`)
	p.open()

	// The dialog follows the visitor to another page of the site, and through a reload; the
	// chatbox comes back open, as it was left, with the dialog's history.
	talks := len(p.requests("/chat/talk/"))
	for _, target := range []string{srv.URL + "/delivery", ""} {
		if target == "" {
			p.do(chromedp.Reload())
		} else {
			p.do(chromedp.Navigate(target))
		}
		p.until("the history", fmt.Sprintf(`(() => { const r = %s; if (!r) return false; const t = r.querySelector('.panel:not([hidden]) .log')?.textContent || ''; return t.includes(%s) && t.includes(%s) && t.includes(%s) })()`,
			root, jsString(welcome), jsString(question), jsString(answer)))
	}
	if got := len(p.requests("/chat/talk/")); got != talks {
		t.Errorf("restoring the dialog sent %d talk requests; want none (history only)", got-talks)
	}
	if got := len(p.requests("/chat/history/")); got != 2 {
		t.Errorf("%d history requests, want 2 (one per page)", got)
	}

	// Popin mode loads and opens the chatbox at once; French labels and answers.
	p.do(chromedp.Evaluate[chromedp.Void](`localStorage.clear()`), chromedp.Navigate(srv.URL+"/?lang=fr&mode=popin"))
	p.waitAnswer(1, "Bonjour")
	if got := eval[string](p, root+`.querySelector('.fresh').textContent`); got != "Nouvelle conversation" {
		t.Errorf("French label %q", got)
	}
	p.ask("Où est ma commande ?", "suivre votre commande")
}

// TestChatboxFailoverMainStopped: the main stops in the middle of a dialog, comes back, and
// stops again; the dialog moves to the backup and stays there, new dialogs go to the main.
func TestChatboxFailoverMainStopped(t *testing.T) {
	browser := testenv.Chromium(t)
	main, backup := startPair(t)
	p := newPage(t, browser)
	p.do(chromedp.Navigate(startSite(t, main.URL, backup.URL) + "/"))
	p.open()
	p.waitAnswer(1, welcome)
	p.ask(question, answer)
	p.onServer(main.URL, "a new dialog")
	p.probe()

	// The main stops after the visitor started typing (the check while typing saw it up): the
	// question fails on the main and goes to the backup, with the same interaction id.
	p.typeChecked(question, main.URL, true)
	main.Stop()
	tm := p.sendFailover(main.URL, backup.URL, answer)
	web.Report("main stopped, question sent to it: %v", tm)
	// The backup stored the question under the chatbox's interaction id.
	id := p.lastTalk().Form.Get("interactionId")
	var dialog struct {
		Interactions []struct{ ID string }
	}
	admin(t, backup, "GET", "dialogs/"+p.stored()["ctx"].(string), nil, &dialog)
	if n := len(dialog.Interactions); n == 0 || dialog.Interactions[n-1].ID != id {
		t.Errorf("the backup's dialog %+v lacks the interaction %s", dialog.Interactions, id)
	}

	// The main is back: the dialog in progress stays on the backup.
	main.Start()
	p.ask(question, answer)
	p.onServer(backup.URL, "the main is back, the dialog in progress")

	// A new dialog starts on the main again.
	p.newDialog()
	p.onServer(main.URL, "the main is back, a new dialog")
	p.ask(question, answer)
	p.onServer(main.URL, "the new dialog")

	// The main stops before the visitor types: the check while typing sees it down, and the
	// question goes straight to the backup.
	main.Stop()
	p.typeChecked(question, main.URL, false)
	tm = p.sendFailover(main.URL, backup.URL, answer)
	if !tm.direct {
		t.Errorf("the check while typing saw the main down, yet the question went to the main first")
	}
	web.Report("main stopped, seen by the check while typing: %v", tm)
}

// TestChatboxFailoverFaults: the main answers 500, then 403, then hangs past the timeout, then
// refuses connections; each time the question is answered by the backup.
func TestChatboxFailoverFaults(t *testing.T) {
	browser := testenv.Chromium(t)
	main, backup := startPair(t)
	proxy := testenv.StartFaultProxy(t, main.URL)
	p := newPage(t, browser)
	p.do(chromedp.Navigate(startSite(t, proxy.URL, backup.URL) + "/"))
	p.open()
	p.waitAnswer(1, welcome)
	p.probe()
	for i, fault := range []testenv.Fault{testenv.Fail500, testenv.Fail403, testenv.Hang, testenv.Refuse} {
		if i > 0 {
			proxy.Set(testenv.Pass)
			p.newDialog()
		}
		p.ask(question, answer)
		p.onServer(proxy.URL, "before the fault")
		p.typeChecked(question, proxy.URL, true)
		proxy.Set(fault)
		tm := p.sendFailover(proxy.URL, backup.URL, answer)
		web.Report("main %v: %v", faultName[fault], tm)
	}

	// A busy main (429) is not a failing one: the chatbox waits as long as it asks and asks it
	// again, and the dialog stays there.
	proxy.Set(testenv.Pass)
	p.newDialog()
	p.ask(question, answer)
	p.typeChecked(question, proxy.URL, true)
	proxy.Set(testenv.Busy)
	shown, talks := p.sendTimed(answer)
	if len(talks) != 2 || talks[0].Status != 429 || talks[1].Status != 200 || !strings.HasPrefix(talks[1].URL, proxy.URL+"/") {
		t.Fatalf("a 429 then the answer from the main, in %d talk requests: %+v\n%s", len(talks), talks, p.dump())
	}
	p.onServer(proxy.URL, "after a 429")
	web.Report("main busy (429, Retry-After: 1 s): Enter -> answer shown %v, by the main", shown)
}

var faultName = map[testenv.Fault]string{
	testenv.Fail500: "answering 500",
	testenv.Fail403: "answering 403",
	testenv.Hang:    "hanging past the 3 s timeout",
	testenv.Refuse:  "refusing connections",
}

// TestChatboxBothDown: with both servers down the visitor is told once, politely; the question
// is kept, across a page change too, and answered once a server is back.
func TestChatboxBothDown(t *testing.T) {
	browser := testenv.Chromium(t)
	main, backup := startPair(t)
	site := startSite(t, main.URL, backup.URL)
	p := newPage(t, browser)
	p.do(chromedp.Navigate(site + "/"))
	p.open()
	p.waitAnswer(1, welcome)
	p.ask(question, answer)

	// Killed, as by a crash (a graceful stop may wait for the browser's idle connections).
	main.Kill()
	backup.Kill()
	const pending = "Can I return an item?"
	p.typeQuestion(pending)
	p.send()
	noticed := root + `?.querySelector('.notice')?.textContent.includes('cannot be reached')`
	p.until("the notice", noticed)
	queue, _ := p.stored()["queue"].([]any)
	if len(queue) != 1 || queue[0].(map[string]any)["text"] != pending {
		t.Fatalf("the pending question is not kept: %v", queue)
	}

	// The visitor moves to another page: the chatbox comes back (from the browser's cache),
	// with the pending question.
	p.do(chromedp.Navigate(site + "/delivery"))
	p.until("the pending question after a page change", fmt.Sprintf(`%s && [...%s.querySelectorAll('.msg.user')].some((m) => m.textContent.includes(%s))`,
		noticed, root, jsString(pending)))

	backup.Start()
	back := time.Now()
	p.waitAnswer(2, "return")
	web.Report("both servers down, then the backup back: the kept question answered %v after the backup answered /healthz (retries back off up to 8 s)",
		time.Since(back).Round(100*time.Millisecond))
	if got := eval[string](p, root+`.querySelector('.notice').textContent`); got != "" {
		t.Errorf("the notice stays after the answer: %q", got)
	}
	if queue, _ := p.stored()["queue"].([]any); len(queue) != 0 {
		t.Errorf("questions still pending after the answer: %v", queue)
	}
}

// TestChatboxLoaderOfAnotherRelease: a loader that names a chatbox the servers do not have (a
// copy on the customer's site, or a server of another release during an upgrade) falls back to
// each server's current chatbox.
func TestChatboxLoaderOfAnotherRelease(t *testing.T) {
	browser := testenv.Chromium(t)
	srv := testenv.StartBascule(t, testenv.BasculeOptions{Name: "main", Config: serverConfig})
	h := web.New(web.Options{Servers: []string{srv.URL}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", web.LoaderPath, nil))
	old := regexp.MustCompile(`chatbox\.[0-9a-f]{10}`).ReplaceAll(rec.Body.Bytes(), []byte("chatbox.0123456789"))
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == web.LoaderPath {
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(old)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer site.Close()

	p := newPage(t, browser)
	p.do(chromedp.Navigate(site.URL + "/"))
	p.open()
	p.waitAnswer(1, welcome)
	// The browser may see the 404 or, blocking a non-script answer to a script, an error.
	if got := p.requests("/chatbox/chatbox.0123456789.js"); len(got) != 1 || (got[0].Status != 404 && got[0].Failed == "") {
		t.Errorf("the loader's own release: %+v", got)
	}
	if got := p.requests(srv.URL + "/chatbox/chatbox.js"); len(got) != 1 || got[0].Status != 200 {
		t.Errorf("the server's current release under its stable name: %+v", got)
	}
	p.ask(question, answer)
}
