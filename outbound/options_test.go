package outbound

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseOptionsRules(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // every error, in order; none means the file is valid
	}{
		{"blank lines and comments", "\n# proxy of the data centre\n   # indented comment\n\t\nhttp.proxyHost=proxy.example.com\n", nil},
		{"windows line ends and byte-order mark", "\uFEFFhttp.proxyHost=proxy\r\nhttp.proxyPort=3128\r\n", nil},
		{"leading white space ignored, as docker does", "  http.proxyHost=proxy\n", nil},
		{"line without =", "http.proxyHost proxy\n",
			[]string{"options.env:1: not a key=value line (blank lines and lines starting with # are allowed)"}},
		{"no key", "=proxy\n", []string{"options.env:1: no key before '='"}},
		{"spaces around =", "http.proxyHost = proxy\n",
			[]string{"options.env:1: http.proxyHost: no spaces around '=' (write http.proxyHost=value)"}},
		{"space in value", "http.proxyUser=jean dupont\nhttp.proxyHost=p\n",
			[]string{"options.env:1: http.proxyUser: values must not contain spaces"}},
		{"trailing space in value", "http.proxyHost=proxy \n",
			[]string{"options.env:1: http.proxyHost: values must not contain spaces"}},
		{"comment after value", "http.proxyHost=proxy # ours\n",
			[]string{"options.env:1: http.proxyHost: values must not contain spaces (a # comment goes on a line of its own)"}},
		{"double quotes", `http.proxyHost="proxy"` + "\n",
			[]string{"options.env:1: http.proxyHost: values are not quoted: remove the quotes (docker's env_file would keep them in the value)"}},
		{"single quotes", "http.proxyHost=p\nhttp.proxyUser=u\nhttp.proxyPassword='secret'\n",
			[]string{"options.env:3: http.proxyPassword: values are not quoted: remove the quotes (docker's env_file would keep them in the value)"}},
		{"control character", "http.proxyHost=pro\x01xy\n",
			[]string{"options.env:1: http.proxyHost: values must not contain control characters"}},
		{"empty value", "http.proxyHost=\n",
			[]string{"options.env:1: http.proxyHost: empty value: remove the line to leave http.proxyHost unset"}},
		{"empty password allowed", "http.proxyHost=p\nhttp.proxyUser=u\nhttp.proxyPassword=\n", nil},
		{"https.nonProxyHosts", "https.nonProxyHosts=localhost\n",
			[]string{"options.env:1: https.nonProxyHosts: does not exist: use http.nonProxyHosts, which applies to https:// URLs too"}},
		{"typo: case", "http.proxyhost=proxy\n",
			[]string{"options.env:1: http.proxyhost: unknown key (did you mean http.proxyHost?)"}},
		{"typo: letters", "https.proxyPrt=8080\n",
			[]string{"options.env:1: https.proxyPrt: unknown key (did you mean https.proxyPort?)"}},
		{"unknown key", "timeout=30\n",
			[]string{"options.env:1: timeout: unknown key; the keys are http.proxyHost, http.proxyPort, http.proxyUser, http.proxyPassword, http.nonProxyHosts, https.proxyHost, https.proxyPort, https.proxyUser, https.proxyPassword"}},
		{"environment variable name", "HTTPS_PROXY=http://proxy:3128\n",
			[]string{"options.env:1: HTTPS_PROXY: options.env takes Java property names: http.proxyHost, http.proxyPort, http.proxyUser, http.proxyPassword, http.nonProxyHosts, https.proxyHost, https.proxyPort, https.proxyUser, https.proxyPassword"}},
		{"key set twice", "http.proxyHost=a\n\nhttp.proxyHost=b\n",
			[]string{"options.env:3: http.proxyHost: set twice (first on line 1)"}},
		{"port zero", "http.proxyHost=p\nhttp.proxyPort=0\n",
			[]string{`options.env:2: http.proxyPort: "0" is not a port: use a number from 1 to 65535`}},
		{"port too large", "https.proxyHost=p\nhttps.proxyPort=65536\n",
			[]string{`options.env:2: https.proxyPort: "65536" is not a port: use a number from 1 to 65535`}},
		{"port not a number", "http.proxyHost=p\nhttp.proxyPort=http\n",
			[]string{`options.env:2: http.proxyPort: "http" is not a port: use a number from 1 to 65535`}},
		{"port bounds", "http.proxyHost=p\nhttp.proxyPort=1\nhttps.proxyHost=p\nhttps.proxyPort=65535\n", nil},
		{"port without host", "http.proxyPort=3128\n",
			[]string{"options.env:1: http.proxyPort: set without http.proxyHost"}},
		{"user without host", "https.proxyUser=bob\n",
			[]string{"options.env:1: https.proxyUser: set without https.proxyHost"}},
		{"password without user", "http.proxyHost=p\nhttp.proxyPassword=secret\n",
			[]string{"options.env:2: http.proxyPassword: set without http.proxyUser"}},
		{"https settings do not borrow http's host", "http.proxyHost=p\nhttps.proxyPort=3128\n",
			[]string{"options.env:2: https.proxyPort: set without https.proxyHost"}},
		{"the seeds' wildcard host", "http.proxyHost=*.localdomain.com\nhttp.proxyPort=80\nhttp.proxyUser=login\nhttp.proxyPassword=mdp\n",
			[]string{`options.env:1: http.proxyHost: "*.localdomain.com": wildcards belong in http.nonProxyHosts; http.proxyHost names one proxy`}},
		{"host with scheme", "https.proxyHost=http://proxy\n",
			[]string{`options.env:1: https.proxyHost: "http://proxy": write the host name only, without a scheme`}},
		{"host with port", "https.proxyHost=proxy:3128\n",
			[]string{`options.env:1: https.proxyHost: "proxy:3128": put the port in https.proxyPort`}},
		{"host not a name", "http.proxyHost=pro/xy\n",
			[]string{`options.env:1: http.proxyHost: "pro/xy" is not a host name or IP address`}},
		{"host IP addresses", "http.proxyHost=10.0.0.1\nhttps.proxyHost=[2001:db8::1]\n", nil},
		{"bad bracketed address", "http.proxyHost=[proxy]\n",
			[]string{`options.env:1: http.proxyHost: "[proxy]" is not a host name or IP address`}},
		{"nonProxyHosts in Java's syntax", "http.nonProxyHosts=*.localdomain.com|localhost|10.*|[::1]|*internal*\n", nil},
		{"nonProxyHosts: empty pattern", "http.nonProxyHosts=localhost||10.*\n",
			[]string{"options.env:1: http.nonProxyHosts: empty pattern between '|' (patterns are separated by a single '|')"}},
		{"nonProxyHosts: wildcard inside", "http.nonProxyHosts=intra*.example.com\n",
			[]string{`options.env:1: http.nonProxyHosts: "intra*.example.com": * is a wildcard only at the start or the end of a pattern`}},
		{"nonProxyHosts: port", "http.nonProxyHosts=localhost:8080\n",
			[]string{`options.env:1: http.nonProxyHosts: "localhost:8080": patterns match host names, without a port`}},
		{"nonProxyHosts: not a host", "http.nonProxyHosts=a,b\n",
			[]string{`options.env:1: http.nonProxyHosts: "a,b" is not a host name, IP address or wildcard pattern`}},
		{"every problem is reported, in line order",
			"http.proxyPort=99999\nfoo\nhttp.proxyUser=a b\nhttps.nonProxyHosts=x\nhttp.proxyPort=80\n",
			[]string{
				`options.env:1: http.proxyPort: "99999" is not a port: use a number from 1 to 65535`,
				`options.env:1: http.proxyPort: set without http.proxyHost`,
				"options.env:2: not a key=value line (blank lines and lines starting with # are allowed)",
				"options.env:3: http.proxyUser: values must not contain spaces",
				"options.env:3: http.proxyUser: set without http.proxyHost",
				"options.env:4: https.nonProxyHosts: does not exist: use http.nonProxyHosts, which applies to https:// URLs too",
				"options.env:5: http.proxyPort: set twice (first on line 1)",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseOptions("options.env", strings.NewReader(tt.file))
			if tt.want == nil {
				if err != nil || s == nil {
					t.Fatalf("ParseOptions = %v, %v; want settings", s, err)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseOptions error = %v; want a *ParseError", err)
			}
			if s != nil {
				t.Errorf("settings %v returned with errors", s)
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			var le *LineError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Errorf("errors.As(*LineError) = %v", le)
			}
		})
	}
}

