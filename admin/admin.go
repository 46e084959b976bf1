// Package admin is the admin JSON API (/api/admin/v1/): bots, their knowledge, matching
// groups and global sentences, dialogs and a few analytics. Every request needs an API token
// named in the configuration (Authorization: Bearer TOKEN); with no token configured the API
// is not served at all. Errors are JSON and name the field at fault.
package admin

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/httpx"
	"github.com/bascule/bascule/kb"
	"github.com/bascule/bascule/livechat"
)

// Prefix is where the admin API is mounted.
const Prefix = "/api/admin/v1/"

// Options configure the admin API.
type Options struct {
	KB *kb.Service
	// Accounts manages the operators of the livechat desk (nil: no account endpoints).
	Accounts *livechat.Accounts
	// Tokens maps each accepted token to its name (for the audit log).
	Tokens map[string]string
	Log    *slog.Logger
}

// API is the admin API handler.
type API struct {
	opt Options
	mux *http.ServeMux
}

// New builds the admin API.
func New(opt Options) *API {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	a := &API{opt: opt, mux: http.NewServeMux()}
	p := strings.TrimSuffix(Prefix, "/")
	a.handle("GET "+p+"/bots", a.listBots)
	a.handle("POST "+p+"/bots", a.createBot)
	a.handle("GET "+p+"/bots/{bot}", a.getBot)
	a.handle("PUT "+p+"/bots/{bot}", a.updateBot)
	a.handle("DELETE "+p+"/bots/{bot}", a.deleteBot)
	a.handle("GET "+p+"/bots/{bot}/knowledge", a.listKnowledge)
	a.handle("POST "+p+"/bots/{bot}/knowledge", a.createKnowledge)
	a.handle("GET "+p+"/bots/{bot}/knowledge/{id}", a.getKnowledge)
	a.handle("PUT "+p+"/bots/{bot}/knowledge/{id}", a.updateKnowledge)
	a.handle("DELETE "+p+"/bots/{bot}/knowledge/{id}", a.deleteKnowledge)
	a.handle("GET "+p+"/bots/{bot}/groups", a.listGroups)
	a.handle("PUT "+p+"/bots/{bot}/groups/{name}", a.putGroup)
	a.handle("DELETE "+p+"/bots/{bot}/groups/{name}", a.deleteGroup)
	a.handle("GET "+p+"/bots/{bot}/sentences", a.listSentences)
	a.handle("PUT "+p+"/bots/{bot}/sentences/{kind}/{lang}", a.putSentence)
	a.handle("GET "+p+"/bots/{bot}/export", a.export)
	a.handle("POST "+p+"/bots/{bot}/import", a.importKB)
	a.handle("GET "+p+"/bots/{bot}/dialogs", a.listDialogs)
	a.handle("GET "+p+"/bots/{bot}/analytics", a.analytics)
	a.handle("GET "+p+"/dialogs/{id}", a.getDialog)
	a.handle("GET "+p+"/uploads/{id}", a.getUpload)
	if opt.Accounts != nil {
		a.handle("GET "+p+"/accounts", a.listAccounts)
		a.handle("POST "+p+"/accounts", a.createAccount)
		a.handle("GET "+p+"/accounts/{login}", a.getAccount)
		a.handle("PUT "+p+"/accounts/{login}", a.updateAccount)
		a.handle("DELETE "+p+"/accounts/{login}", a.deleteAccount)
	}
	a.handle(p+"/", func(w http.ResponseWriter, r *http.Request) error {
		return bascule.NotFoundf("no admin endpoint %s %s", r.Method, r.URL.Path)
	})
	return a
}

// ServeHTTP authenticates, then routes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := a.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bascule admin"`)
		httpx.WriteError(w, r, a.opt.Log, bascule.Errorf(bascule.CodeUnauthorized, "an admin API token is required (Authorization: Bearer TOKEN)"))
		return
	}
	if r.Method != http.MethodGet {
		a.opt.Log.Info("admin write", "token", name, "method", r.Method, "path", r.URL.Path)
	}
	a.mux.ServeHTTP(w, r)
}

// authenticate compares the presented token with every configured one in constant time.
func (a *API) authenticate(r *http.Request) (string, bool) {
	tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found || tok == "" {
		return "", false
	}
	name, ok := "", false
	for t, n := range a.opt.Tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(tok)) == 1 {
			name, ok = n, true
		}
	}
	return name, ok
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (a *API) handle(pattern string, h handlerFunc) {
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			httpx.WriteError(w, r, a.opt.Log, err)
		}
	})
}

// maxBody bounds request bodies other than imports.
const maxBody = 1 << 20

