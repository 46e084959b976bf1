// Package web serves the browser side of Bascule: the demo page (and, with the chatbox, the
// loader and the full chatbox).
//
// The chatbox is built from src/ by esbuild into dist/ (go generate ./web/...); dist/ is
// committed and embedded, so building the server needs no JavaScript toolchain.
package web

import (
	"embed"
	"net/http"
)

//go:generate go run ./internal/gen

//go:embed dist
var dist embed.FS

//go:embed demo.html
var demoPage []byte

// Demo serves the demo page.
func Demo(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/demo" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(demoPage)
}
