// Package web serves the browser side of Bascule: the demo page (and, with the chatbox, the
// loader and the full chatbox).
package web

import (
	_ "embed"
	"net/http"
)

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