// decode reads a JSON body strictly: unknown fields are errors that name the field.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return bascule.FieldErrorf(te.Field, "%s cannot hold a JSON %s", te.Type, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return bascule.FieldErrorf(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field")
		}
		return bascule.FieldErrorf("body", "invalid JSON: %v", err)
	}
	return nil
}

func reply(w http.ResponseWriter, status int, v any) error {
	httpx.WriteJSON(w, status, v)
	return nil
}

func botID(r *http.Request) string { return strings.ToLower(r.PathValue("bot")) }

func (a *API) listBots(w http.ResponseWriter, r *http.Request) error {
	bots, err := a.opt.KB.Store.Bots(r.Context())
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, map[string]any{"bots": nonNil(bots)})
}

func (a *API) createBot(w http.ResponseWriter, r *http.Request) error {
	var b bascule.Bot
	if err := decode(w, r, &b); err != nil {
		return err
	}
	if _, err := a.opt.KB.Store.Bot(r.Context(), b.ID); err == nil {
		return bascule.Errorf(bascule.CodeConflict, "bot %s exists; use PUT to change it", b.ID)
	}
	if err := a.opt.KB.PutBot(r.Context(), &b); err != nil {
		return err
	}
	return reply(w, http.StatusCreated, b)
}

func (a *API) getBot(w http.ResponseWriter, r *http.Request) error {
	b, err := a.opt.KB.Store.Bot(r.Context(), botID(r))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, b)
}

func (a *API) updateBot(w http.ResponseWriter, r *http.Request) error {
	var b bascule.Bot
	if err := decode(w, r, &b); err != nil {
		return err
	}
	if b.ID == "" {
		b.ID = botID(r)
	}
	if b.ID != botID(r) {
		return bascule.FieldErrorf("id", "does not match the bot of the URL")
	}
	if _, err := a.opt.KB.Store.Bot(r.Context(), b.ID); err != nil {
		return err
	}
	if err := a.opt.KB.PutBot(r.Context(), &b); err != nil {
		return err
	}
	return reply(w, http.StatusOK, b)
}

func (a *API) deleteBot(w http.ResponseWriter, r *http.Request) error {
	if err := a.opt.KB.DeleteBot(r.Context(), botID(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listKnowledge(w http.ResponseWriter, r *http.Request) error {
	m, err := a.opt.KB.Export(r.Context(), botID(r))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, map[string]any{"knowledge": nonNil(m.Knowledge)})
}

func knowledgeID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, bascule.FieldErrorf("id", "%q is not a knowledge id", r.PathValue("id"))
	}
	return id, nil
}

func (a *API) createKnowledge(w http.ResponseWriter, r *http.Request) error {
	k := bascule.Knowledge{Enabled: true}
	if err := decode(w, r, &k); err != nil {
		return err
	}
	if k.ID != 0 {
		if _, err := a.opt.KB.Store.Knowledge(r.Context(), botID(r), k.ID); err == nil {
			return bascule.Errorf(bascule.CodeConflict, "knowledge %d exists; use PUT to change it", k.ID)
		}
	}
	if err := a.opt.KB.PutKnowledge(r.Context(), botID(r), &k); err != nil {
		return err
	}
	return reply(w, http.StatusCreated, k)
}

func (a *API) getKnowledge(w http.ResponseWriter, r *http.Request) error {
	id, err := knowledgeID(r)
	if err != nil {
		return err
	}
	k, err := a.opt.KB.Store.Knowledge(r.Context(), botID(r), id)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, k)
}

func (a *API) updateKnowledge(w http.ResponseWriter, r *http.Request) error {
	id, err := knowledgeID(r)
	if err != nil {
		return err
	}
	if _, err := a.opt.KB.Store.Knowledge(r.Context(), botID(r), id); err != nil {
		return err
	}
	var k bascule.Knowledge
	if err := decode(w, r, &k); err != nil {
		return err
	}
	if k.ID != 0 && k.ID != id {
		return bascule.FieldErrorf("id", "does not match the knowledge of the URL")
	}
	k.ID = id
	if err := a.opt.KB.PutKnowledge(r.Context(), botID(r), &k); err != nil {
		return err
	}
	return reply(w, http.StatusOK, k)
}