func TestParseOptionsNamesTheFileAsGiven(t *testing.T) {
	_, err := ParseOptions("/etc/bascule/options.env", strings.NewReader("x=1\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "/etc/bascule/options.env:1: x: ") {
		t.Fatalf("error = %v", err)
	}
}

func TestParseOptionsLimits(t *testing.T) {
	big := strings.Repeat("# padding\n", MaxOptionsSize/10+1)
	if _, err := ParseOptions("options.env", strings.NewReader(big)); err == nil ||
		err.Error() != "options.env:1: larger than 64 KiB: this file holds a few proxy settings; is it the right file?" {
		t.Errorf("large file: %v", err)
	}
	_, err := ParseOptions("options.env", iotest.ErrReader(errors.New("disk on fire")))
	if err == nil || err.Error() != "options.env:1: cannot read: disk on fire" {
		t.Errorf("read error: %v", err)
	}
}

func TestParseOptionsValues(t *testing.T) {
	file := `# the seeds' example, with its wildcard where it belongs
http.proxyHost=proxy.localdomain.com
http.proxyUser=login
http.proxyPassword=mdp
http.nonProxyHosts=*.localdomain.com|localhost|10.*
https.proxyHost=[2001:db8::1]
https.proxyPort=3128
`
	s, err := ParseOptions("options.env", strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := &ProxySettings{
		HTTP:          &Proxy{Host: "proxy.localdomain.com", Port: 80, User: "login", Password: "mdp"},
		HTTPS:         &Proxy{Host: "2001:db8::1", Port: 3128},
		NonProxyHosts: []string{"*.localdomain.com", "localhost", "10.*"},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("settings = %s\nwant %s", s, want)
	}
	if got := s.HTTP.URL().String(); got != "http://login:mdp@proxy.localdomain.com:80" {
		t.Errorf("http proxy URL = %s", got)
	}
	if got := s.HTTPS.URL().String(); got != "http://[2001:db8::1]:3128" {
		t.Errorf("https proxy URL = %s", got)
	}
	m := s.Masked()
	if m.HTTP.Password != "****" || s.HTTP.Password != "mdp" || m.HTTPS.Password != "" {
		t.Errorf("Masked = %+v (original %+v)", m.HTTP, s.HTTP)
	}
	if got := s.String(); got != "http: login@proxy.localdomain.com:80, https: [2001:db8::1]:3128, nonProxyHosts: *.localdomain.com|localhost|10.*" {
		t.Errorf("String = %s", got)
	}

	// Without http.nonProxyHosts Java's default applies; an empty one bypasses nothing.
	s, _ = ParseOptions("options.env", strings.NewReader("https.proxyHost=p\nhttps.proxyPort=443\n"))
	if !reflect.DeepEqual(s.NonProxyHosts, DefaultNonProxyHosts) || s.HTTPS.Port != 443 || s.HTTP != nil {
		t.Errorf("defaults: %s", s)
	}
	s, _ = ParseOptions("options.env", strings.NewReader("http.proxyHost=p\nhttp.nonProxyHosts=\n"))
	if len(s.NonProxyHosts) != 0 {
		t.Errorf("empty nonProxyHosts: %s", s)
	}
}

func TestProxyFor(t *testing.T) {
	parse := func(file string) *ProxySettings {
		s, err := ParseOptions("options.env", strings.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	both := "http.proxyHost=hp\nhttps.proxyHost=sp\n"
	tests := []struct {
		file, url, want string // want: the proxy host, "" for direct
	}{
		{"", "http://example.com/", ""},
		{both, "http://example.com/", "hp"},
		{both, "https://example.com/", "sp"},
		{both, "ftp://example.com/", ""},
		{"http.proxyHost=hp\n", "https://example.com/", ""}, // https is not borrowed from http
		{both, "http://localhost:8080/", ""},                // Java's default bypass
		{both, "https://127.0.0.2/", ""},
		{both, "http://[::1]:80/", ""},
		{both + "http.nonProxyHosts=\n", "http://localhost/", "hp"},
		{both + "http.nonProxyHosts=*.Intra.example.com|localhost|10.*|[::1]|*mid*\n", "https://a.intra.EXAMPLE.com/", ""},
		{both + "http.nonProxyHosts=*.intra.example.com\n", "https://intra.example.com/", "sp"},
		{both + "http.nonProxyHosts=*.intra.example.com\n", "http://localhost/", "hp"}, // the default is replaced
		{both + "http.nonProxyHosts=10.*\n", "https://10.1.2.3:8443/", ""},
		{both + "http.nonProxyHosts=10.*\n", "https://110.1.2.3/", "sp"},
		{both + "http.nonProxyHosts=[::1]\n", "https://[::1]:8443/", ""},
		{both + "http.nonProxyHosts=*mid*\n", "https://amidb.example/", ""},
		{both + "http.nonProxyHosts=*\n", "https://anything.example/", ""},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.url)
		got := ""
		if p := parse(tt.file).ProxyFor(u); p != nil {
			got = p.Host
		}
		if got != tt.want {
			t.Errorf("%q with\n%s: proxy %q, want %q", tt.url, tt.file, got, tt.want)
		}
	}
}

func FuzzParseOptions(f *testing.F) {
	f.Add("http.proxyHost=*.localdomain.com\nhttp.proxyPort=80\nhttp.proxyUser=login\nhttp.proxyPassword=mdp\n")
	f.Add("# c\n\nhttps.proxyHost=[::1]\nhttps.proxyPort=3128\nhttp.nonProxyHosts=*.a|b*|[::1]\n")
	f.Add("https.nonProxyHosts=x\nhttp.proxyhost = y\n\"\n=\n")
	f.Fuzz(func(t *testing.T, file string) {
		s, err := ParseOptions("options.env", strings.NewReader(file))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || len(pe.Errs) == 0 {
				t.Fatalf("error %v is not a *ParseError with lines", err)
			}
			lines := strings.Count(file, "\n") + 1
			for _, le := range pe.Errs {
				if le.Line < 1 || le.Line > lines || !strings.HasPrefix(le.Error(), "options.env:") {
					t.Fatalf("%q names line %d of %d", le.Error(), le.Line, lines)
				}
			}
			return
		}
		// A valid file gives proxies that net/http can use and a view without passwords.
		for _, p := range []*Proxy{s.HTTP, s.HTTPS} {
			if p == nil {
				continue
			}
			if u, err := url.Parse(p.URL().String()); err != nil || u.Hostname() != p.Host {
				t.Fatalf("proxy %+v gives URL %v (%v)", p, p.URL(), err)
			}
		}
		// String, meant for logs, must not depend on the passwords.
		if s.String() != s.Masked().String() {
			t.Fatalf("String() shows a password: %s", s)
		}
		u, _ := url.Parse("https://example.com/")
		s.ProxyFor(u)
	})
}

func ExampleParseOptions() {
	file := `# ~/.bascule/options.env
http.proxyHost=*.localdomain.com
http.proxyPort=80
http.proxyUser=login
http.proxyPassword="mdp"
https.nonProxyHosts=localhost
`
	_, err := ParseOptions("options.env", strings.NewReader(file))
	fmt.Println(err)
	// Output:
	// options.env:2: http.proxyHost: "*.localdomain.com": wildcards belong in http.nonProxyHosts; http.proxyHost names one proxy
	// options.env:5: http.proxyPassword: values are not quoted: remove the quotes (docker's env_file would keep them in the value)
	// options.env:6: https.nonProxyHosts: does not exist: use http.nonProxyHosts, which applies to https:// URLs too
}
