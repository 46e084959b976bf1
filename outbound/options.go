// Package outbound holds what Bascule needs to call other servers: the proxy settings read
// from options.env (the dydu file format, with Java property names), an HTTP transport that
// honours the current settings on every request, and the web-service calls that knowledge
// answers make.
package outbound

import (
	"bytes"
	"fmt"
	"github.com/bascule/bascule/internal/typo"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// The keys options.env accepts: the standard Java proxy properties, as in the dydu platform.
const (
	KeyHTTPHost      = "http.proxyHost"
	KeyHTTPPort      = "http.proxyPort"
	KeyHTTPUser      = "http.proxyUser"
	KeyHTTPPassword  = "http.proxyPassword"
	KeyNonProxyHosts = "http.nonProxyHosts"
	KeyHTTPSHost     = "https.proxyHost"
	KeyHTTPSPort     = "https.proxyPort"
	KeyHTTPSUser     = "https.proxyUser"
	KeyHTTPSPassword = "https.proxyPassword"
)

var knownKeys = []string{KeyHTTPHost, KeyHTTPPort, KeyHTTPUser, KeyHTTPPassword, KeyNonProxyHosts,
	KeyHTTPSHost, KeyHTTPSPort, KeyHTTPSUser, KeyHTTPSPassword}

// DefaultNonProxyHosts is what Java bypasses when http.nonProxyHosts is not set: the machine
// itself, which a proxy elsewhere could not reach anyway. Setting http.nonProxyHosts replaces
// it, as in Java (so "http.nonProxyHosts=" proxies even localhost).
var DefaultNonProxyHosts = []string{"localhost", "127.*", "[::1]", "0.0.0.0", "[::0]"}

// MaxOptionsSize bounds options.env: it holds a few settings, so anything larger is a mistake
// (a wrong path), not something to read into memory.
const MaxOptionsSize = 64 << 10

// masked replaces passwords in every view meant for people or the status API.
const masked = "****"

// DefaultPath returns where options.env is read when the configuration names no other path:
// ~/.bascule/options.env (dydu's was ~/.dydu/options.env).
func DefaultPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("options.env: no home directory to find ~/.bascule/options.env: %w", err)
	}
	return filepath.Join(home, ".bascule", "options.env"), nil
}

// Proxy is one HTTP proxy: the one for http:// URLs or the one for https:// URLs (reached
// with CONNECT).
type Proxy struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
}

// URL returns the proxy as net/http wants it; user and password become Proxy-Authorization.
func (p *Proxy) URL() *url.URL {
	u := &url.URL{Scheme: "http", Host: p.Addr()}
	if p.User != "" {
		u.User = url.UserPassword(p.User, p.Password)
	}
	return u
}

// Addr returns "host:port", the way errors and logs name the proxy (never with credentials).
func (p *Proxy) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// ProxySettings are the settings of one options.env. The zero value means "no proxy".
type ProxySettings struct {
	HTTP  *Proxy `json:"http,omitempty"`  // for http:// URLs; nil: direct
	HTTPS *Proxy `json:"https,omitempty"` // for https:// URLs; nil: direct
	// NonProxyHosts are the patterns of http.nonProxyHosts, for both schemes (Java has no
	// https.nonProxyHosts). DefaultNonProxyHosts when the key is absent.
	NonProxyHosts []string `json:"nonProxyHosts,omitempty"`
}

// ProxyFor returns the proxy a request to u goes through, or nil for a direct connection.
func (s *ProxySettings) ProxyFor(u *url.URL) *Proxy {
	var p *Proxy
	switch u.Scheme {
	case "http":
		p = s.HTTP
	case "https":
		p = s.HTTPS
	}
	if p == nil || s.bypass(u.Hostname()) {
		return nil
	}
	return p
}

// bypass applies http.nonProxyHosts the way Java does: case-insensitive, with * allowed at
// the start and/or the end of a pattern, matched against the host without its port.
func (s *ProxySettings) bypass(host string) bool {
	host = strings.ToLower(host)
	for _, p := range s.NonProxyHosts {
		p = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(p, "["), "]"))
		lead, trail := strings.HasPrefix(p, "*"), strings.HasSuffix(p, "*") && len(p) > 1
		core := strings.TrimSuffix(strings.TrimPrefix(p, "*"), "*")
		switch {
		case lead && trail && strings.Contains(host, core),
			lead && !trail && strings.HasSuffix(host, core),
			!lead && trail && strings.HasPrefix(host, core),
			!lead && !trail && host == core:
			return true
		}
	}
	return false
}

