package outbound

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/bascule/bascule"
)

// Limits of a web-service call: a visitor waits for the answer, and the answer is kept in
// memory while it is rendered.
const (
	DefaultWebServiceTimeout = 3 * time.Second
	MaxResponseSize          = 1 << 20
)

// WebServices makes the outbound calls knowledge answers declare (bascule.WebService); the
// engine renders the decoded answer into the knowledge's answer.
//
// Dialog variables are typed by visitors, so they never change the shape of a request: every
// value a URL or body template inserts is escaped for where it lands, automatically, and a
// template author has nothing to remember:
//   - in the URL, {{.name}} is percent-encoded as one URL component (path segment or query
//     value: "/" "?" "&" "=" "#" and the like are encoded), so a variable cannot change the
//     host, add a path segment or a query parameter;
//   - in a JSON body, {{.name}} is escaped as the inside of a JSON string, so write
//     {"city": "{{.city}}"}; the rendered body must be valid JSON;
//   - in a form body (application/x-www-form-urlencoded), as a URL component;
//   - in an XML body (a Content-Type containing "xml", such as SOAP), as XML text;
//   - in a text/plain body, as is.
//
// A body of any other Content-Type is refused, and a body without one must be JSON (it gets
// Content-Type: application/json). A variable the template uses but the dialog lacks is an
// error, not an empty value.
type WebServices struct {
	client *http.Client
}

// NewWebServices returns a caller that sends through client, normally NewClient(watcher) so
// that calls honour options.env.
func NewWebServices(client *http.Client) *WebServices {
	return &WebServices{client: client}
}

// Call renders ws's URL and body over the dialog variables, sends the request and returns the
// decoded JSON answer (numbers as json.Number, so they print as sent). Any failure (a template
// error, no answer within ws.Timeout, a status other than 2xx, an answer larger than
// MaxResponseSize or not JSON) is an error naming the service; the caller then answers
// ws.Fallback.
func (c *WebServices) Call(ctx context.Context, ws bascule.WebService, vars map[string]string) (any, error) {
	v, err := c.call(ctx, ws, vars)
	if err != nil {
		return nil, fmt.Errorf("web service %q: %w", ws.Name, err)
	}
	return v, nil
}

