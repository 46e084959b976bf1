// Package loadgen drives realistic load against a Bascule server: dialogs that open a context
// with the welcome call and then ask several questions, as many visitors at once as asked.
// `bascule bench` prints its figures; tests use it to put a server under load while they
// kill it, dump it or fail it over.
package loadgen

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options describe a load.
type Options struct {
	Target string // base URL, e.g. http://127.0.0.1:8080
	// Targets are several nodes of one role (base URLs), asked in turn request by request, as a
	// round-robin load balancer without sticky sessions would; Target is used when empty.
	Targets     []string
	Bot         string
	Concurrency int
	Duration    time.Duration
	Questions   []Question // each dialog asks QuestionsPerDialog of them, drawn at random
	// QuestionsPerDialog is the length of a dialog after its welcome (default 4).
	QuestionsPerDialog int
	// OnAnswer is called for every question answered with 2xx, with the interaction id the
	// server returned (tests check that none is lost).
	OnAnswer func(interactionID, contextID string)
	Client   *http.Client
}

// Question is a visitor question and the language the chatbox sends with it.
type Question struct {
	Text     string
	Language string // "" lets the server use the bot's default
}

// Result is what a run measured.
type Result struct {
	Name      string        `json:"name"`
	Requests  int           `json:"requests"`
	Errors    int           `json:"errors"`
	Elapsed   time.Duration `json:"elapsed"`
	PerSecond float64       `json:"perSecond"`
	P50       time.Duration `json:"p50"`
	P99       time.Duration `json:"p99"`
	Dialogs   int           `json:"dialogs,omitempty"`
	// CPU per request: the server's (from its /metrics; zero if unknown) and the generator's.
	ServerCPU    time.Duration `json:"serverCpuPerRequest,omitempty"`
	GeneratorCPU time.Duration `json:"generatorCpuPerRequest,omitempty"`
}

func (r Result) String() string {
	s := fmt.Sprintf("%-8s %9d req %10.1f req/s  p50 %8s  p99 %8s  errors %d", r.Name, r.Requests, r.PerSecond,
		r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Errors)
	if r.ServerCPU > 0 {
		s += fmt.Sprintf("  cpu/req server %s", r.ServerCPU.Round(100*time.Nanosecond))
	}
	if r.GeneratorCPU > 0 {
		s += fmt.Sprintf(" generator %s", r.GeneratorCPU.Round(100*time.Nanosecond))
	}
	return s
}

// NewClient returns an HTTP client sized for n concurrent workers.
func NewClient(n int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: n * 2, MaxIdleConnsPerHost: n * 2, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}}
}

type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	errors    int
	dialogs   int
}

func (r *recorder) merge(lat []time.Duration, errs, dialogs int) {
	r.mu.Lock()
	r.latencies = append(r.latencies, lat...)
	r.errors += errs
	r.dialogs += dialogs
	r.mu.Unlock()
}

func (r *recorder) result(name string, elapsed time.Duration) Result {
	slices.Sort(r.latencies)
	res := Result{Name: name, Requests: len(r.latencies), Errors: r.errors, Elapsed: elapsed, Dialogs: r.dialogs}
	if elapsed > 0 {
		res.PerSecond = float64(len(r.latencies)) / elapsed.Seconds()
	}
	if n := len(r.latencies); n > 0 {
		res.P50 = r.latencies[n/2]
		res.P99 = r.latencies[min(n-1, n*99/100)]
	}
	return res
}

// Dialogs runs dialogs until the duration is over (or ctx ends) and measures every request.
func Dialogs(ctx context.Context, o Options) Result {
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.QuestionsPerDialog <= 0 {
		o.QuestionsPerDialog = 4
	}
	if o.Client == nil {
		o.Client = NewClient(o.Concurrency)
	}
	if len(o.Questions) == 0 {
		o.Questions = []Question{{Text: "hello"}}
	}
	targets := o.Targets
	if len(targets) == 0 {
		targets = []string{o.Target}
	}
	rr := &roundRobin{urls: targets}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	rec := &recorder{}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := &visitor{o: &o, targets: rr, rng: rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))}
			var lat []time.Duration
			errs, dialogs := 0, 0
			for ctx.Err() == nil {
				l, e := v.dialog(ctx)
				lat, errs, dialogs = append(lat, l...), errs+e, dialogs+1
			}
			rec.merge(lat, errs, dialogs)
		}()
	}
	wg.Wait()
	return rec.result("talk", time.Since(start))
}

// roundRobin hands out base URLs in turn.
type roundRobin struct {
	urls []string
	n    atomic.Uint64
}

func (r *roundRobin) next() string { return r.urls[(r.n.Add(1)-1)%uint64(len(r.urls))] }

