package livechat_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/loadgen"
	"github.com/bascule/bascule/internal/testenv"
)

// TestLivechatLoad: 200 simultaneous livechat dialogs with 20 operators on a real server.
// Operators write to every dialog while the visitors follow on the push channel, then while
// they poll as the dydu chatbox does; it prints the time from an operator's message (sent to
// the desk API) to its arrival in the visitor's chatbox, beside a bot answer's round trip
// measured in the same run. It takes about a minute:
//
//	BASCULE_LOAD=1 go test -run TestLivechatLoad -v ./livechat/
func TestLivechatLoad(t *testing.T) {
	if os.Getenv("BASCULE_LOAD") != "1" {
		t.Skip("a load test of about a minute: BASCULE_LOAD=1 go test -run TestLivechatLoad -v ./livechat/")
	}
	const (
		operators = 20
		dialogs   = 200
		rounds    = 5               // messages per dialog and mode
		pace      = 3 * time.Second // between two messages to one dialog: more than a poll
		poll      = 2500 * time.Millisecond
	)
	const adminToken = "load-test-token-0123456789abcdef0123"
	srv := testenv.StartBascule(t, testenv.BasculeOptions{Name: "main", Config: `
limits:
  per_client: {rate: 0}
livechat:
  logins: {rate: 0}
log:
  level: warn
admin:
  tokens:
    - name: load
      token: ` + adminToken + "\n"})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000, MaxConnsPerHost: 0}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	do := func(method, path, token string, body any, out any) {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(ctx, method, srv.URL+path, r)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
		if out != nil {
			json.Unmarshal(raw, out)
		}
	}
	talk := func(ctxID, input string) (map[string]string, time.Duration) {
		path := "/servlet/api/chat/talk/" + bascule.SampleBotID
		if ctxID != "" {
			path += "/" + ctxID
		}
		start := time.Now()
		resp, err := client.PostForm(srv.URL+path, url.Values{"userInput": {input}, "language": {"en"}, "mode": {"cG9sbGluZw=="}})
		if err != nil {
			t.Error(err)
			return nil, 0
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		took := time.Since(start)
		v, err := loadgen.DecodeValues(raw)
		if err != nil {
			t.Error(err)
		}
		return v, took
	}

	// Twenty operators, at their desks (an open event stream each), ten dialogs each.
	tokens := make([]string, operators)
	for i := range operators {
		login := fmt.Sprintf("op%02d", i)
		do("POST", "/api/admin/v1/accounts", adminToken, map[string]any{"login": login, "name": "Operator " + login,
			"competencies": []string{"support"}, "capacity": dialogs / operators, "password": "password of " + login}, nil)
		var s struct{ Token string }
		do("POST", "/router/api/login", "", map[string]string{"login": login, "password": "password of " + login}, &s)
		tokens[i] = s.Token
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/router/api/events", nil)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		go func() { io.Copy(io.Discard, resp.Body); resp.Body.Close() }()
	}

	// Two hundred visitors ask for a person; every one gets an operator at once.
	type visitor struct {
		ctx    string
		cursor int64
		mu     sync.Mutex
		got    map[string]time.Time // message -> when the chatbox had it
	}
	vs := make([]*visitor, dialogs)
	var wg sync.WaitGroup
	for i := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _ := talk("", "I want to talk to a human")
			vs[i] = &visitor{ctx: v["contextId"], got: map[string]time.Time{}}
			fmt.Sscan(v["serverTime"], &vs[i].cursor)
			if v["specialAction"] != "StartPolling" {
				t.Errorf("visitor %d: %v", i, v)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	owner := map[string]int{} // dialog -> operator
	for i, tok := range tokens {
		var out struct {
			Dialogs []struct {
				DialogID string `json:"dialogId"`
				Status   string `json:"status"`
			}
		}
		do("GET", "/router/api/dialogs", tok, nil, &out)
		for _, d := range out.Dialogs {
			if d.Status == bascule.LivechatAssigned {
				owner[d.DialogID] = i
			}
		}
	}
	if len(owner) != dialogs {
		t.Fatalf("%d dialogs with an operator, want %d", len(owner), dialogs)
	}

	// record notes the arrival of the operator's messages in a chatbox, and moves its cursor
	// past them.
	record := func(v *visitor, values map[string]string) {
		var c int64
		fmt.Sscan(values["pollUpdatedInteractionDate"], &c)
		v.mu.Lock()
		defer v.mu.Unlock()
		v.cursor = max(v.cursor, c)
		if text := values["text"]; strings.HasPrefix(text, "<p>m ") {
			if _, seen := v.got[text]; !seen {
				v.got[text] = time.Now()
			}
		}
	}

	// send makes the operators write to every dialog, round after round, and measures the
	// time to the chatbox; the bot's round trip is measured meanwhile by other visitors.
	send := func(mode string) (latencies, baseline []time.Duration) {
		var mu sync.Mutex
		sent := map[string]time.Time{}
		var sw sync.WaitGroup
		for r := range rounds {
			for i, v := range vs {
				sw.Add(1)
				go func() {
					defer sw.Done()
					// Spread the dialogs over the round.
					time.Sleep(time.Duration(i) * pace / dialogs)
					text := fmt.Sprintf("m %s %d %s", mode, r, v.ctx[:8])
					mu.Lock()
					sent["<p>"+text+"</p>"] = time.Now()
					mu.Unlock()
					do("POST", "/router/api/dialogs/"+v.ctx+"/messages", tokens[owner[v.ctx]], map[string]string{"text": text}, nil)
				}()
			}
			for range 40 {
				sw.Add(1)
				go func() {
					defer sw.Done()
					time.Sleep(time.Duration(len(baseline)%40) * pace / 40)
					_, took := talk("", "Where is my order?")
					mu.Lock()
					baseline = append(baseline, took)
					mu.Unlock()
				}()
			}
			time.Sleep(pace)
		}
		sw.Wait()
		deadline := time.Now().Add(2 * poll)
		for _, v := range vs {
			for {
				v.mu.Lock()
				n := len(v.got)
				v.mu.Unlock()
				if n >= rounds || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		for _, v := range vs {
			v.mu.Lock()
			for text, at := range v.got {
				if s, ok := sent[text]; ok {
					latencies = append(latencies, at.Sub(s))
				}
			}
			v.got = map[string]time.Time{}
			v.mu.Unlock()
		}
		if want := dialogs * rounds; len(latencies) != want {
			t.Errorf("%s: %d messages reached the chatboxes, want %d", mode, len(latencies), want)
		}
		return latencies, baseline
	}

	// Push: every chatbox on the server-sent events of its dialog.
	pushCtx, stopPush := context.WithCancel(ctx)
	for _, v := range vs {
		req, _ := http.NewRequestWithContext(pushCtx, "GET", fmt.Sprintf("%s/api/chat/events/%s/%s?after=%d", srv.URL, bascule.SampleBotID, v.ctx, v.cursor), nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					values, err := loadgen.DecodeValues([]byte(data))
					if err == nil {
						record(v, values)
					}
				}
			}
		}()
	}
	push, pushBase := send("push")
	stopPush()

	// Polling, as the dydu chatbox does: one poll every 2.5 s per chatbox, one item per poll.
	pollCtx, stopPoll := context.WithCancel(ctx)
	for i, v := range vs {
		go func() {
			time.Sleep(time.Duration(i) * poll / dialogs)
			for pollCtx.Err() == nil {
				v.mu.Lock()
				body := fmt.Sprintf("solutionUsed=LIVECHAT&format=JSon&space=Defaut&contextUuid=%s&language=en&lastPoll=%d", v.ctx, v.cursor)
				v.mu.Unlock()
				req, _ := http.NewRequestWithContext(pollCtx, "POST", srv.URL+"/servlet/api/chat/poll/last/"+bascule.SampleBotID, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
				if resp, err := client.Do(req); err == nil {
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if values, err := loadgen.DecodeValues(raw); err == nil && len(values) > 0 {
						record(v, values)
					}
				}
				select {
				case <-pollCtx.Done():
				case <-time.After(poll):
				}
			}
		}()
	}
	polled, pollBase := send("poll")
	stopPoll()

	pct := func(ds []time.Duration, p float64) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return ds[min(len(ds)-1, int(float64(len(ds))*p))].Round(time.Millisecond)
	}
	base := append(pushBase, pollBase...)
	t.Logf("%d dialogs, %d operators, %d messages per mode; on %s", dialogs, operators, dialogs*rounds, srv.URL)
	t.Logf("baseline, a bot answer's round trip:   p50 %v  p99 %v  (%d answers)", pct(base, .5), pct(base, .99), len(base))
	t.Logf("operator -> chatbox, push (SSE):       p50 %v  p99 %v  max %v  (p99 = %.1f bot round trips)",
		pct(push, .5), pct(push, .99), pct(push, 1), float64(pct(push, .99))/float64(max(pct(base, .99), time.Millisecond)))
	t.Logf("operator -> chatbox, dydu polling:     p50 %v  p99 %v  max %v  (poll interval %v)", pct(polled, .5), pct(polled, .99), pct(polled, 1), poll)
	if p := pct(push, .99); p > time.Second {
		t.Errorf("push p99 %v, goal under 1 s", p)
	}
	// A message waits at most one interval for the next poll, plus that poll's own round trip.
	if p := pct(polled, .99); p > poll+pct(base, .99) {
		t.Errorf("polling p99 %v, goal under the polling interval %v (plus a round trip, %v)", p, poll, pct(base, .99))
	}
}
