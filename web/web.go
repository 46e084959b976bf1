// Package web serves the browser side of Bascule: the chatbox that a customer's website embeds
// with one script tag (a tiny loader, and the full chatbox that the loader fetches when a
// visitor opens it) and the demo page, a small shop with the chatbox.
//
// The chatbox is built from src/ by esbuild into dist/ (go generate ./web/...); dist/ is
// committed and embedded, so building the server needs no JavaScript toolchain.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/bascule/bascule"
)

//go:generate go run ./internal/gen

//go:embed dist
var dist embed.FS

// LoaderPath is the stable address of the loader on every server: the one URL a customer's
// page names.
const LoaderPath = "/chatbox/loader.js"

// Caching: the loader's URL never changes, so browsers may keep it only briefly (a new release
// reaches visitors within five minutes); the full chatbox is named after its content, so a
// name always means the same bytes.
const (
	loaderCache  = "public, max-age=300"
	chatboxCache = "public, max-age=31536000, immutable"
)

// Options configure the web handler.
type Options struct {
	// Servers are the chat servers of the demo page's chatbox, in failover order (main first).
	// Empty: the server that serves the page.
	Servers []string
	// Bot is the demo page's bot (default: the sample bot).
	Bot string
	// Controls is the base URL of the demo's switch controls (POST Controls+"/demo/main/stop"
	// and "/start"); when set, the demo page shows how to stop and restart the main.
	Controls string
}

// Handler serves the loader at LoaderPath, the full chatbox under /chatbox/ by content-hashed
// names (and under the stable names chatbox.js and chatbox.css, which a loader of another
// release falls back to), and the demo page (/, /demo and /delivery, a second page to move
// to).
type Handler struct {
	opt    Options
	assets map[string]*asset // by URL path
}

// asset is one file of the chatbox, ready to serve as it is or gzipped.
type asset struct {
	body, gz []byte
	etag     string
	ctype    string
	cacheCtl string
}

// New builds the handler. It compresses the chatbox's files once, here.
func New(opt Options) *Handler {
	if opt.Bot == "" {
		opt.Bot = bascule.SampleBotID
	}
	h := &Handler{opt: opt, assets: map[string]*asset{}}
	files, err := fs.Glob(dist, "dist/*")
	if err != nil || len(files) == 0 {
		// dist is embedded at build time: an empty one is a build defect, not a runtime state.
		panic("web: no chatbox in dist/; run go generate ./web/...")
	}
	for _, f := range files {
		body, err := dist.ReadFile(f)
		if err != nil {
			panic("web: " + err.Error())
		}
		name := path.Base(f)
		a := &asset{body: body, ctype: "text/javascript; charset=utf-8", cacheCtl: chatboxCache}
		if strings.HasSuffix(name, ".css") {
			a.ctype = "text/css; charset=utf-8"
		}
		if name == path.Base(LoaderPath) {
			a.cacheCtl = loaderCache
		}
		sum := sha256.Sum256(body)
		a.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		a.gz = gz.Bytes()
		h.assets["/chatbox/"+name] = a
		if a.cacheCtl == chatboxCache && strings.HasPrefix(name, "chatbox.") {
			// The stable name of this release's chatbox, for loaders of another release.
			stable := *a
			stable.cacheCtl = loaderCache
			h.assets["/chatbox/chatbox"+path.Ext(name)] = &stable
		}
	}
	return h
}

// DeskAssets returns the URL paths of the operator desk's script and style (served by the
// Handler, named after their content).
func DeskAssets() (script, style string) {
	files, _ := fs.Glob(dist, "dist/desk.*")
	for _, f := range files {
		switch path.Ext(f) {
		case ".js":
			script = "/chatbox/" + path.Base(f)
		case ".css":
			style = "/chatbox/" + path.Base(f)
		}
	}
	return script, style
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a, ok := h.assets[r.URL.Path]; ok {
		a.serve(w, r)
		return
	}
	switch r.URL.Path {
	case "/", "/demo", "/delivery":
		h.demo(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	body, etag := a.body, a.etag
	// Every browser sends gzip; a client that does not (curl) gets the plain file.
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		body, etag = a.gz, a.etag[:len(a.etag)-1]+`-gz"`
		hd.Set("Content-Encoding", "gzip")
	}
	hd.Set("Vary", "Accept-Encoding")
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", a.cacheCtl)
	hd.Set("ETag", etag)
	// Customers' pages load these files from our origin; pages that isolate themselves
	// (Cross-Origin-Embedder-Policy) need the explicit permission.
	hd.Set("Cross-Origin-Resource-Policy", "cross-origin")
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("X-Content-Type-Options", "nosniff")
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// etagMatch reports whether an If-None-Match header names etag (or is "*").
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
