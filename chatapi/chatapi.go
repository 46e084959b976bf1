// Package chatapi is the chat API a website's chatbox talks to. It speaks the wire protocol of
// the dydu chatbox (../shared/reference/dydu-chatbox-protocol.md) so that an existing dydu
// chatbox works unchanged, under both /servlet/api/ and /api/: form-encoded requests,
// responses whose strings are base64 inside "values", CORS on every answer, and a 2xx for
// every endpoint the chatbox may call. It decodes and encodes only; the dialog rules live in
// the engine.
package chatapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/internal/httpx"
	"github.com/bascule/bascule/livechat"
	"github.com/bascule/bascule/ratelimit"
)

// Options configure the chat API.
type Options struct {
	Engine  *engine.Engine
	Log     *slog.Logger
	MaxBody int64 // request body limit (413 beyond)
	// PerClient limits requests per client address, PerBot per bot (nil: no limit).
	PerClient ratelimit.Limiter
	PerBot    ratelimit.Limiter
	Proxies   httpx.Proxies
	// Registerer receives the API's metrics (nil: not exported).
	Registerer prometheus.Registerer
	// Status answers serverstatus; it is optional.
	Status *Status
	// Livechat follows dialogs handed over to operators (nil: the livechat endpoints answer
	// that nothing happens).
	Livechat *livechat.Service
	// Now replaces the clock in tests.
	Now func() time.Time
}

// API serves the chat API.
type API struct {
	opt     Options
	mux     *http.ServeMux
	handler http.Handler

	requests atomic.Int64
	talks    atomic.Int64
	failures atomic.Int64

	metrics *metrics
}

// New builds the chat API.
func New(opt Options) *API {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = 64 << 10
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	a := &API{opt: opt, mux: http.NewServeMux(), metrics: newMetrics(opt.Registerer)}
	a.routes()
	a.handler = httpx.Recover(opt.Log, a.middleware(a.mux))
	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// Counters returns the request counters of serverstatus.
func (a *API) Counters() (requests, talks, failures int64) {
	return a.requests.Load(), a.talks.Load(), a.failures.Load()
}

// Prefixes under which the API answers: the dydu chatbox uses /servlet/api/ for ordinary
// host names and /api/ for localhost (reference §2).
var apiPrefixes = []string{"/servlet/api/", "/api/"}

// servletPrefixes hold the non-API servlet paths (history print, uploads).
var servletPrefixes = []string{"/servlet/", "/"}

func (a *API) routes() {
	for _, p := range apiPrefixes {
		a.handle(p+"serverstatus", a.serverStatus)
		a.handle(p+"whoami", a.whoami)
		a.handle(p+"account/dydubox/bots/language", a.languages)
		a.handleBot(p+"chat/talk/{bot}", a.talk)
		a.handleBot(p+"chat/talk/{bot}/{ctx}", a.talk)
		a.handleBot(p+"chat/history/{bot}", a.history)
		a.handleBot(p+"chat/availablecontext/{bot}/{ctx}", a.availableContext)
		a.handleBot(p+"chat/topknowledge/{bot}", a.topKnowledge)
		a.handleBot(p+"chat/pushrules/{bot}", a.empty)
		a.handleBot(p+"chat/welcomecall/{bot}", a.welcomeCall)
		a.handleBot(p+"chat/feedback/{bot}", a.feedback(bascule.FeedbackVote, "feedBack"))
		a.handleBot(p+"chat/feedback/insatisfaction/{bot}", a.feedback(bascule.FeedbackChoice, "choiceKey"))
		a.handleBot(p+"chat/feedback/comment/{bot}", a.feedback(bascule.FeedbackComment, "comment"))
		a.handleBot(p+"chat/search/{bot}", a.search)
		a.handleBot(p+"chat/gdpr/{bot}", a.gdpr)
		a.handleBot(p+"chat/variable/{bot}", a.variable)
		a.handleBot(p+"chat/context/{bot}", a.newContext)
		a.handleBot(p+"chat/status/{bot}/{ctx}", a.queueStatus)
		// Livechat: with no operator on the dialog there is nothing to report, and a 404 would
		// make the dydu chatbox retry and switch servers.
		a.handleBot(p+"chat/poll/last/{bot}", a.poll)
		a.handleBot(p+"chat/typing/{bot}", a.typing)
		a.handleBot(p+"chat/reading/{bot}", a.reading)
		a.handleBot("GET "+p+"chat/events/{bot}/{ctx}", a.events)
		a.handleBot(p+"chat/survey/configuration/{bot}", a.empty)
		a.handleBot(p+"chat/survey/{bot}", a.empty)
		a.handle(p+"saml2/status", a.empty)
		a.handle(p+"saml2/userinfo", a.empty)
	}
	for _, p := range servletPrefixes {
		a.handle(p+"history", a.printHistory)
		a.handle(p+uploadPath, a.fileUpload)
	}
	a.handle("/", func(w http.ResponseWriter, r *http.Request) error {
		return bascule.NotFoundf("no endpoint %s", r.URL.Path)
	})
}

// Paths returns the top-level path patterns the API needs, for the server's mux.
func Paths() []string { return []string{"/servlet/", "/api/", "/history", "/" + uploadPath} }

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (a *API) handle(pattern string, h handlerFunc) {
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.fail(w, r, err)
		}
	})
}

