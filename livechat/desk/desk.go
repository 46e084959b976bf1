// Package desk serves the operator desk: the page at /router (and /livechat2, which redirects
// there, as the seeds say) and its JSON API under /router/api/. It translates HTTP to the
// livechat service's calls and holds no rule of its own. Every API call but the login needs a
// desk session (Authorization: Bearer TOKEN); the token works on both servers of the pair, so
// the page can move to the other server when this one fails, and carry on.
package desk

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/httpx"
	"github.com/bascule/bascule/livechat"
)

// Paths the desk answers on, for the server's mux.
const (
	PagePath   = "/router"
	APIPrefix  = "/router/api/"
	LegacyPath = "/livechat2"
)

// Options configure the desk.
type Options struct {
	Livechat *livechat.Service
	Pair     livechat.Pair // nil: a standalone server
	// Script and Style are the URL paths of the desk's built files (web.DeskAssets).
	Script, Style string
	Proxies       httpx.Proxies
	Log           *slog.Logger
}

// Handler serves the desk.
type Handler struct {
	opt Options
	mux *http.ServeMux
}

// New builds the desk handler.
func New(opt Options) *Handler {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{opt: opt, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET "+PagePath, h.page)
	h.mux.HandleFunc(LegacyPath, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, PagePath, http.StatusFound) // the browser keeps the #fragment
	})
	h.mux.HandleFunc(LegacyPath+"/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, PagePath, http.StatusFound)
	})
	h.mux.HandleFunc("GET "+APIPrefix+"ping", h.ping)
	h.mux.HandleFunc("POST "+APIPrefix+"login", h.handle(h.login))
	h.authed("GET session", h.session)
	h.authed("POST logout", h.logout)
	h.authed("GET events", h.events)
	h.authed("GET dialogs", h.dialogs)
	h.authed("GET dialogs/{id}", h.dialog)
	h.authed("POST dialogs/{id}/messages", h.send)
	h.authed("POST dialogs/{id}/typing", h.typing)
	h.authed("POST dialogs/{id}/take", h.take)
	h.authed("POST dialogs/{id}/transfer", h.transfer)
	h.authed("POST dialogs/{id}/close", h.close)
	h.authed("POST status", h.status)
	h.authed("GET operators", h.operators)
	h.mux.HandleFunc(APIPrefix, h.handle(func(w http.ResponseWriter, r *http.Request) error {
		return bascule.NotFoundf("no desk endpoint %s %s", r.Method, r.URL.Path)
	}))
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) handle(fn func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			httpx.WriteError(w, r, h.opt.Log, err)
		}
	}
}

// call is an authenticated desk request.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	op    *bascule.Account
	token string
}

func (h *Handler) authed(pattern string, fn func(c *call) error) {
	method, path, _ := strings.Cut(pattern, " ")
	h.mux.HandleFunc(method+" "+APIPrefix+path, h.handle(func(w http.ResponseWriter, r *http.Request) error {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		op, err := h.opt.Livechat.Authenticate(r.Context(), token)
		if err != nil {
			return err
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		return fn(&call{w: w, r: r, op: op, token: token})
	}))
}

func reply(w http.ResponseWriter, v any) error {
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}

// decode reads a JSON body; unknown fields are errors that name the field.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && err != io.EOF {
		return bascule.FieldErrorf("body", "not the JSON expected: %v", err)
	}
	return nil
}

// Servers tells the desk where it can run: this server, the other one of the pair, and
// whether it should move there (this is the backup and the main is back).
type Servers struct {
	Self       string `json:"self,omitempty"`
	Peer       string `json:"peer,omitempty"`
	PreferPeer bool   `json:"preferPeer,omitempty"`
}

func (h *Handler) servers() Servers {
	p := h.opt.Pair
	if p == nil {
		return Servers{}
	}
	return Servers{Self: p.SelfURL(), Peer: p.PeerURL(), PreferPeer: p.PreferPeer()}
}