// Masked returns a copy with every password replaced by "****": the view for the status API
// (ProxySettings marshals its passwords otherwise).
func (s *ProxySettings) Masked() *ProxySettings {
	return &ProxySettings{HTTP: s.HTTP.masked(), HTTPS: s.HTTPS.masked(), NonProxyHosts: slices.Clone(s.NonProxyHosts)}
}

func (p *Proxy) masked() *Proxy {
	if p == nil {
		return nil
	}
	m := *p
	if m.Password != "" {
		m.Password = masked
	}
	return &m
}

// String describes the settings for logs and the CLI, without passwords:
// "http: bob@proxy:3128, https: direct, nonProxyHosts: localhost|*.internal".
func (s *ProxySettings) String() string {
	describe := func(p *Proxy) string {
		switch {
		case p == nil:
			return "direct"
		case p.User != "":
			return p.User + "@" + p.Addr()
		}
		return p.Addr()
	}
	return fmt.Sprintf("http: %s, https: %s, nonProxyHosts: %s", describe(s.HTTP), describe(s.HTTPS), strings.Join(s.NonProxyHosts, "|"))
}

// Equal reports whether two settings route every request the same way.
func (s *ProxySettings) Equal(o *ProxySettings) bool {
	eq := func(a, b *Proxy) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	return eq(s.HTTP, o.HTTP) && eq(s.HTTPS, o.HTTPS) && slices.Equal(s.NonProxyHosts, o.NonProxyHosts)
}

// LineError is one problem of an options.env, printed as "options.env:LINE: key: problem".
type LineError struct {
	File    string // the name given to ParseOptions: the path, or its base name
	Line    int    // 1-based
	Key     string // "" when the line has no usable key
	Problem string
}

func (e *LineError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Problem)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Problem)
}

// ParseError lists every problem of an options.env, in line order, one per line when printed.
// errors.As finds each *LineError in it.
type ParseError struct {
	Errs []*LineError
}

func (e *ParseError) Error() string {
	lines := make([]string, len(e.Errs))
	for i, le := range e.Errs {
		lines[i] = le.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the line errors, so that errors.As and errors.Is look at each of them.
func (e *ParseError) Unwrap() []error {
	errs := make([]error, len(e.Errs))
	for i, le := range e.Errs {
		errs[i] = le
	}
	return errs
}

// entry is one key=value line that passed the per-line checks, or failed them: either way the
// key is present, so the checks between keys do not report it a second time as missing.
type entry struct {
	line  int
	value string
	ok    bool
}

// ParseOptions reads an options.env (docker env_file format with the Java proxy properties)
// and checks every rule, returning all the problems at once as a *ParseError. name is what
// the errors call the file.
func ParseOptions(name string, r io.Reader) (*ProxySettings, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxOptionsSize+1))
	if err != nil {
		return nil, &ParseError{Errs: []*LineError{{File: name, Line: 1, Problem: "cannot read: " + err.Error()}}}
	}
	if len(data) > MaxOptionsSize {
		return nil, &ParseError{Errs: []*LineError{{File: name, Line: 1,
			Problem: fmt.Sprintf("larger than %d KiB: this file holds a few proxy settings; is it the right file?", MaxOptionsSize>>10)}}}
	}
	p := parser{name: name, entries: map[string]*entry{}}
	data = bytes.TrimPrefix(data, []byte("\uFEFF")) // Windows editors add a byte-order mark
	for i, line := range strings.Split(string(data), "\n") {
		p.line(i+1, strings.TrimSuffix(line, "\r"))
	}
	s := p.settings()
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *LineError) int { return a.Line - b.Line })
		return nil, &ParseError{Errs: p.errs}
	}
	return s, nil
}

type parser struct {
	name    string
	entries map[string]*entry
	errs    []*LineError
}

