package outbound

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bascule/bascule"
)

// directServices calls through a transport with no options.env, as most servers run.
func directServices(t *testing.T) *WebServices {
	t.Helper()
	w, err := Load(filepath.Join(t.TempDir(), "options.env"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewWebServices(NewClient(w))
}

func TestCallGETEscapesURLVariables(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		fmt.Fprint(w, `{"temperature": 21.5, "population": 1000000, "city": {"name": "Saint-Étienne"}}`)
	}))
	defer srv.Close()

	ws := bascule.WebService{Name: "weather", URL: srv.URL + "/weather/{{.city}}?q={{.q}}&lang=fr"}
	vars := map[string]string{"city": "Saint Étienne/../admin", "q": "a&b=c#d"}
	resp, err := directServices(t).Call(t.Context(), ws, vars)
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != "GET" || got.URL.EscapedPath() != "/weather/Saint%20%C3%89tienne%2F..%2Fadmin" {
		t.Errorf("request %s %s", got.Method, got.URL.EscapedPath())
	}
	if q := got.URL.Query(); len(q) != 2 || q.Get("q") != "a&b=c#d" || q.Get("lang") != "fr" {
		t.Errorf("query %v: a variable changed the parameters", q)
	}
	if ua := got.Header.Get("User-Agent"); ua != "Bascule/"+bascule.Version {
		t.Errorf("User-Agent %q", ua)
	}
	// Numbers stay as sent, so that an answer shows 1000000, not 1e+06.
	m := resp.(map[string]any)
	if got := fmt.Sprint(m["temperature"], " ", m["population"], " ", m["city"]); got != "21.5 1000000 map[name:Saint-Étienne]" {
		t.Errorf("decoded answer %s", got)
	}
}

func TestCallURLVariableCannotChangeTheHostOrWalkThePath(t *testing.T) {
	for _, v := range []string{"..", ".", "evil.example@", "x/../../y"} {
		req, err := newRequest(bascule.WebService{URL: "https://api.example.com/items/{{.id}}"}, map[string]string{"id": v})
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if req.URL.Host != "api.example.com" || strings.Count(req.URL.EscapedPath(), "/") != 2 || strings.Contains(req.URL.EscapedPath(), "/..") {
			t.Errorf("%q gives %s", v, req.URL)
		}
	}
}

func TestCallPOSTJSONBody(t *testing.T) {
	var body map[string]any
	var contentType string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		contentType = r.Header.Get("Content-Type")
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, `{"ok": true}`)
	}))
	defer srv.Close()

	ws := bascule.WebService{Name: "order", Method: "post", URL: srv.URL + "/orders",
		Body: `{"ref": "{{.ref}}", "note": "{{.note}}", "qty": 2}`}
	note := "quote \" backslash \\ newline \n tag </script> unicode é \u2028"
	if _, err := directServices(t).Call(t.Context(), ws, map[string]string{"ref": "A1", "note": note}); err != nil {
		t.Fatal(err)
	}
	if contentType != "application/json" || body["ref"] != "A1" || body["note"] != note || body["qty"] != 2.0 || len(body) != 3 {
		t.Errorf("server got %s %v", contentType, body)
	}
}

func TestCallBodyEscaping(t *testing.T) {
	v := map[string]string{"x": `a&b=<c> "d" 'e'`}
	tests := []struct {
		contentType, body, want string
	}{
		{"application/x-www-form-urlencoded", "name={{.x}}&n=1", "name=a%26b%3D%3Cc%3E%20%22d%22%20%27e%27&n=1"},
		{"text/xml; charset=utf-8", "<q>{{.x}}</q>", "<q>a&amp;b=&lt;c&gt; &#34;d&#34; &#39;e&#39;</q>"},
		{"text/plain", "{{.x}}", `a&b=<c> "d" 'e'`},
	}
	for _, tt := range tests {
		ws := bascule.WebService{Method: "POST", URL: "http://127.0.0.1/", Body: tt.body, Headers: map[string]string{"content-type": tt.contentType}}
		req, err := newRequest(ws, v)
		if err != nil {
			t.Fatalf("%s: %v", tt.contentType, err)
		}
		b, _ := io.ReadAll(req.Body)
		if string(b) != tt.want || req.Header.Get("Content-Type") != tt.contentType {
			t.Errorf("%s body %s, want %s", tt.contentType, b, tt.want)
		}
		if tt.contentType == "application/x-www-form-urlencoded" {
			if f, _ := url.ParseQuery(string(b)); f.Get("name") != v["x"] {
				t.Errorf("form value %q", f.Get("name"))
			}
		}
		if strings.Contains(tt.contentType, "xml") {
			var q struct {
				Text string `xml:",chardata"`
			}
			if err := xml.Unmarshal(b, &q); err != nil || q.Text != v["x"] {
				t.Errorf("xml value %q, %v", q.Text, err)
			}
		}
	}
}

