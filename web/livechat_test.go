package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/pair"
	"github.com/bascule/bascule/web"
)

// The livechat in a real browser: a visitor's chatbox on a customer's site and operators'
// desks (/router), each in a browser context of its own, against real bascule processes.

// The sample bot's escalation ("I want to talk to a human") asks for the support competency.
const (
	humanPlease = "I want to talk to a human"
	handedOver  = "connecting you with an advisor"
)

// operator creates a desk account on srv (the main).
func operator(t *testing.T, srv *testenv.Bascule, login, name string, capacity, queue int) {
	t.Helper()
	admin(t, srv, "POST", "accounts", map[string]any{"login": login, "name": name, "competencies": []string{"support"},
		"capacity": capacity, "queueCapacity": queue, "password": login + "'s password"}, nil)
}

// desk is an operator's desk in a browser context of its own.
type desk struct {
	*page
}

// openDesk logs an operator in at url (through /livechat2, which redirects to /router).
func openDesk(t *testing.T, browser context.Context, url, login string) *desk {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	d := &desk{newPage(t, ctx)}
	d.do(chromedp.Navigate(url + "/livechat2"))
	d.until("the login form", `location.pathname == '/router' && document.querySelector('form.login') != null`)
	d.do(chromedp.SendKeys(chromedp.CSS(`form.login input[name=login]`), login),
		chromedp.SendKeys(chromedp.CSS(`form.login input[name=password]`), login+"'s password"),
		chromedp.Click(chromedp.CSS(`form.login button`)))
	d.until("the desk", `document.querySelector('#desk .me')?.textContent.length > 0`)
	return d
}

func deskItem(id string) string {
	return `document.querySelector('#desk nav li[data-id="` + id + `"]')`
}

// across waits for a condition on a page that may navigate meanwhile (a desk moving to the
// other server): an evaluation interrupted by the navigation is tried again.
func (d *page) across(what, cond string) { d.t.Helper(); d.acrossFor(what, cond, wait) }

// acrossFor is across with its own time limit.
func (d *page) acrossFor(what, cond string, limit time.Duration) {
	d.t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(d.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("waiting for %s: %v\n%s", what, err, d.dump())
		}
	}
}

// in waits until a dialog is in a list of the desk (waiting, mine, others, ended).
func (d *desk) in(list, id string) {
	d.t.Helper()
	d.until("dialog "+id+" in "+list, `document.querySelector('#desk nav .`+list+` li[data-id="`+id+`"]') != null`)
}

// show opens a dialog.
func (d *desk) show(id string) {
	d.t.Helper()
	d.do(chromedp.Click(chromedp.JSPath(deskItem(id) + `.querySelector('button')`)))
	d.until("the dialog open", `document.querySelector('.dialog')?.dataset.id == '`+id+`' && !document.querySelector('.dialog').hidden`)
}

// says waits until the open dialog's history holds text.
func (d *desk) says(what, text string) {
	d.t.Helper()
	d.until(what, `[...document.querySelectorAll('.history li')].some((li) => li.textContent.includes(`+jsString(text)+`))`)
}

// write types a message in the open dialog and sends it with Enter.
func (d *desk) write(text string) {
	d.t.Helper()
	field := chromedp.JSPath(`document.querySelector('.composer textarea')`)
	d.do(chromedp.SendKeys(field, text))
	d.enter(field)
	d.until("the message sent", `document.querySelector('.composer textarea').value == ''`)
}

func (d *desk) click(css string) {
	d.t.Helper()
	d.do(chromedp.Click(chromedp.CSS(css)))
}

// The chatbox's side.

// waitNote waits for a notice of the livechat (someone joined, left, ended...).
func (p *page) waitNote(text string) {
	p.t.Helper()
	p.until("the notice "+text, `[...`+root+`.querySelectorAll('.msg.note')].some((m) => m.textContent.includes(`+jsString(text)+`))`)
}

// waitOperator waits for an operator's message, with their name.
func (p *page) waitOperator(name, text string) {
	p.t.Helper()
	p.until(name+" says "+text, `[...`+root+`.querySelectorAll('.msg.op')].some((m) => m.querySelector('b')?.textContent == `+
		jsString(name)+` && m.textContent.includes(`+jsString(text)+`))`)
}