// visitor is one simulated website visitor.
type visitor struct {
	o       *Options
	targets *roundRobin
	rng     *rand.Rand
}

// dialog opens a context and asks questions; it returns the latencies of the requests that
// completed and the number that failed (a request cut by the end of the run is neither).
func (v *visitor) dialog(ctx context.Context) (lat []time.Duration, errs int) {
	client := fmt.Sprintf("%015x", v.rng.Uint64()&0xfffffffffffffff)
	// Each dialog comes from its own address, as real visitors do, so per-client limits
	// apply as they would in production (the server trusts X-Forwarded-For from loopback).
	ip := fmt.Sprintf("10.%d.%d.%d", v.rng.IntN(256), v.rng.IntN(256), 1+v.rng.IntN(254))
	ctxID := ""
	// A dialog keeps one language, as a visitor does: the first question's.
	lang := v.o.Questions[v.rng.IntN(len(v.o.Questions))].Language
	for i := 0; i <= v.o.QuestionsPerDialog; i++ {
		q := Question{Text: "#welcome#", Language: lang}
		if i > 0 {
			q = v.pick(lang)
		}
		t0 := time.Now()
		body, err := v.talk(ctx, client, ip, ctxID, q, i == 0)
		switch {
		case ctx.Err() != nil:
			return lat, errs
		case err != nil:
			errs++
			continue
		}
		lat = append(lat, time.Since(t0))
		if id := Value(body, "contextId"); id != "" {
			ctxID = id
		}
		if i > 0 && v.o.OnAnswer != nil {
			if id := Value(body, "interactionId"); id != "" {
				v.o.OnAnswer(id, ctxID)
			}
		}
	}
	return lat, errs
}

// pick draws a question in the dialog's language (a few tries, then any).
func (v *visitor) pick(lang string) Question {
	for range 8 {
		if q := v.o.Questions[v.rng.IntN(len(v.o.Questions))]; q.Language == lang {
			return q
		}
	}
	return v.o.Questions[v.rng.IntN(len(v.o.Questions))]
}

func (v *visitor) talk(ctx context.Context, client, ip, ctxID string, q Question, first bool) ([]byte, error) {
	u := strings.TrimRight(v.targets.next(), "/") + "/servlet/api/chat/talk/" + v.o.Bot
	if ctxID != "" {
		u += "/" + ctxID
	}
	// The body is written by hand, not with url.Values: the generator shares the machine
	// with the server it measures and must cost little.
	var b strings.Builder
	b.Grow(256)
	b.WriteString("alreadyCame=")
	b.WriteString(strconv.FormatBool(!first))
	b.WriteString("&clientId=")
	b.WriteString(client)
	b.WriteString("&language=")
	b.WriteString(url.QueryEscape(q.Language))
	b.WriteString("&space=Defaut&solutionUsed=ASSISTANT&variables=%7B%7D&mode=U3luY2hyb24%3D&userInput=")
	b.WriteString(url.QueryEscape(q.Text))
	if q.Text == "#welcome#" {
		b.WriteString("&doNotRegisterInteraction=true")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(b.String()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := v.o.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	return body, nil
}

// Value returns one string value of a dydu envelope, base64-decoded, without decoding the
// whole answer: the load generator shares the machine with the server it measures, so it
// must cost little.
func Value(body []byte, key string) string {
	k := `"` + key + `":"`
	i := bytes.Index(body, []byte(k))
	if i < 0 {
		return ""
	}
	rest := body[i+len(k):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	v, err := base64.StdEncoding.DecodeString(string(rest[:j]))
	if err != nil {
		return ""
	}
	return string(v)
}

// DecodeValues decodes the string values of a dydu envelope ({"values":{k: base64}}); other
// values are kept as their JSON text.
func DecodeValues(body []byte) (map[string]string, error) {
	var env struct {
		Values map[string]json.RawMessage `json:"values"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(env.Values))
	for k, raw := range env.Values {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("value %s is not base64: %w", k, err)
			}
			out[k] = string(b)
			continue
		}
		out[k] = string(raw)
	}
	return out, nil
}

// GET hammers URLs, in turn (the servers' /healthz: the baseline of the same machine, same
// run).
func GET(ctx context.Context, urls []string, concurrency int, d time.Duration, client *http.Client) Result {
	if client == nil {
		client = NewClient(concurrency)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	rr := &roundRobin{urls: urls}
	rec := &recorder{}
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			errs := 0
			for ctx.Err() == nil {
				t0 := time.Now()
				err := get(ctx, client, rr.next())
				if ctx.Err() != nil {
					break
				}
				if err != nil {
					errs++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			rec.merge(lat, errs, 0)
		}()
	}
	wg.Wait()
	return rec.result("healthz", time.Since(start))
}

func get(ctx context.Context, client *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return errors.New(resp.Status)
	}
	return nil
}