func (p *parser) errorf(line int, key, format string, args ...any) {
	p.errs = append(p.errs, &LineError{File: p.name, Line: line, Key: key, Problem: fmt.Sprintf(format, args...)})
}

func (p *parser) line(n int, line string) {
	// docker's env_file ignores leading white space, blank lines and lines starting with #.
	line = strings.TrimLeftFunc(line, unicode.IsSpace)
	if line == "" || line[0] == '#' {
		return
	}
	key, value, ok := strings.Cut(line, "=")
	switch {
	case !ok:
		// The line is not echoed: it may well be a password typed without its key.
		p.errorf(n, "", "not a key=value line (blank lines and lines starting with # are allowed)")
		return
	case key == "":
		p.errorf(n, "", "no key before '='")
		return
	}
	trimmed := strings.TrimRightFunc(key, unicode.IsSpace)
	if trimmed != key {
		p.errorf(n, trimmed, "no spaces around '=' (write %s=value)", trimmed)
		p.mark(n, trimmed, "", false)
		return
	}
	if !slices.Contains(knownKeys, key) {
		p.errorf(n, key, "%s", unknownKey(key))
		return
	}
	if first := p.entries[key]; first != nil {
		p.errorf(n, key, "set twice (first on line %d)", first.line)
		return
	}
	p.mark(n, key, value, p.checkValue(n, key, value))
}

func (p *parser) mark(n int, key, value string, ok bool) {
	if p.entries[key] == nil {
		p.entries[key] = &entry{line: n, value: value, ok: ok}
	}
}

// checkValue applies the rules of every value, then those of its key.
func (p *parser) checkValue(n int, key, value string) bool {
	secret := key == KeyHTTPPassword || key == KeyHTTPSPassword
	switch {
	case value == "" && (secret || key == KeyNonProxyHosts):
		return true
	case value == "":
		p.errorf(n, key, "empty value: remove the line to leave %s unset", key)
		return false
	case value[0] == '"' || value[0] == '\'':
		p.errorf(n, key, "values are not quoted: remove the quotes (docker's env_file would keep them in the value)")
		return false
	case strings.Contains(value, " #") || strings.Contains(value, "\t#"):
		p.errorf(n, key, "values must not contain spaces (a # comment goes on a line of its own)")
		return false
	case strings.IndexFunc(value, unicode.IsSpace) >= 0:
		p.errorf(n, key, "values must not contain spaces")
		return false
	case strings.IndexFunc(value, unicode.IsControl) >= 0:
		p.errorf(n, key, "values must not contain control characters")
		return false
	}
	switch key {
	case KeyHTTPHost, KeyHTTPSHost:
		if problem := hostProblem(key, value); problem != "" {
			p.errorf(n, key, "%s", problem)
			return false
		}
	case KeyHTTPPort, KeyHTTPSPort:
		if port, err := strconv.Atoi(value); err != nil || port < 1 || port > 65535 {
			p.errorf(n, key, "%q is not a port: use a number from 1 to 65535", value)
			return false
		}
	case KeyNonProxyHosts:
		ok := true
		for _, pattern := range strings.Split(value, "|") {
			if problem := patternProblem(pattern); problem != "" {
				p.errorf(n, key, "%s", problem)
				ok = false
			}
		}
		return ok
	}
	return true
}

// settings checks the rules between keys and builds the result, which ParseOptions returns
// only when no line had a problem.
func (p *parser) settings() *ProxySettings {
	s := &ProxySettings{NonProxyHosts: slices.Clone(DefaultNonProxyHosts)}
	if e := p.entries[KeyNonProxyHosts]; e != nil {
		s.NonProxyHosts = nil
		if e.value != "" {
			s.NonProxyHosts = strings.Split(e.value, "|")
		}
	}
	s.HTTP = p.proxy(KeyHTTPHost, KeyHTTPPort, KeyHTTPUser, KeyHTTPPassword, 80)
	s.HTTPS = p.proxy(KeyHTTPSHost, KeyHTTPSPort, KeyHTTPSUser, KeyHTTPSPassword, 443)
	return s
}