// sessionReply is the answer to a login or a renewal.
type sessionReply struct {
	*livechat.Session
	Status  string  `json:"status"`
	Servers Servers `json:"servers"`
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Login    string `json:"login"`
		Password string `json:"password"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := decode(r, &in); err != nil {
		return err
	}
	s, err := h.opt.Livechat.Login(r.Context(), in.Login, in.Password, h.opt.Proxies.ClientIP(r))
	if err != nil {
		if bascule.ErrorCode(err) == bascule.CodeLimit {
			httpx.TooManyRequests(w, time.Minute)
			return nil
		}
		return err
	}
	return reply(w, sessionReply{Session: s, Status: h.opt.Livechat.Status(s.Account.Login), Servers: h.servers()})
}

func (h *Handler) session(c *call) error {
	s, err := h.opt.Livechat.Renew(c.r.Context(), c.op, c.token)
	if err != nil {
		return err
	}
	return reply(c.w, sessionReply{Session: s, Status: h.opt.Livechat.Status(c.op.Login), Servers: h.servers()})
}

func (h *Handler) logout(c *call) error {
	if err := h.opt.Livechat.Logout(c.r.Context(), c.op, c.token); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// ping tells a desk on the other server that this one answers; any origin may ask.
func (h *Handler) ping(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	httpx.WriteRaw(w, http.StatusOK, []byte(`{"ok":true}`))
}

func (h *Handler) dialogs(c *call) error {
	ds, err := h.opt.Livechat.Dialogs(c.r.Context(), c.op)
	if err != nil {
		return err
	}
	return reply(c.w, map[string]any{"dialogs": ds})
}

func (h *Handler) dialog(c *call) error {
	d, err := h.opt.Livechat.Dialog(c.r.Context(), c.op, c.r.PathValue("id"), true)
	if err != nil {
		return err
	}
	return reply(c.w, d)
}

func (h *Handler) send(c *call) error {
	var in struct {
		ID   string `json:"id"`
		Text string `json:"text"`
	}
	if err := decode(c.r, &in); err != nil {
		return err
	}
	msg, err := h.opt.Livechat.Send(c.r.Context(), c.op, c.r.PathValue("id"), in.ID, in.Text)
	if err != nil {
		return err
	}
	return reply(c.w, msg)
}

func (h *Handler) typing(c *call) error {
	var in struct {
		Typing bool `json:"typing"`
	}
	if err := decode(c.r, &in); err != nil {
		return err
	}
	return h.done(c, h.opt.Livechat.Typing(c.r.Context(), c.op, c.r.PathValue("id"), in.Typing))
}

func (h *Handler) take(c *call) error {
	return h.done(c, h.opt.Livechat.Take(c.r.Context(), c.op, c.r.PathValue("id")))
}

func (h *Handler) transfer(c *call) error {
	var in struct {
		To string `json:"to"`
	}
	if err := decode(c.r, &in); err != nil {
		return err
	}
	return h.done(c, h.opt.Livechat.Transfer(c.r.Context(), c.op, c.r.PathValue("id"), in.To))
}

func (h *Handler) close(c *call) error {
	return h.done(c, h.opt.Livechat.Close(c.r.Context(), c.op, c.r.PathValue("id")))
}

func (h *Handler) status(c *call) error {
	var in struct {
		Status string `json:"status"`
	}
	if err := decode(c.r, &in); err != nil {
		return err
	}
	return h.done(c, h.opt.Livechat.SetStatus(c.r.Context(), c.op, in.Status))
}

func (h *Handler) done(c *call, err error) error {
	if err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) operators(c *call) error {
	ops, err := h.opt.Livechat.Operators(c.r.Context())
	if err != nil {
		return err
	}
	return reply(c.w, map[string]any{"operators": ops})
}

// page is the desk's HTML. Its script may only talk to this server and to the other one of
// the pair, which it probes before moving there.
func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	connect := "'self'"
	if s := h.servers(); s.Peer != "" {
		if u, err := url.Parse(s.Peer); err == nil && u.Host != "" {
			connect += " " + u.Scheme + "://" + u.Host
		}
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src "+connect+
		"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	hd.Set("Referrer-Policy", "no-referrer")
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`+
		`<title>Operator desk</title><link rel="stylesheet" href="%s"></head><body><main id="desk" aria-live="off"></main>`+
		`<script src="%s"></script></body></html>`, html.EscapeString(h.opt.Style), html.EscapeString(h.opt.Script))
}
