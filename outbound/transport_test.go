package outbound

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// A reload drops the connections kept for reuse, so nothing opened under old settings
// outlives them; without a reload, connections are reused as usual.
func TestTransportDropsIdleConnectionsOnReload(t *testing.T) {
	var opened atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	path := filepath.Join(t.TempDir(), "options.env")
	w, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: NewTransport(w, nil)}
	get := func() {
		t.Helper()
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get()
	get()
	if n := opened.Load(); n != 1 {
		t.Fatalf("%d connections for two requests, want one reused", n)
	}
	// New settings that still send this request directly: the old connection goes anyway.
	if err := os.WriteFile(path, []byte("https.proxyHost=proxy.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	get()
	if n := opened.Load(); n != 2 {
		t.Fatalf("%d connections after a reload, want a new one", n)
	}
}