// tell sends a message to the operator (the bot stays silent: no new bubble to wait for).
func (p *page) tell(text string) {
	p.t.Helper()
	before := len(p.requests("/chat/talk/"))
	p.typeQuestion(text)
	p.send()
	p.waitNet("the message to the operator", func() bool {
		got := p.requests("/chat/talk/")
		return len(got) > before && got[len(got)-1].Done && got[len(got)-1].Status == 200
	})
}

// TestLivechatHandOver: a whole hand-over: the escalation waits in the queue, an operator takes
// it, messages and typing indicators both ways, a transfer to another operator, and the end,
// after which the bot answers again.
func TestLivechatHandOver(t *testing.T) {
	browser := testenv.Chromium(t)
	srv := testenv.StartBascule(t, testenv.BasculeOptions{Name: "main", Config: serverConfig})
	operator(t, srv, "ann", "Ann", 1, 2)
	operator(t, srv, "bob", "Bob", 2, 2)

	ann := openDesk(t, browser, srv.URL, "ann")
	// On break: a visitor who asks for a person waits in the queue.
	ann.do(chromedp.SetValue(chromedp.CSS(`select.status`), "break"))
	ann.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('select.status').dispatchEvent(new Event('change'))`))
	ann.until("the status saved", `JSON.parse(sessionStorage.getItem('bascule.desk')).status == 'break'`)

	v := newPage(t, browser)
	v.do(chromedp.Navigate(startSite(t, srv.URL) + "/"))
	v.open()
	v.waitAnswer(1, welcome)
	v.ask(humanPlease, "number 1 in the queue")
	ctx := v.stored()["ctx"].(string)
	if v.stored()["live"] == nil {
		t.Fatalf("the chatbox does not follow the livechat: %v", v.stored())
	}

	// Ann takes it from the queue; the visitor is told.
	ann.in("waiting", ctx)
	ann.show(ctx)
	ann.says("the bot's part of the dialog", humanPlease)
	ann.click(`button.take`)
	ann.in("mine", ctx)
	v.waitNote("Ann joined the conversation")

	// Ann types: the visitor sees it; then her message, with her name.
	ann.do(chromedp.SendKeys(chromedp.JSPath(`document.querySelector('.composer textarea')`), "Hello, I am Ann"))
	v.until("the operator typing", root+`.querySelector('.writing').hidden == false`)
	ann.enter(chromedp.JSPath(`document.querySelector('.composer textarea')`))
	v.waitOperator("Ann", "Hello, I am Ann")

	// The visitor types: Ann sees what; then the message.
	v.typeQuestion("My parcel is damaged")
	ann.until("the visitor typing", `document.querySelector('.vtyping').textContent.includes('My parcel is damaged')`)
	v.send()
	ann.says("the visitor's message", "My parcel is damaged")

	// Ann hands the dialog over to Bob, who is at his desk.
	bob := openDesk(t, browser, srv.URL, "bob")
	ann.until("Bob in the transfer list", `[...document.querySelectorAll('select.to option')].some((o) => o.value == 'bob')`)
	ann.do(chromedp.SetValue(chromedp.CSS(`select.to`), "bob"))
	ann.click(`button.transfer`)
	v.waitNote("Ann hands the conversation over to Bob")
	bob.in("mine", ctx)
	ann.until("the dialog leaves Ann's desk", deskItem(ctx)+` == null`)
	bob.show(ctx)
	bob.says("the whole dialog, the bot's part included", humanPlease)
	bob.says("the whole dialog, Ann's part included", "Hello, I am Ann")
	bob.write("Bob here: I will send a new one.")
	v.waitOperator("Bob", "I will send a new one")
	v.tell("Thank you!")
	bob.says("the visitor's thanks", "Thank you!")

	// Bob ends it: the visitor is told, and the bot answers again.
	bob.click(`button.end`)
	v.waitNote("Bob ended the conversation")
	v.until("the chatbox back with the bot", `!JSON.parse(localStorage.getItem('bascule.`+bascule.SampleBotID+`')).live`)
	bob.in("ended", ctx)
	v.ask(question, answer)

	// The dialog, as stored: each message once, in order.
	var dialog struct {
		Interactions []bascule.Interaction
	}
	admin(t, srv, "GET", "dialogs/"+ctx, nil, &dialog)
	var lines []string
	for _, in := range dialog.Interactions {
		lines = append(lines, in.Type+" "+in.From)
	}
	want := []string{bascule.TypeLivechatQueued + " ", bascule.TypeOperatorJoined + " operator:ann", bascule.TypeOperator + " operator:ann",
		bascule.TypeVisitorMessage + " visitor", bascule.TypeTransferred + " operator:bob", bascule.TypeOperator + " operator:bob",
		bascule.TypeVisitorMessage + " visitor", bascule.TypeLivechatEnded + " operator:bob", bascule.TypeUnderstood + " "}
	if !slices.Equal(lines, want) {
		t.Fatalf("the stored dialog:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// startRealPair starts a main and a backup that replicate each other (a throwaway CA for the
// peer API), each knowing the other's public URL.
func startRealPair(t *testing.T) (main, backup *testenv.Bascule) {
	t.Helper()
	files, err := pair.ThrowawayCA(filepath.Join(t.TempDir(), "ca"), "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for len(addrs) < 4 {
		if a := testenv.FreeAddr(t); !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	conf := func(role, listen, peerListen, peerURL string) string {
		return fmt.Sprintf(`server:
  role: %s
  public_url: http://%s
peer:
  url: https://%s
  listen: %s
  tls: {cert: %s, key: %s, ca: %s}
  wait: 5s
limits:
  per_client: {rate: 0}
livechat:
  logins: {rate: 0}
`, role, listen, peerURL, peerListen, files.Cert, files.Key, files.CA) + serverConfig
	}
	main = testenv.StartBascule(t, testenv.BasculeOptions{Name: "main", Addr: addrs[0], Config: conf("main", addrs[0], addrs[2], addrs[3])})
	backup = testenv.StartBascule(t, testenv.BasculeOptions{Name: "backup", Addr: addrs[1], Config: conf("backup", addrs[1], addrs[3], addrs[2])})
	return main, backup
}

// interactions returns a dialog's interactions as a server stores them.
func interactions(t *testing.T, srv *testenv.Bascule, ctx string) []bascule.Interaction {
	t.Helper()
	var dialog struct {
		Interactions []bascule.Interaction
	}
	admin(t, srv, "GET", "dialogs/"+ctx, nil, &dialog)
	return dialog.Interactions
}

// eventually waits until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(wait); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
	}
}

// TestLivechatFailover: the main dies in the middle of a livechat. The visitor's chatbox
// moves to the backup, the operator's desk reloads itself there (still logged in, with the
// same dialog), the dialog goes on; when the main is back it receives the whole dialog, once.
func TestLivechatFailover(t *testing.T) {
	browser := testenv.Chromium(t)
	main, backup := startRealPair(t)
	operator(t, main, "ann", "Ann", 3, 2)
	eventually(t, "the account on the backup", func() bool {
		var out struct{ Accounts []bascule.Account }
		admin(t, backup, "GET", "accounts", nil, &out)
		return len(out.Accounts) == 1
	})
	// Accounts are configuration: the backup refuses to write them, naming the main.
	req, _ := http.NewRequest("POST", backup.URL+"/api/admin/v1/accounts", strings.NewReader(`{"login":"bob","name":"Bob","password":"bob's password"}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("an account written on the backup: %v %v", resp, err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "edit knowledge and configuration on the main") {
			t.Fatalf("the backup's refusal does not name the main: %s", body)
		}
	}
	ann := openDesk(t, browser, main.URL, "ann")
	v := newPage(t, browser)
	v.do(chromedp.Navigate(startSite(t, main.URL, backup.URL) + "/"))
	v.open()
	v.waitAnswer(1, welcome)
	v.ask(humanPlease, handedOver)
	ctx := v.stored()["ctx"].(string)
	ann.in("mine", ctx)
	ann.show(ctx)
	ann.write("Hello, Ann here.")
	v.waitOperator("Ann", "Hello, Ann here.")
	v.tell("My order has not arrived")
	ann.says("the visitor's message", "My order has not arrived")
	before := len(interactions(t, main, ctx))
	eventually(t, "the dialog on the backup", func() bool { return len(interactions(t, backup, ctx)) == before })

	// The main dies.
	main.Kill()
	killed := time.Now()
	ann.across("the desk on the backup", `location.origin == `+jsString(backup.URL)+` && `+deskItem(ctx)+` != null`)
	web.Report("livechat failover: the desk reloaded itself on the backup %v after the main was killed", time.Since(killed).Round(100*time.Millisecond))
	ann.in("mine", ctx)
	ann.show(ctx)
	ann.says("the dialog's history on the backup", "My order has not arrived")
	ann.write("I am still here, on the other server.")
	v.waitOperator("Ann", "on the other server")
	web.Report("livechat failover: the visitor saw the operator's first message after the switch %v after the main was killed", time.Since(killed).Round(100*time.Millisecond))
	v.tell("Great, thanks")
	ann.says("the visitor's message through the backup", "Great, thanks")
	if got := v.stored()["server"]; got != backup.URL {
		t.Fatalf("the chatbox's dialog is on %v, want the backup", got)
	}
	ann.click(`button.end`)
	v.waitNote("Ann ended the conversation")

	// The main comes back and receives the whole dialog, once.
	main.Start()
	want := interactions(t, backup, ctx)
	eventually(t, "the whole dialog on the main", func() bool { return len(interactions(t, main, ctx)) == len(want) })
	got := interactions(t, main, ctx)
	ids := map[string]bool{}
	for i := range got {
		if ids[got[i].ID] {
			t.Fatalf("interaction %s twice on the main", got[i].ID)
		}
		ids[got[i].ID] = true
		if got[i].ID != want[i].ID || got[i].Question != want[i].Question || got[i].Answer != want[i].Answer {
			t.Fatalf("interaction %d differs:\nmain   %+v\nbackup %+v", i, got[i], want[i])
		}
	}
	var said []string
	for _, in := range got {
		said = append(said, in.Question+in.Answer)
	}
	for _, s := range []string{"Hello, Ann here.", "My order has not arrived", "on the other server", "Great, thanks", "ended the conversation"} {
		if !slices.ContainsFunc(said, func(x string) bool { return strings.Contains(x, s) }) {
			t.Errorf("the dialog on the main lacks %q: %q", s, said)
		}
	}
	// New visitors go to the main again: so does the desk, by itself (once the backup sees the
	// main, after a pause for it to catch up).
	back := time.Now()
	ann.acrossFor("the desk back on the main", `location.origin == `+jsString(main.URL)+` && document.querySelector('#desk .me')?.textContent.length > 0`, time.Minute)
	web.Report("livechat failover: the desk went back to the main %v after it restarted", time.Since(back).Round(100*time.Millisecond))
}

