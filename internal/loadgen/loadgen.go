// Package loadgen drives realistic load against a Bascule server: dialogs that open a context
// with the welcome call and then ask several questions, as many visitors at once as asked.
// `bascule bench` prints its figures; tests use it to put a server under load while they
// kill it, dump it or fail it over.
package loadgen

import (
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
	"strings"
	"sync"
	"time"
)

// Options describe a load.
type Options struct {
	Target      string // base URL, e.g. http://127.0.0.1:8080
	Bot         string
	Concurrency int
	Duration    time.Duration
	Questions   []string // asked in turn; each dialog asks QuestionsPerDialog of them
	// QuestionsPerDialog is the length of a dialog after its welcome (default 4).
	QuestionsPerDialog int
	// OnAnswer is called for every question answered with 2xx, with the interaction id the
	// server returned (tests check that none is lost).
	OnAnswer func(interactionID, contextID string)
	Client   *http.Client
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
}

func (r Result) String() string {
	return fmt.Sprintf("%-8s %9d req %10.1f req/s  p50 %8s  p99 %8s  errors %d", r.Name, r.Requests, r.PerSecond,
		r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Errors)
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
		o.Questions = []string{"hello"}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	rec := &recorder{}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := &visitor{o: &o, rng: rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))}
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

// visitor is one simulated website visitor.
type visitor struct {
	o   *Options
	rng *rand.Rand
}

// dialog opens a context and asks questions; it returns the latencies of the requests that
// completed and the number that failed (a request cut by the end of the run is neither).
func (v *visitor) dialog(ctx context.Context) (lat []time.Duration, errs int) {
	client := fmt.Sprintf("%015x", v.rng.Uint64()&0xfffffffffffffff)
	// Each dialog comes from its own address, as real visitors do, so per-client limits
	// apply as they would in production (the server trusts X-Forwarded-For from loopback).
	ip := fmt.Sprintf("10.%d.%d.%d", v.rng.IntN(256), v.rng.IntN(256), 1+v.rng.IntN(254))
	ctxID := ""
	for i := 0; i <= v.o.QuestionsPerDialog; i++ {
		q := "#welcome#"
		if i > 0 {
			q = v.o.Questions[v.rng.IntN(len(v.o.Questions))]
		}
		t0 := time.Now()
		vals, err := v.talk(ctx, client, ip, ctxID, q, i == 0)
		switch {
		case ctx.Err() != nil:
			return lat, errs
		case err != nil:
			errs++
			continue
		}
		lat = append(lat, time.Since(t0))
		if id := vals["contextId"]; id != "" {
			ctxID = id
		}
		if i > 0 && v.o.OnAnswer != nil && vals["interactionId"] != "" {
			v.o.OnAnswer(vals["interactionId"], ctxID)
		}
	}
	return lat, errs
}

func (v *visitor) talk(ctx context.Context, client, ip, ctxID, q string, first bool) (map[string]string, error) {
	u := strings.TrimRight(v.o.Target, "/") + "/servlet/api/chat/talk/" + v.o.Bot
	if ctxID != "" {
		u += "/" + ctxID
	}
	form := url.Values{"userInput": {q}, "language": {"fr"}, "space": {"Defaut"}, "clientId": {client},
		"alreadyCame": {fmt.Sprint(!first)}, "solutionUsed": {"ASSISTANT"}, "variables": {"{}"}, "mode": {"U3luY2hyb24="}}
	if q == "#welcome#" {
		form.Set("doNotRegisterInteraction", "true")
	}
	if !isFrench(q) {
		form.Set("language", "en")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
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
	return DecodeValues(body)
}

// isFrench is a crude guess so the load asks French questions in French.
func isFrench(q string) bool {
	for _, w := range []string{"é", "è", "à", "ç", "ù", " je ", " mon ", " ma ", " mes ", " est ", " pour ", " les ", "vous", "comment", "quand", "où"} {
		if strings.Contains(" "+strings.ToLower(q)+" ", w) {
			return true
		}
	}
	return false
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

// GET hammers one URL (the server's /healthz: the baseline of the same machine, same run).
func GET(ctx context.Context, target string, concurrency int, d time.Duration, client *http.Client) Result {
	if client == nil {
		client = NewClient(concurrency)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
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
				err := get(ctx, client, target)
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
