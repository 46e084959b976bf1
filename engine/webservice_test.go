package engine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bascule/bascule/kb"
)

func TestRenderAnswerEscapesEveryValue(t *testing.T) {
	resp := map[string]any{
		"name": `<script>alert("x")</script>`,
		"link": "javascript:alert(1)",
		"none": nil,
	}
	vars := map[string]string{"visitor": `"><img src=x onerror=alert(1)>`}
	got, err := renderAnswer(`<p title="{{.vars.visitor}}">Hello {{.vars.visitor}}, {{.response.name}} <a href="{{.response.link}}">more</a></p>`, vars, resp)
	if err != nil {
		t.Fatal(err)
	}
	want := `<p title="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;">Hello &#34;&gt;&lt;img src=x onerror=alert(1)&gt;, &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; <a href="#ZgotmplZ">more</a></p>`
	if got != want {
		t.Errorf("answer\n got %s\nwant %s", got, want)
	}

	for answer, wantErr := range map[string]string{
		"{{.response.missing}}":    `answer template: template: answer:1:11: executing "answer" at <.response.missing>: map has no entry for key "missing"`,
		"{{.vars.city}}":           `answer template: template: answer:1:7: executing "answer" at <.vars.city>: map has no entry for key "city"`,
		"{{.response.none.field}}": `answer template: template: answer:1:11: executing "answer" at <.response.none.field>: nil pointer evaluating interface {}.field`,
		"{{.response.name":         `answer template: template: answer:1: unclosed action`,
		"":                         `answer template: the knowledge has no answer to render the service's object into`,
	} {
		if _, err := renderAnswer(answer, vars, resp); err == nil || err.Error() != wantErr {
			t.Errorf("%s:\n got %v\nwant %s", answer, err, wantErr)
		}
	}
}

// Answers are sanitised when they are written; their placeholders still work, in text and in
// links, and numbers print as the service sent them.
func TestRenderAnswerOfASanitisedAnswer(t *testing.T) {
	dec := json.NewDecoder(strings.NewReader(`{"t": 21.5, "pop": 1000000, "url": "https://meteo.example/lyon?d=1&u=c", "list": ["a", "b"], "ok": true}`))
	dec.UseNumber() // as outbound.WebServices decodes
	var resp any
	if err := dec.Decode(&resp); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ answer, want string }{
		{`<p>{{.response.t}} °C, {{.response.pop}} people</p>`, `<p>21.5 °C, 1000000 people</p>`},
		{`<p><a href="{{.response.url}}">Forecast</a></p>`, `<p><a href="https://meteo.example/lyon?d=1&amp;u=c" rel="nofollow">Forecast</a></p>`},
		{`<p>{{if .response.ok}}Open "today"{{else}}Closed{{end}} {{printf "%v°" .response.t}} {{index .response.list 1}}</p>`, `<p>Open &#34;today&#34; 21.5° b</p>`},
		{`<a href="https://maps.example/{{.vars.city}}">map</a>`, `<a href="https://maps.example/Lyon" rel="nofollow noopener" target="_blank">map</a>`},
	}
	for _, tt := range tests {
		got, err := renderAnswer(kb.SanitizeHTML(tt.answer), map[string]string{"city": "Lyon"}, resp)
		if err != nil || got != tt.want {
			t.Errorf("%s (stored as %s):\n got %s, %v\nwant %s", tt.answer, kb.SanitizeHTML(tt.answer), got, err, tt.want)
		}
	}
	// With no answer to fill, a service's plain text or number is the answer.
	if got, err := renderAnswer("", nil, "It is <b>sunny</b>"); err != nil || got != `<p>It is &lt;b&gt;sunny&lt;/b&gt;</p>` {
		t.Errorf("a text answer: %s, %v", got, err)
	}
}