// TestLivechatPollingFallback: a browser without EventSource follows the livechat by polling,
// as the dydu chatbox does.
func TestLivechatPollingFallback(t *testing.T) {
	browser := testenv.Chromium(t)
	srv := testenv.StartBascule(t, testenv.BasculeOptions{Name: "main", Config: serverConfig})
	operator(t, srv, "ann", "Ann", 2, 0)
	ann := openDesk(t, browser, srv.URL, "ann")
	v := newPage(t, browser)
	v.do(chromedp.Navigate(startSite(t, srv.URL) + "/"))
	v.open()
	v.waitAnswer(1, welcome)
	v.do(chromedp.Evaluate[chromedp.Void](`delete window.EventSource`))
	v.ask(humanPlease, handedOver)
	ctx := v.stored()["ctx"].(string)
	ann.in("mine", ctx)
	ann.show(ctx)
	ann.write("Polling works too.")
	v.waitOperator("Ann", "Polling works too.")
	if n := len(v.requests("/chat/poll/last/")); n == 0 || len(v.requests("/chat/events/")) != 0 {
		t.Fatalf("%d polls, %d push channels; want polls only", n, len(v.requests("/chat/events/")))
	}
	ann.click(`button.end`)
	v.waitNote("Ann ended the conversation")
}
