package engine

import (
	"context"
	"fmt"
	"html"
	htmltemplate "html/template"
	"log/slog"
	"maps"
	"regexp"
	"strings"

	"github.com/bascule/bascule"
)

// WebServices makes the outbound calls that knowledge answers declare (bascule.WebService):
// it renders the call over the dialog's variables, sends it and returns the decoded JSON
// answer. outbound.WebServices is the one a server uses; it honours options.env. Any error
// makes the answer the web service's fallback.
type WebServices interface {
	Call(ctx context.Context, ws bascule.WebService, vars map[string]string) (any, error)
}

// Bounds of the variables a question carries from the page (the talk's variables field):
// they live for the request only, but every one is a map entry and may be sent out.
const (
	maxClientVariables = 50
	maxVariableName    = 100
	maxVariableValue   = 4000
)

// webServiceFailed is the answer of a web service that fails and declares no fallback.
var webServiceFailed = map[string]string{
	"en": "<p>Sorry, this information cannot be obtained right now. Please try again in a moment.</p>",
	"fr": "<p>Désolé, cette information ne peut pas être obtenue pour le moment. Réessayez dans un instant.</p>",
}

// knowledgeText returns the answer of a knowledge item: its HTML, or for an item that names a
// web service, its HTML rendered over the service's answer, and the service's fallback when the
// call fails. client holds the variables the page sent with the question; they win over the
// dialog's stored variables for this answer only.
func (e *Engine) knowledgeText(ctx context.Context, bot *Bot, d *bascule.Dialog, isNew bool, k *bascule.Knowledge, client map[string]string) (string, error) {
	if k.WebService == "" {
		return k.Answer, nil
	}
	vars := map[string]string{}
	if !isNew { // a new dialog has no stored variables yet: no query
		stored, err := e.store.Variables(ctx, d.ID)
		if err != nil {
			return "", err
		}
		maps.Copy(vars, stored)
	}
	n := 0
	for name, value := range client {
		if name = limit(name, maxVariableName); name == "" {
			continue
		}
		if n++; n > maxClientVariables {
			break
		}
		vars[name] = limit(value, maxVariableValue)
	}
	fail := func(ws *bascule.WebService, err error) string {
		e.opt.Log.LogAttrs(ctx, slog.LevelWarn, "web service failed: answered its fallback", slog.String("webService", k.WebService),
			slog.Int64("knowledge", k.ID), slog.String("bot", d.BotID), slog.String("dialog", d.ID), slog.String("err", err.Error()))
		if ws != nil && strings.TrimSpace(ws.Fallback) != "" {
			return ws.Fallback
		}
		if s, ok := webServiceFailed[d.Language]; ok {
			return s
		}
		return webServiceFailed["en"]
	}
	ws := bot.webService(k.WebService)
	switch {
	case ws == nil:
		// Validation keeps names in step; a service removed from the settings later lands here.
		return fail(nil, fmt.Errorf("no web service %q in the bot's settings", k.WebService)), nil
	case e.opt.WebServices == nil:
		return fail(ws, fmt.Errorf("this server makes no outbound calls")), nil
	}
	resp, err := e.opt.WebServices.Call(ctx, *ws, vars)
	if err != nil {
		return fail(ws, err), nil
	}
	text, err := renderAnswer(k.Answer, vars, resp)
	if err != nil {
		return fail(ws, err), nil
	}
	return text, nil
}

// webService returns the bot's web service of that name, or nil.
func (b *Bot) webService(name string) *bascule.WebService {
	for i := range b.KB.Bot.Settings.WebServices {
		if ws := &b.KB.Bot.Settings.WebServices[i]; ws.Name == name {
			return ws
		}
	}
	return nil
}

// renderAnswer fills an answer's {{.vars.name}} and {{.response.field.subfield}} placeholders
// with html/template, so every inserted value is escaped for its place in the HTML (a service
// answering "<script>" shows the text, a javascript: URL in an href is neutralised). A missing
// variable or field is an error: the caller then answers the fallback rather than a sentence
// with a hole in it. An empty answer shows a service that answers a plain string or number.
func renderAnswer(answerHTML string, vars map[string]string, response any) (string, error) {
	if strings.TrimSpace(answerHTML) == "" {
		answerHTML = "<p>{{.response}}</p>"
		if _, ok := response.(map[string]any); ok {
			return "", fmt.Errorf("answer template: the knowledge has no answer to render the service's object into")
		}
		if _, ok := response.([]any); ok {
			return "", fmt.Errorf("answer template: the knowledge has no answer to render the service's list into")
		}
	}
	t, err := htmltemplate.New("answer").Option("missingkey=error").Parse(restoreActions(answerHTML))
	if err != nil {
		return "", fmt.Errorf("answer template: %w", err)
	}
	if vars == nil {
		vars = map[string]string{}
	}
	var b strings.Builder
	if err := t.Execute(&b, map[string]any{"vars": vars, "response": response}); err != nil {
		return "", fmt.Errorf("answer template: %w", err)
	}
	return b.String(), nil
}

// restoreActions undoes what the HTML sanitiser, which every stored answer went through, did
// to the template's actions: it percent-encodes their braces in URL attributes
// (href="{{.response.url}}") and escapes their quotes in text ({{printf "%.1f" .response.t}}).
// Restoring them is safe: actions only read the data, and html/template escapes everything
// they print. (An action with spaces in a URL attribute does not survive the sanitiser: links
// take a plain placeholder.)
func restoreActions(s string) string {
	s = encodedBraces.Replace(s)
	return action.ReplaceAllStringFunc(s, html.UnescapeString)
}

var (
	encodedBraces = strings.NewReplacer("%7B%7B", "{{", "%7b%7b", "{{", "%7D%7D", "}}", "%7d%7d", "}}")
	action        = regexp.MustCompile(`\{\{.*?\}\}`)
)