func TestCallRefusesWhatItCannotEscapeOrSend(t *testing.T) {
	tests := []struct {
		ws   bascule.WebService
		vars map[string]string
		want string
	}{
		{bascule.WebService{URL: "http://127.0.0.1/{{.missing}}"}, nil,
			`url template: template: url:1:19: executing "url" at <.missing>: map has no entry for key "missing"`},
		{bascule.WebService{URL: "http://127.0.0.1/{{.x"}, nil, "url template: template: url:1: unclosed action"},
		{bascule.WebService{URL: "http://127.0.0.1:port/?key=secret"}, nil, `url: invalid port ":port" after host`},
		{bascule.WebService{URL: "{{.x}}/path"}, map[string]string{"x": "http://evil"}, "url: must start with http:// or https:// and a host name"},
		{bascule.WebService{URL: "http://127.0.0.1/", Body: `{"n": {{.n}}}`}, map[string]string{"n": "1"},
			`body: the rendered body is not valid JSON (put variables in quotes: "{{.name}}")`},
		{bascule.WebService{URL: "http://127.0.0.1/", Body: "name=x"}, nil,
			"body: set a Content-Type header (application/json, application/x-www-form-urlencoded, application/xml or text/plain)"},
		{bascule.WebService{URL: "http://127.0.0.1/", Body: "x", Headers: map[string]string{"Content-Type": "text/html"}}, nil,
			`body: Content-Type "text/html": variables can be escaped only for JSON, form, XML and text/plain bodies`},
		{bascule.WebService{URL: "http://127.0.0.1/", Auth: &bascule.WebServiceAuth{Kind: "digest"}}, nil,
			`auth.kind "digest": must be basic or bearer`},
	}
	for _, tt := range tests {
		_, err := newRequest(tt.ws, tt.vars)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%+v:\n got %v\nwant %s", tt.ws, err, tt.want)
		}
	}
}

func TestCallAuthentication(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		switch {
		case r.URL.Path == "/basic" && ok && user == "bot" && password == "pa:ss":
		case r.URL.Path == "/bearer" && r.Header.Get("Authorization") == "Bearer t0ken":
		default:
			w.Header().Set("WWW-Authenticate", `Basic realm="api"`)
			http.Error(w, `{"error": "who are you"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"user": "known"}`)
	}))
	defer srv.Close()
	c := directServices(t)
	for _, ws := range []bascule.WebService{
		{Name: "b", URL: srv.URL + "/basic", Auth: &bascule.WebServiceAuth{Kind: "basic", User: "bot", Password: "pa:ss"}},
		{Name: "t", URL: srv.URL + "/bearer", Auth: &bascule.WebServiceAuth{Kind: "bearer", Token: "t0ken"}},
	} {
		if _, err := c.Call(t.Context(), ws, nil); err != nil {
			t.Errorf("%s: %v", ws.Name, err)
		}
	}
	ws := bascule.WebService{Name: "b", URL: srv.URL + "/basic", Auth: &bascule.WebServiceAuth{Kind: "basic", User: "bot", Password: "wrong"}}
	if _, err := c.Call(t.Context(), ws, nil); err == nil || err.Error() != `web service "b": HTTP 401 Unauthorized` {
		t.Errorf("wrong password: %v", err)
	}
}

func TestCallFailures(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html>not json</html>")
	})
	mux.HandleFunc("/two", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"a": 1} {"b": 2}`)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(MaxResponseSize+10))
		fmt.Fprintf(w, `{"a": "%s"}`, strings.Repeat("x", MaxResponseSize))
	})
	mux.HandleFunc("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
		// Flushing early means no Content-Length: the limit must hold while reading.
		fmt.Fprint(w, `{"a": "`)
		w.(http.Flusher).Flush()
		for range MaxResponseSize / 1024 {
			fmt.Fprint(w, strings.Repeat("x", 1024))
		}
		fmt.Fprint(w, `"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c := directServices(t)
	tests := []struct {
		path    string
		timeout time.Duration
		want    string
	}{
		{"/slow", 100 * time.Millisecond, `web service "s": no answer within 100ms`},
		{"/down", 0, `web service "s": HTTP 503 Service Unavailable`},
		{"/html", 0, `web service "s": answer is not JSON: invalid character '<' looking for beginning of value`},
		{"/two", 0, `web service "s": answer is not JSON: data after the JSON value`},
		{"/big", 0, `web service "s": answer of 1048586 bytes is larger than the 1024 KiB allowed`},
		{"/big-chunked", 0, `web service "s": answer is larger than the 1024 KiB allowed`},
	}
	for _, tt := range tests {
		start := time.Now()
		ws := bascule.WebService{Name: "s", URL: srv.URL + tt.path, Timeout: bascule.Duration(tt.timeout)}
		_, err := c.Call(t.Context(), ws, nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got %v\nwant %s", tt.path, err, tt.want)
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("%s took %v", tt.path, time.Since(start))
		}
	}
}
