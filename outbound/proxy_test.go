package outbound_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/outbound"
)

// service is a web service on 127.0.0.1 that tells whether each request came through
// tinyproxy (which adds a Via header) or straight from Bascule.
type service struct {
	*httptest.Server
	mu  sync.Mutex
	via map[string]string // path -> Via header
}

func newService(t *testing.T, tlsToo bool) *service {
	s := &service{via: map[string]string{}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.via[r.URL.Path] = r.Header.Get("Via")
		s.mu.Unlock()
		fmt.Fprintf(w, `{"path": %q}`, r.URL.Path)
	})
	if tlsToo {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

// viaProxy reports whether the request for path reached the service, and through a proxy.
func (s *service) viaProxy(t *testing.T, path string) bool {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	via, ok := s.via[path]
	if !ok {
		t.Fatalf("the service never got %s", path)
	}
	return strings.Contains(via, "tinyproxy")
}

// port returns the service's port as a string.
func (s *service) port() string { return s.URL[strings.LastIndex(s.URL, ":")+1:] }

type rig struct {
	proxy    *testenv.Tinyproxy
	path     string // options.env
	watcher  *outbound.Watcher
	services *outbound.WebServices
}

// newRig starts tinyproxy with authentication and a watcher over an options.env that does not
// exist yet; roots are the CAs the client trusts (nil: the system's).
func newRig(t *testing.T, roots *x509.CertPool) *rig {
	t.Helper()
	r := &rig{proxy: testenv.StartTinyproxy(t, testenv.TinyproxyOptions{User: "alice", Password: "s3cret"})}
	r.path = filepath.Join(t.TempDir(), "options.env")
	w, err := outbound.Load(r.path, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.watcher = w
	client := &http.Client{Transport: outbound.NewTransport(w, &tls.Config{RootCAs: roots})}
	r.services = outbound.NewWebServices(client)
	return r
}

// options writes options.env for the rig's proxy; {port} and {user}/{password} are filled in.
func (r *rig) options(t *testing.T, lines ...string) string {
	t.Helper()
	text := strings.Join(lines, "\n") + "\n"
	text = strings.NewReplacer("{port}", fmt.Sprint(r.proxy.Port), "{user}", r.proxy.User, "{password}", r.proxy.Password).Replace(text)
	testenv.ReplaceFile(t, r.path, text)
	return text
}

func (r *rig) call(t *testing.T, url string) error {
	t.Helper()
	_, err := r.services.Call(t.Context(), bascule.WebService{Name: "svc", URL: url, Timeout: bascule.Duration(5 * time.Second)}, nil)
	return err
}

// proxied reports whether tinyproxy received a request for target, and whether it forwarded it.
func (r *rig) proxied(t *testing.T, method, target string) (received, forwarded bool) {
	t.Helper()
	for _, req := range r.proxy.Requests(t) {
		if req.Method == method && req.Target == target {
			return true, req.Forwarded
		}
	}
	return false, false
}

func TestWebServiceThroughTinyproxy(t *testing.T) {
	svc := newService(t, false)
	r := newRig(t, nil)
	// An explicit http.nonProxyHosts replaces Java's default, which would bypass 127.*.
	r.options(t, "http.proxyHost=127.0.0.1", "http.proxyPort={port}", "http.proxyUser={user}",
		"http.proxyPassword={password}", "http.nonProxyHosts=localhost")
	if err := r.watcher.Reload(); err != nil {
		t.Fatal(err)
	}

	if err := r.call(t, svc.URL+"/weather/Paris"); err != nil {
		t.Fatal(err)
	}
	if received, forwarded := r.proxied(t, "GET", svc.URL+"/weather/Paris"); !received || !forwarded {
		t.Errorf("tinyproxy received=%v forwarded=%v; log:\n%s", received, forwarded, r.proxy.Log(t))
	}
	t.Logf("tinyproxy saw: %+v", r.proxy.Requests(t))
	if !svc.viaProxy(t, "/weather/Paris") {
		t.Error("the service got the request without tinyproxy's Via header")
	}

	// http.nonProxyHosts: the same service by the name localhost is called directly.
	direct := "http://localhost:" + svc.port() + "/direct"
	if err := r.call(t, direct); err != nil {
		t.Fatal(err)
	}
	if received, _ := r.proxied(t, "GET", direct); received || svc.viaProxy(t, "/direct") {
		t.Errorf("a host of http.nonProxyHosts went through the proxy; log:\n%s", r.proxy.Log(t))
	}
}

func TestWebServiceThroughTinyproxyWithTLS(t *testing.T) {
	svc := newService(t, true)
	roots := x509.NewCertPool()
	roots.AddCert(svc.Certificate())
	r := newRig(t, roots)
	r.options(t, "https.proxyHost=127.0.0.1", "https.proxyPort={port}", "https.proxyUser={user}",
		"https.proxyPassword={password}", "http.nonProxyHosts=")
	if err := r.watcher.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := r.call(t, svc.URL+"/secure"); err != nil {
		t.Fatal(err)
	}
	// CONNECT: tinyproxy sees only host:port, the rest is encrypted end to end.
	if received, forwarded := r.proxied(t, "CONNECT", strings.TrimPrefix(svc.URL, "https://")); !received || !forwarded {
		t.Errorf("tinyproxy received=%v forwarded=%v; log:\n%s", received, forwarded, r.proxy.Log(t))
	}
}

func TestTinyproxyRefusesWrongCredentials(t *testing.T) {
	plain, secure := newService(t, false), newService(t, true)
	roots := x509.NewCertPool()
	roots.AddCert(secure.Certificate())
	r := newRig(t, roots)
	addr := r.proxy.Addr()

	tests := []struct {
		name, options, url, want string
	}{
		{"http, wrong password",
			"http.proxyHost=127.0.0.1\nhttp.proxyPort={port}\nhttp.proxyUser={user}\nhttp.proxyPassword=wrong\nhttp.nonProxyHosts=",
			plain.URL + "/wrong",
			`web service "svc": HTTP 401 Unauthorized through proxy ` + addr + ` (the service or the proxy refused the credentials: check the web service's auth, and http.proxyUser and http.proxyPassword)`},
		{"http, no credentials",
			"http.proxyHost=127.0.0.1\nhttp.proxyPort={port}\nhttp.nonProxyHosts=",
			plain.URL + "/none",
			`web service "svc": through proxy ` + addr + ` (http.proxyHost): the proxy asks for credentials (HTTP 407 Proxy Authentication Required): set http.proxyUser and http.proxyPassword`},
		{"https, wrong password",
			"https.proxyHost=127.0.0.1\nhttps.proxyPort={port}\nhttps.proxyUser={user}\nhttps.proxyPassword=wrong\nhttp.nonProxyHosts=",
			secure.URL + "/wrong",
			`web service "svc": through proxy ` + addr + ` (https.proxyHost): the proxy refused the credentials of alice (HTTP 401 Unauthorized): check https.proxyUser and https.proxyPassword`},
		{"https, no credentials",
			"https.proxyHost=127.0.0.1\nhttps.proxyPort={port}\nhttp.nonProxyHosts=",
			secure.URL + "/none",
			`web service "svc": through proxy ` + addr + ` (https.proxyHost): the proxy asks for credentials (HTTP 407 Proxy Authentication Required): set https.proxyUser and https.proxyPassword`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.options(t, tt.options)
			if err := r.watcher.Reload(); err != nil {
				t.Fatal(err)
			}
			err := r.call(t, tt.url)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error:\n got %v\nwant %s", err, tt.want)
			}
			target := tt.url
			method := "GET"
			if strings.HasPrefix(tt.url, "https://") {
				method, target = "CONNECT", strings.TrimSuffix(strings.TrimPrefix(secure.URL, "https://"), "/")
			}
			if received, forwarded := r.proxied(t, method, target); !received || forwarded {
				t.Errorf("tinyproxy received=%v forwarded=%v; log:\n%s", received, forwarded, r.proxy.Log(t))
			}
		})
	}
}