// handleBot registers an endpoint of one bot: the per-bot rate limit applies.
func (a *API) handleBot(pattern string, h handlerFunc) {
	a.handle(pattern, func(w http.ResponseWriter, r *http.Request) error {
		bot := strings.ToLower(r.PathValue("bot"))
		if ok, wait := allow(a.opt.PerBot, "bot:"+bot, a.opt.Now()); !ok {
			a.metrics.limited.WithLabelValues("bot").Inc()
			httpx.TooManyRequests(w, wait)
			return nil
		}
		return h(w, r)
	})
}

func allow(l ratelimit.Limiter, key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	return l.Allow(key, now)
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.failures.Add(1)
	if errors.Is(err, context.Canceled) {
		return // the visitor left; nobody reads an answer
	}
	httpx.WriteError(w, r, a.opt.Log, err)
}

// anyOrigin is the CORS header of every answer, shared (net/http only reads header values).
var anyOrigin = []string{"*"}

// middleware applies what every chat API request gets: CORS headers (also on errors), the
// OPTIONS preflight, one trailing slash and doubled slashes tolerated, the body limit and the
// per-client rate limit.
func (a *API) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		h := w.Header()
		h["Access-Control-Allow-Origin"] = anyOrigin
		// A chatbox on another origin can read a 429's Retry-After only when it is exposed.
		h.Set("Access-Control-Expose-Headers", "Retry-After")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
			} else {
				h.Set("Access-Control-Allow-Headers", "Authorization, OIDCAccessToken, Content-Type")
			}
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if p := cleanPath(r.URL.Path); p != r.URL.Path {
			r.URL.Path = p
			r.URL.RawPath = ""
		}
		if ok, wait := allow(a.opt.PerClient, a.opt.Proxies.ClientIP(r), a.opt.Now()); !ok {
			a.metrics.limited.WithLabelValues("client").Inc()
			httpx.TooManyRequests(w, wait)
			return
		}
		limit := a.opt.MaxBody
		if isUpload(r.URL.Path) {
			limit = a.opt.Engine.MaxUpload() + multipartOverhead
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// cleanPath collapses doubled slashes and drops one trailing slash: the dydu chatbox strips
// one itself but integrators' copies of it vary.
func cleanPath(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	return p
}

// form parses the request's form (query and url-encoded body). A body over the limit is a 413.
func form(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mbe
		}
		return bascule.FieldErrorf("body", "not a valid form: %v", err)
	}
	return nil
}

// bot returns the bot of the request path (lowercase, as ids are stored).
func botOf(r *http.Request) string { return strings.ToLower(r.PathValue("bot")) }

func (a *API) empty(w http.ResponseWriter, r *http.Request) error {
	httpx.WriteRaw(w, http.StatusOK, []byte("{}"))
	return nil
}

type metrics struct {
	talkSeconds prometheus.Histogram
	answers     *prometheus.CounterVec
	limited     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		talkSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bascule_talk_seconds",
			Help: "Time to answer a question, storage included.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bascule_answers_total",
			Help: "Answers by type (DMUnderstoodQuestion, RWReword, GBMisunderstoodQuestion...)."}, []string{"type"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bascule_rate_limited_total",
			Help: "Requests refused by a rate limit, by limit."}, []string{"limit"}),
	}
	if reg != nil {
		reg.MustRegister(m.talkSeconds, m.answers, m.limited)
	}
	return m
}
