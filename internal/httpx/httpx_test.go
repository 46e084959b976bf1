package httpx

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bascule/bascule"
)

func TestClientIP(t *testing.T) {
	p, err := ParseProxies([]string{"127.0.0.0/8", "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ remote, xff, want string }{
		{"203.0.113.9:5555", "", "203.0.113.9"},
		{"203.0.113.9:5555", "1.2.3.4", "203.0.113.9"}, // untrusted peer: header ignored
		{"127.0.0.1:5555", "1.2.3.4", "1.2.3.4"},
		{"127.0.0.1:5555", "6.6.6.6, 1.2.3.4, 10.0.0.1", "1.2.3.4"}, // spoofed first hop ignored
		{"127.0.0.1:5555", "garbage", "127.0.0.1"},
		{"127.0.0.1:5555", "", "127.0.0.1"},
		{"[::1]:5555", "2001:db8::1", "::1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := p.ClientIP(r); got != tc.want {
			t.Errorf("ClientIP(%s, %q) = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
	if _, err := ParseProxies([]string{"nope"}); err == nil {
		t.Fatal("a bad proxy must be refused")
	}
}

func TestWriteErrorHidesInternals(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, httptest.NewRequest("GET", "/", nil), slog.New(slog.DiscardHandler), &bascule.Error{Code: bascule.CodeInternal, Message: "open /secret/path.db: permission denied"})
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("internal error leaked: %d %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	WriteError(w, httptest.NewRequest("GET", "/", nil), slog.New(slog.DiscardHandler), bascule.FieldErrorf("knowledge[2].answer", "must not be empty"))
	if w.Code != 400 || !strings.Contains(w.Body.String(), `"field":"knowledge[2].answer"`) {
		t.Fatalf("field error: %d %s", w.Code, w.Body)
	}
}

func TestRecover(t *testing.T) {
	h := Recover(slog.New(slog.DiscardHandler), http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 500 || strings.Contains(w.Body.String(), "boom") {
		t.Fatalf("panic answer: %d %s", w.Code, w.Body)
	}
}