func TestProxySettingsChangeWithoutRestart(t *testing.T) {
	svc := newService(t, false)
	r := newRig(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { r.watcher.Watch(ctx, 20*time.Millisecond); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	waitFor := func(what string, ok func(outbound.Status) bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(r.watcher.Status()); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %+v", what, r.watcher.Status())
			}
		}
	}
	step := func(path string, wantProxied bool) {
		t.Helper()
		if err := r.call(t, svc.URL+path); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		received, forwarded := r.proxied(t, "GET", svc.URL+path)
		if received != wantProxied || forwarded != wantProxied || svc.viaProxy(t, path) != wantProxied {
			t.Fatalf("%s: want proxied=%v, tinyproxy received=%v forwarded=%v; log:\n%s", path, wantProxied, received, forwarded, r.proxy.Log(t))
		}
	}

	// No options.env: direct, and the connection to the service is kept for reuse.
	step("/1-no-file", false)

	proxyAll := []string{"http.proxyHost=127.0.0.1", "http.proxyPort={port}", "http.proxyUser={user}",
		"http.proxyPassword={password}", "http.nonProxyHosts=localhost"}
	r.options(t, proxyAll...)
	waitFor("proxy set", func(s outbound.Status) bool { return s.Settings.HTTP != nil })
	step("/2-proxy", true)

	// A broken file is refused; the proxy stays in use.
	r.options(t, append(slices.Clone(proxyAll), "http.proxyPort=80")...)
	waitFor("broken file refused", func(s outbound.Status) bool { return s.LastError != "" })
	if want := r.path + ":6: http.proxyPort: set twice (first on line 2)"; r.watcher.Status().LastError != want {
		t.Errorf("status error %q, want %q", r.watcher.Status().LastError, want)
	}
	step("/3-refused-file", true)

	// 127.0.0.1 added to http.nonProxyHosts: direct again.
	r.options(t, append(proxyAll[:4:4], "http.nonProxyHosts=localhost|127.*")...)
	waitFor("bypass set", func(s outbound.Status) bool {
		return s.LastError == "" && slices.Contains(s.Settings.NonProxyHosts, "127.*")
	})
	step("/4-bypass", false)

	// Back through the proxy.
	r.options(t, proxyAll...)
	waitFor("bypass removed", func(s outbound.Status) bool { return !slices.Contains(s.Settings.NonProxyHosts, "127.*") })
	step("/5-proxy-again", true)
}