// proxy builds one proxy; the port defaults to Java's (80 for http, 443 for https).
func (p *parser) proxy(hostKey, portKey, userKey, passwordKey string, defaultPort int) *Proxy {
	host, port, user, password := p.entries[hostKey], p.entries[portKey], p.entries[userKey], p.entries[passwordKey]
	if host == nil {
		for _, e := range []struct {
			key string
			e   *entry
		}{{portKey, port}, {userKey, user}} {
			if e.e != nil {
				p.errorf(e.e.line, e.key, "set without %s", hostKey)
			}
		}
	}
	if password != nil && user == nil {
		p.errorf(password.line, passwordKey, "set without %s", userKey)
	}
	if host == nil || !host.ok {
		return nil
	}
	pr := &Proxy{Host: strings.TrimSuffix(strings.TrimPrefix(host.value, "["), "]"), Port: defaultPort}
	if port != nil && port.ok {
		pr.Port, _ = strconv.Atoi(port.value)
	}
	if user != nil {
		pr.User = user.value
	}
	if password != nil {
		pr.Password = password.value
	}
	return pr
}

// hostProblem explains what is wrong with a proxyHost value, or returns "".
func hostProblem(key, v string) string {
	switch {
	case strings.Contains(v, "*"):
		return fmt.Sprintf("%q: wildcards belong in %s; %s names one proxy", v, KeyNonProxyHosts, key)
	case strings.Contains(v, "://"):
		return fmt.Sprintf("%q: write the host name only, without a scheme", v)
	case strings.HasPrefix(v, "["):
		if ip := net.ParseIP(strings.TrimSuffix(v[1:], "]")); ip == nil || !strings.HasSuffix(v, "]") {
			return fmt.Sprintf("%q is not a host name or IP address", v)
		}
		return ""
	case net.ParseIP(v) != nil:
		return ""
	case strings.Count(v, ":") == 1:
		return fmt.Sprintf("%q: put the port in %s", v, strings.Replace(key, "Host", "Port", 1))
	case !isHostName(v):
		return fmt.Sprintf("%q is not a host name or IP address", v)
	}
	return ""
}

// patternProblem explains what is wrong with one http.nonProxyHosts pattern, or returns "".
func patternProblem(p string) string {
	core := strings.TrimSuffix(strings.TrimPrefix(p, "*"), "*")
	switch {
	case p == "":
		return "empty pattern between '|' (patterns are separated by a single '|')"
	case p == "*" || p == "**":
		return ""
	case strings.Contains(core, "*"):
		return fmt.Sprintf("%q: * is a wildcard only at the start or the end of a pattern", p)
	case strings.HasPrefix(core, "["):
		if net.ParseIP(strings.TrimSuffix(core[1:], "]")) == nil || !strings.HasSuffix(core, "]") {
			return fmt.Sprintf("%q is not a host name, IP address or wildcard pattern", p)
		}
	case net.ParseIP(core) != nil:
	case strings.Count(core, ":") == 1:
		return fmt.Sprintf("%q: patterns match host names, without a port", p)
	case !isHostPattern(core):
		return fmt.Sprintf("%q is not a host name, IP address or wildcard pattern", p)
	}
	return ""
}

// isHostName accepts DNS names (letters, digits, '-', '_' and dots between labels); '_' is
// not in RFC 1123 but common in internal names, and the resolver decides in the end.
func isHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return false
			}
		}
	}
	return true
}

// isHostPattern accepts what remains of a pattern once its wildcards are removed: a piece of
// a host name, which may start or end with a dot ("*.example.com", "10.*").
func isHostPattern(core string) bool {
	trimmed := strings.TrimSuffix(strings.TrimPrefix(core, "."), ".")
	return trimmed != "" && isHostName(trimmed)
}

// unknownKey explains an unknown key, suggesting the key that was probably meant.
func unknownKey(key string) string {
	lower := strings.ToLower(key)
	switch lower {
	case "https.nonproxyhosts":
		return "does not exist: use " + KeyNonProxyHosts + ", which applies to https:// URLs too"
	case "http_proxy", "https_proxy", "no_proxy", "all_proxy":
		return "options.env takes Java property names: " + strings.Join(knownKeys, ", ")
	}
	if best := typo.Closest(key, knownKeys, 3); best != "" { // farther is not a typo any more
		return "unknown key (did you mean " + best + "?)"
	}
	return "unknown key; the keys are " + strings.Join(knownKeys, ", ")
}