func (a *API) deleteKnowledge(w http.ResponseWriter, r *http.Request) error {
	id, err := knowledgeID(r)
	if err != nil {
		return err
	}
	if err := a.opt.KB.DeleteKnowledge(r.Context(), botID(r), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listGroups(w http.ResponseWriter, r *http.Request) error {
	m, err := a.opt.KB.Export(r.Context(), botID(r))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, map[string]any{"groups": nonNil(m.Groups)})
}

func (a *API) putGroup(w http.ResponseWriter, r *http.Request) error {
	var g bascule.MatchingGroup
	if err := decode(w, r, &g); err != nil {
		return err
	}
	if g.Name == "" {
		g.Name = r.PathValue("name")
	}
	if g.Name != r.PathValue("name") {
		return bascule.FieldErrorf("name", "does not match the group of the URL")
	}
	if err := a.opt.KB.PutGroup(r.Context(), botID(r), &g); err != nil {
		return err
	}
	return reply(w, http.StatusOK, g)
}

func (a *API) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	if err := a.opt.KB.DeleteGroup(r.Context(), botID(r), r.PathValue("name"), r.URL.Query().Get("language")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listSentences(w http.ResponseWriter, r *http.Request) error {
	m, err := a.opt.KB.Export(r.Context(), botID(r))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, map[string]any{"sentences": nonNil(m.Sentences)})
}

func (a *API) putSentence(w http.ResponseWriter, r *http.Request) error {
	var s bascule.Sentence
	if err := decode(w, r, &s); err != nil {
		return err
	}
	s.Kind, s.Language = r.PathValue("kind"), r.PathValue("lang")
	if err := a.opt.KB.PutSentence(r.Context(), botID(r), &s); err != nil {
		return err
	}
	return reply(w, http.StatusOK, s)
}

func (a *API) export(w http.ResponseWriter, r *http.Request) error {
	m, err := a.opt.KB.Export(r.Context(), botID(r))
	if err != nil {
		return err
	}
	switch r.URL.Query().Get("format") {
	case "", "json":
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		return kb.EncodeJSON(w, m)
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		return kb.WriteCSV(w, m)
	}
	return bascule.FieldErrorf("format", "must be json or csv")
}

// importKB replaces a bot's knowledge with the uploaded file: JSON (the complete model) or CSV
// (its knowledge items; groups, sentences and settings are kept).
func (a *API) importKB(w http.ResponseWriter, r *http.Request) error {
	body := http.MaxBytesReader(w, r.Body, kb.MaxFileSize)
	var m *bascule.KnowledgeBase
	var err error
	switch r.URL.Query().Get("format") {
	case "", "json":
		if m, err = kb.DecodeJSON(body); err != nil {
			return err
		}
		if m.Bot.ID != botID(r) {
			return bascule.FieldErrorf("bot.id", "the file is for bot %s, not %s", m.Bot.ID, botID(r))
		}
	case "csv":
		if m, err = a.opt.KB.Export(r.Context(), botID(r)); err != nil {
			return err
		}
		if m.Knowledge, err = kb.ReadCSV(body, &m.Bot); err != nil {
			return err
		}
	default:
		return bascule.FieldErrorf("format", "must be json or csv")
	}
	rep, err := a.opt.KB.Import(r.Context(), m)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, rep)
}

func timeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, bascule.FieldErrorf(name, "%q is not an RFC 3339 time such as 2026-11-01T00:00:00Z", v)
	}
	return t, nil
}

func (a *API) listDialogs(w http.ResponseWriter, r *http.Request) error {
	from, err := timeParam(r, "from", time.Now().AddDate(0, 0, -1))
	if err != nil {
		return err
	}
	to, err := timeParam(r, "to", time.Time{})
	if err != nil {
		return err
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	ds, err := a.opt.KB.Store.Dialogs(r.Context(), bascule.DialogFilter{BotID: botID(r), From: from, To: to,
		After: r.URL.Query().Get("after"), Limit: limit})
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, map[string]any{"dialogs": nonNil(ds)})
}

func (a *API) getDialog(w http.ResponseWriter, r *http.Request) error {
	d, err := a.opt.KB.Store.Dialog(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	ins, err := a.opt.KB.Store.Interactions(r.Context(), d.ID, 0)
	if err != nil {
		return err
	}
	files, err := a.dialogUploads(r, d.ID)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, map[string]any{"dialog": d, "interactions": nonNil(ins), "uploads": files})
}

func (a *API) analytics(w http.ResponseWriter, r *http.Request) error {
	from, err := timeParam(r, "from", time.Now().AddDate(0, 0, -30))
	if err != nil {
		return err
	}
	to, err := timeParam(r, "to", time.Now().Add(time.Minute))
	if err != nil {
		return err
	}
	n, err := a.opt.KB.Store.CountDialogs(r.Context(), botID(r), from, to)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, map[string]any{"from": from, "to": to, "dialogs": n})
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
