package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/outbound"
)

// weatherService is a web service on 127.0.0.1 that tells, for each path, whether the request
// came through tinyproxy (which adds a Via header) or straight from Bascule.
type weatherService struct {
	*httptest.Server
	mu  sync.Mutex
	via map[string][]string // path -> the Via header of each request
}

func startWeather(t *testing.T) *weatherService {
	s := &weatherService{via: map[string][]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.via[r.URL.Path] = append(s.via[r.URL.Path], r.Header.Get("Via"))
		s.mu.Unlock()
		if r.URL.Path == "/slow" {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		city := strings.TrimPrefix(r.URL.Path, "/weather/")
		fmt.Fprintf(w, `{"temperature": 21, "city": %q, "aqi": 42}`, city)
	}))
	t.Cleanup(s.Close)
	return s
}

// proxied reports whether each request for path so far came through the proxy.
func (s *weatherService) proxied(t *testing.T, path string) []bool {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []bool
	for _, via := range s.via[path] {
		out = append(out, strings.Contains(via, "tinyproxy"))
	}
	return out
}

func (s *weatherService) port() string { return s.URL[strings.LastIndex(s.URL, ":")+1:] }

// proxyStatus reads the proxy section of the server's detailed status.
func proxyStatus(t *testing.T, srv *testenv.Bascule) (outbound.Status, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + "/servlet/api/serverstatus?details=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("serverstatus: %d %s", resp.StatusCode, raw)
	}
	var body struct {
		Proxy outbound.Status `json:"proxy"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("serverstatus: %v: %s", err, raw)
	}
	return body.Proxy, string(raw)
}

// waitProxy waits until the server's proxy status satisfies ok.
func waitProxy(t *testing.T, srv *testenv.Bascule, what string, ok func(outbound.Status) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := proxyStatus(t, srv)
		if ok(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: proxy status %+v", what, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A real server answering a visitor calls web services through the proxy of options.env,
// with its credentials, except for http.nonProxyHosts; a changed options.env takes effect
// without a restart, from the file watch and from SIGHUP; a bad one is refused and the
// previous settings stay active.
func TestWebServiceAnswersThroughTheProxy(t *testing.T) {
	proxy := testenv.StartTinyproxy(t, testenv.TinyproxyOptions{User: "alice", Password: "s3cret"})
	svc := startWeather(t)
	srv := testenv.StartBascule(t, testenv.BasculeOptions{Name: "main", Config: testConfig("")})
	configureSampleBot(t, srv, func(s *bascule.BotSettings) {
		s.WebServices = []bascule.WebService{
			{Name: "weather", URL: svc.URL + "/weather/{{.city}}", Fallback: "<p>No forecast for now.</p>"},
			{Name: "air", URL: "http://localhost:" + svc.port() + "/weather/{{.city}}"},
			{Name: "slow", URL: svc.URL + "/slow", Timeout: bascule.Duration(300 * time.Millisecond), Fallback: "<p>The tide service is slow today.</p>"},
		}
	},
		bascule.Knowledge{Question: "What is the weather forecast?", Language: "en", Enabled: true, WebService: "weather",
			Answer: "<p>{{.response.temperature}} °C in {{.response.city}}</p>"},
		bascule.Knowledge{Question: "How is the air quality index?", Language: "en", Enabled: true, WebService: "air",
			Answer: "<p>Air quality index {{.response.aqi}} in {{.vars.city}}</p>"},
		bascule.Knowledge{Question: "When is the next high tide?", Language: "en", Enabled: true, WebService: "slow", Answer: "<p>{{.response.time}}</p>"},
	)
	v := &visitor{t: t, srv: srv}
	expect := func(got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("answer %q, want %q\n%s", got, want, srv.Logs())
		}
	}
	forwarded := func(target string) (received, forwarded bool) {
		t.Helper()
		for _, r := range proxy.Requests(t) {
			if r.Method == "GET" && r.Target == target {
				received, forwarded = true, forwarded || r.Forwarded
			}
		}
		return received, forwarded
	}

	// No options.env: direct. The page's variables win over the dialog's stored ones.
	expect(v.ask("What is the weather forecast?", `{"city": "Lyon"}`), "<p>21 °C in Lyon</p>")
	chatPost(t, srv, "chat/variable/"+bascule.SampleBotID, map[string][]string{"contextUuid": {v.ctx}, "name": {"city"}, "value": {"Nice"}})
	expect(v.ask("What is the weather forecast?", ""), "<p>21 °C in Nice</p>")
	expect(v.ask("What is the weather forecast?", `{"city": "Brest", "unit": 1}`), "<p>21 °C in Brest</p>")
	expect(v.ask("When is the next high tide?", ""), "<p>The tide service is slow today.</p>")
	if got := svc.proxied(t, "/weather/Lyon"); len(got) != 1 || got[0] || len(proxy.Requests(t)) != 0 {
		t.Fatalf("without options.env the call must go out directly: via proxy %v, tinyproxy saw %+v", got, proxy.Requests(t))
	}

	// options.env appears: the file watch applies it, no SIGHUP, no restart.
	optionsPath := filepath.Join(srv.Home, ".bascule", "options.env")
	good := fmt.Sprintf("http.proxyHost=127.0.0.1\nhttp.proxyPort=%d\nhttp.proxyUser=alice\nhttp.proxyPassword=s3cret\nhttp.nonProxyHosts=localhost\n", proxy.Port)
	testenv.ReplaceFile(t, optionsPath, good)
	waitProxy(t, srv, "the proxy from the file watch", func(s outbound.Status) bool { return s.Settings.HTTP != nil })
	expect(v.ask("What is the weather forecast?", `{"city": "Paris"}`), "<p>21 °C in Paris</p>")
	if received, fwd := forwarded(svc.URL + "/weather/Paris"); !received || !fwd {
		t.Fatalf("tinyproxy received=%v forwarded=%v (forwarded: the credentials were right); log:\n%s", received, fwd, proxy.Log(t))
	}
	if got := svc.proxied(t, "/weather/Paris"); len(got) != 1 || !got[0] {
		t.Fatalf("the service got the call without tinyproxy's Via header: %v", got)
	}
	// http.nonProxyHosts: the service named localhost is called directly.
	expect(v.ask("How is the air quality index?", `{"city": "Caen"}`), "<p>Air quality index 42 in Caen</p>")
	if received, _ := forwarded("http://localhost:" + svc.port() + "/weather/Caen"); received || svc.proxied(t, "/weather/Caen")[0] {
		t.Fatalf("a host of http.nonProxyHosts went through the proxy; log:\n%s", proxy.Log(t))
	}
	st, raw := proxyStatus(t, srv)
	if st.Path != optionsPath || st.Settings.HTTP.User != "alice" || st.Settings.HTTP.Password != "****" || st.LoadedAt.IsZero() ||
		st.LastError != "" || strings.Contains(raw, "s3cret") {
		t.Fatalf("proxy status %+v\n%s", st, raw)
	}

	// A wrong password, written so that the file watch cannot see it (same file, size and
	// time): SIGHUP alone applies it. The proxy refuses the call; the visitor gets the fallback.
	info, err := os.Stat(optionsPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(optionsPath, []byte(strings.Replace(good, "s3cret", "wr0ng!", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(optionsPath, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	srv.Hangup()
	waitProxy(t, srv, "the settings reloaded on SIGHUP", func(s outbound.Status) bool { return s.LoadedAt.After(st.LoadedAt) })
	logLine(t, srv, "SIGHUP: reading options.env again")
	expect(v.ask("What is the weather forecast?", `{"city": "Metz"}`), "<p>No forecast for now.</p>")
	if received, fwd := forwarded(svc.URL + "/weather/Metz"); !received || fwd {
		t.Fatalf("with a wrong password tinyproxy received=%v forwarded=%v; log:\n%s", received, fwd, proxy.Log(t))
	}

	// The right password again, then a broken file: refused with its line, and the previous
	// settings stay active.
	wrong, _ := proxyStatus(t, srv)
	testenv.ReplaceFile(t, optionsPath, good)
	waitProxy(t, srv, "the good file again", func(s outbound.Status) bool { return s.LoadedAt.After(wrong.LoadedAt) })
	testenv.ReplaceFile(t, optionsPath, good+"http.proxyPort = 3128\n")
	waitProxy(t, srv, "the broken file refused", func(s outbound.Status) bool { return s.LastError != "" })
	if st, _ := proxyStatus(t, srv); st.LastError != optionsPath+":6: http.proxyPort: no spaces around '=' (write http.proxyPort=value)" ||
		st.Settings.HTTP == nil || st.LastErrorAt.IsZero() {
		t.Fatalf("proxy status after a broken file: %+v", st)
	}
	expect(v.ask("What is the weather forecast?", `{"city": "Dijon"}`), "<p>21 °C in Dijon</p>")
	if received, fwd := forwarded(svc.URL + "/weather/Dijon"); !received || !fwd {
		t.Fatalf("the previous settings must stay active: tinyproxy received=%v forwarded=%v", received, fwd)
	}
}

// A bad options.env stops bascule serve before it listens, with every problem and its line.
func TestServeRefusesBadOptions(t *testing.T) {
	dir := t.TempDir()
	options := filepath.Join(dir, "options.env")
	if err := os.WriteFile(options, []byte("http.proxyHost=proxy:3128\nhttps.proxyPort=0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "bascule.yml")
	if err := os.WriteFile(cfg, []byte("outbound:\n  options: "+options+"\nlog:\n  level: error\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code, _, errOut := runCLIContext(ctx, "serve", "-config", cfg, "-data", filepath.Join(dir, "data"), "-listen", testenv.FreeAddr(t))
	want := "bascule serve: " + options + " has problems; the server does not start with it (bascule check -options " + options + "):\n" +
		options + `:1: http.proxyHost: "proxy:3128": put the port in http.proxyPort` + "\n" +
		options + `:2: https.proxyPort: "0" is not a port: use a number from 1 to 65535` + "\n" +
		options + ":2: https.proxyPort: set without https.proxyHost\n"
	if code != 1 || errOut != want {
		t.Fatalf("exit %d, stderr:\n%s\nwant:\n%s", code, errOut, want)
	}
}

// runCLIContext runs the command in-process with a context (serve runs until it ends).
func runCLIContext(ctx context.Context, args ...string) (int, string, string) {
	var out, errb strings.Builder
	code := run(ctx, args, &stdio{&out, &errb})
	return code, out.String(), errb.String()
}
