package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/web/internal/bundle"
)

// distFiles returns the embedded chatbox files by name.
func distFiles(t testing.TB) map[string][]byte {
	t.Helper()
	names, err := fs.Glob(dist, "dist/*")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, n := range names {
		b, err := dist.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files[path.Base(n)] = b
	}
	return files
}

// TestDistIsFresh rebuilds the chatbox from src/ in memory, with the options of go generate,
// and compares it with the committed dist/: a change to src/ without a rebuild fails here.
func TestDistIsFresh(t *testing.T) {
	built, err := bundle.Build("src")
	if err != nil {
		t.Fatal(err)
	}
	have := distFiles(t)
	for name, b := range built {
		if !bytes.Equal(have[name], b) {
			t.Errorf("dist/%s is stale or missing: run go generate ./web/...", name)
		}
	}
	for name := range have {
		if _, ok := built[name]; !ok {
			t.Errorf("dist/%s is not built from src/ any more: run go generate ./web/...", name)
		}
	}
}

func gzipSize(t testing.TB, b []byte) int {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

// chatboxParts returns the loader and the full chatbox's script and style.
func chatboxParts(t testing.TB) (loader, js, css []byte) {
	t.Helper()
	for name, b := range distFiles(t) {
		switch {
		case name == "loader.js":
			loader = b
		case strings.HasPrefix(name, "chatbox.") && strings.HasSuffix(name, ".js"):
			js = b
		case strings.HasPrefix(name, "chatbox.") && strings.HasSuffix(name, ".css"):
			css = b
		}
	}
	if loader == nil || js == nil || css == nil {
		t.Fatal("dist/ lacks the loader, the chatbox's script or its style")
	}
	return loader, js, css
}

// Budgets are the seeds' figures (the dydu chatbox: a loader under 10 KB, 250 KB for the
// whole box); goals are ours, which peers' 175-200 KB gzipped widgets make worth stating.
const (
	loaderBudget  = 10_000
	chatboxBudget = 250_000
	loaderGoalGz  = 2_000
	chatboxGoalGz = 15_000
)

func TestChatboxSizes(t *testing.T) {
	loader, js, css := chatboxParts(t)
	lz, jz, cz := gzipSize(t, loader), gzipSize(t, js), gzipSize(t, css)
	report("loader.js: %d B minified, %d B gzipped (budget %d B minified; goal under %d B gzipped)", len(loader), lz, loaderBudget, loaderGoalGz)
	report("full chatbox: %d B minified (script %d + style %d), %d B gzipped (%d + %d) (budget %d B; goal under %d B gzipped)",
		len(js)+len(css), len(js), len(css), jz+cz, jz, cz, chatboxBudget, chatboxGoalGz)
	if len(loader) > loaderBudget {
		t.Errorf("loader.js is %d B, over the budget of %d B", len(loader), loaderBudget)
	}
	if len(js)+len(css) > chatboxBudget {
		t.Errorf("the full chatbox is %d B, over the budget of %d B", len(js)+len(css), chatboxBudget)
	}
	if lz > loaderGoalGz || jz+cz > chatboxGoalGz {
		t.Logf("over a goal: loader %d B gzipped (goal %d), chatbox %d B gzipped (goal %d)", lz, loaderGoalGz, jz+cz, chatboxGoalGz)
	}
}

// BenchmarkChatboxSize prints the sizes as benchmark metrics, so that they show in a plain
// go test -bench run (and the figures of TestMain with them). What it times is the gzip
// compression that New does once at start.
func BenchmarkChatboxSize(b *testing.B) {
	loader, js, css := chatboxParts(b)
	for _, f := range []struct {
		name  string
		parts [][]byte
	}{{"loader", [][]byte{loader}}, {"chatbox", [][]byte{js, css}}} {
		b.Run(f.name, func(b *testing.B) {
			raw, gz := 0, 0
			for b.Loop() {
				raw, gz = 0, 0
				for _, p := range f.parts {
					raw, gz = raw+len(p), gz+gzipSize(b, p)
				}
			}
			b.ReportMetric(float64(raw), "raw-B")
			b.ReportMetric(float64(gz), "gzip-B")
		})
	}
}

func get(t *testing.T, h http.Handler, target string, header ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func TestServeChatbox(t *testing.T) {
	h := New(Options{})
	loader, js, css := chatboxParts(t)
	var jsPath, cssPath string
	for name := range distFiles(t) {
		switch {
		case !strings.HasPrefix(name, "chatbox."):
		case strings.HasSuffix(name, ".js"):
			jsPath = "/chatbox/" + name
		case strings.HasSuffix(name, ".css"):
			cssPath = "/chatbox/" + name
		}
	}
	for _, tc := range []struct {
		path, cache string
		body        []byte
	}{
		{LoaderPath, "public, max-age=300", loader},
		{jsPath, "public, max-age=31536000, immutable", js},
		{cssPath, "public, max-age=31536000, immutable", css},
		{"/chatbox/chatbox.js", "public, max-age=300", js},
		{"/chatbox/chatbox.css", "public, max-age=300", css},
	} {
		resp := get(t, h, tc.path)
		body, _ := io.ReadAll(resp.Body)
		etag := resp.Header.Get("ETag")
		ctype := "text/javascript; charset=utf-8"
		if strings.HasSuffix(tc.path, ".css") {
			ctype = "text/css; charset=utf-8"
		}
		if resp.StatusCode != 200 || !bytes.Equal(body, tc.body) || resp.Header.Get("Cache-Control") != tc.cache || etag == "" ||
			resp.Header.Get("Content-Type") != ctype {
			t.Errorf("%s: %d, %d bytes, headers %v", tc.path, resp.StatusCode, len(body), resp.Header)
		}
		if resp := get(t, h, tc.path, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %d, want 304", tc.path, resp.StatusCode)
		}
		resp = get(t, h, tc.path, "Accept-Encoding", "gzip, deflate, br")
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatalf("%s gzipped: %v", tc.path, err)
		}
		unzipped, _ := io.ReadAll(zr)
		if resp.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(unzipped, tc.body) || resp.Header.Get("ETag") == etag {
			t.Errorf("%s gzipped: headers %v, %d bytes once unzipped", tc.path, resp.Header, len(unzipped))
		}
	}
	for _, p := range []string{"/chatbox/chatbox.0000000000.js", "/chatbox/", "/elsewhere"} {
		if resp := get(t, h, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestDemoPage(t *testing.T) {
	for _, tc := range []struct {
		opt    Options
		target string
		want   []string
		not    []string
	}{
		{Options{}, "/", []string{`src="/chatbox/loader.js"`, `data-bot="` + bascule.SampleBotID + `"`, `data-mode="teaser"`, `lang="en"`}, []string{"data-servers"}},
		{Options{Servers: []string{"https://app1.example.com", "https://app2.example.com"}}, "/delivery?lang=fr&mode=popin",
			[]string{`data-servers="https://app1.example.com https://app2.example.com"`, `data-mode="popin"`, `data-lang="fr"`, "Livraison et retours", `href="/?lang=fr&amp;mode=popin"`}, nil},
		{Options{Servers: []string{`"><script>alert(1)</script>`}, Bot: "b"}, "/demo?mode=<x>", []string{`data-bot="b"`, `data-mode="teaser"`, "&lt;script&gt;"}, []string{"<script>alert"}},
	} {
		resp := get(t, New(tc.opt), tc.target)
		body, _ := io.ReadAll(resp.Body)
		page := string(body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%s: %d %v", tc.target, resp.StatusCode, resp.Header)
		}
		for _, w := range tc.want {
			if !strings.Contains(page, w) {
				t.Errorf("%s (%+v): page lacks %s", tc.target, tc.opt, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(page, w) {
				t.Errorf("%s (%+v): page has %s", tc.target, tc.opt, w)
			}
		}
	}
}