func (c *WebServices) call(ctx context.Context, ws bascule.WebService, vars map[string]string) (any, error) {
	req, err := newRequest(ws, vars)
	if err != nil {
		return nil, err
	}
	timeout := time.Duration(ws.Timeout)
	if timeout <= 0 {
		timeout = DefaultWebServiceTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("no answer within %v", timeout))
	defer cancel()
	resp, err := c.client.Do(req.WithContext(ctx))
	if err != nil {
		if pe := (*ProxyError)(nil); ctx.Err() != nil && errors.As(err, &pe) {
			return nil, fmt.Errorf("%w (through proxy %s)", context.Cause(ctx), pe.Proxy)
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		// Without the URL, as in newRequest: the service's name says enough.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, errors.New(describeStatus(resp))
	}
	if resp.ContentLength > MaxResponseSize {
		return nil, fmt.Errorf("answer of %d bytes is larger than the %d KiB allowed", resp.ContentLength, MaxResponseSize>>10)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > MaxResponseSize {
		return nil, fmt.Errorf("answer is larger than the %d KiB allowed", MaxResponseSize>>10)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("answer is not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("answer is not JSON: data after the JSON value")
	}
	return v, nil
}

// newRequest renders the templates and builds the request, without sending it.
func newRequest(ws bascule.WebService, vars map[string]string) (*http.Request, error) {
	rawURL, err := render("url", ws.URL, vars, escapeComponent)
	if err != nil {
		return nil, err
	}
	// Errors leave the URL out: it may hold an API key or a visitor's data.
	u, err := url.Parse(rawURL)
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		return nil, fmt.Errorf("url: %w", ue.Err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("url: must start with http:// or https:// and a host name")
	}
	contentType := ""
	for k, v := range ws.Headers {
		if strings.EqualFold(k, "Content-Type") {
			contentType = v
		}
	}
	var body io.Reader
	if ws.Body != "" {
		if contentType == "" {
			if t := strings.TrimSpace(ws.Body); !strings.HasPrefix(t, "{") && !strings.HasPrefix(t, "[") {
				return nil, errors.New("body: set a Content-Type header (application/json, application/x-www-form-urlencoded, application/xml or text/plain)")
			}
			contentType = "application/json"
		}
		escape, err := bodyEscaper(contentType)
		if err != nil {
			return nil, err
		}
		b, err := render("body", ws.Body, vars, escape)
		if err != nil {
			return nil, err
		}
		if strings.Contains(contentType, "json") && (!json.Valid([]byte(b)) || !validJSONTemplate(ws.Body, vars)) {
			return nil, errors.New(`body: the rendered body is not valid JSON (put variables in quotes: "{{.name}}")`)
		}
		body = strings.NewReader(b)
	}
	method := strings.ToUpper(ws.Method)
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, v := range ws.Headers {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	req.Header.Set("User-Agent", "Bascule/"+bascule.Version)
	if a := ws.Auth; a != nil {
		switch a.Kind {
		case "basic":
			req.SetBasicAuth(a.User, a.Password)
		case "bearer":
			req.Header.Set("Authorization", "Bearer "+a.Token)
		default:
			return nil, fmt.Errorf("auth.kind %q: must be basic or bearer", a.Kind)
		}
	}
	return req, nil
}

// render executes a text template over the variables, each escaped beforehand: the template
// text is configuration and trusted, only the values come from visitors.
func render(what, tmpl string, vars map[string]string, escape func(string) string) (string, error) {
	t, err := template.New(what).Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("%s template: %w", what, err)
	}
	escaped := make(map[string]string, len(vars))
	for k, v := range vars {
		escaped[k] = escape(v)
	}
	var b strings.Builder
	if err := t.Execute(&b, escaped); err != nil {
		return "", fmt.Errorf("%s template: %w", what, err)
	}
	return b.String(), nil
}

// validJSONTemplate renders a JSON body with every variable replaced by text that is valid
// only inside a JSON string: a variable outside quotes would let a visitor's "1" or "[]"
// through, and change the type of a field. Both renders must succeed.
func validJSONTemplate(tmpl string, vars map[string]string) bool {
	b, err := render("body", tmpl, vars, func(string) string { return "not a JSON token" })
	return err == nil && json.Valid([]byte(b))
}

// bodyEscaper returns how values are escaped in a body of the given Content-Type.
func bodyEscaper(contentType string) (func(string) string, error) {
	ct := strings.ToLower(contentType)
	switch {
	case strings.Contains(ct, "json"):
		return escapeJSONString, nil
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		return escapeComponent, nil
	case strings.Contains(ct, "xml"):
		return escapeXML, nil
	case strings.HasPrefix(ct, "text/plain"):
		return func(s string) string { return s }, nil
	}
	return nil, fmt.Errorf("body: Content-Type %q: variables can be escaped only for JSON, form, XML and text/plain bodies", contentType)
}

// escapeComponent percent-encodes every byte but RFC 3986's unreserved characters, which is
// right in a path segment and in a query value alike. "." and ".." are encoded too, lest a
// server resolve them as path steps.
func escapeComponent(s string) string {
	if s == "." || s == ".." {
		return strings.Repeat("%2E", len(s))
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// escapeJSONString returns s as the inside of a JSON string (quotes, backslashes, control
// characters and <>& escaped).
func escapeJSONString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b[1 : len(b)-1])
}

func escapeXML(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}

// describeStatus explains a service's error status, naming the proxy when the request went
// through one: some proxies answer 401 to wrong proxy credentials.
func describeStatus(resp *http.Response) string {
	msg := "HTTP " + resp.Status
	if c := proxyOf(resp); c != nil {
		msg += " through proxy " + c.proxy.Addr()
		if resp.StatusCode == http.StatusUnauthorized {
			msg += fmt.Sprintf(" (the service or the proxy refused the credentials: check the web service's auth, and %s.proxyUser and %s.proxyPassword)", c.scheme, c.scheme)
		}
	}
	return msg
}
