package testenv

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

func TestFaultProxy(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "from the server")
	}))
	defer server.Close()
	p := StartFaultProxy(t, server.URL)
	client := &http.Client{Timeout: 500 * time.Millisecond}
	get := func() (int, string, error) {
		resp, err := client.Get(p.URL + "/servlet/api/serverstatus")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), nil
	}
	for _, tc := range []struct {
		fault Fault
		code  int
		check func(error) bool
	}{
		{Pass, 200, nil},
		{Fail500, 500, nil},
		{Fail403, 403, nil},
		{Hang, 0, func(err error) bool {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout()
		}},
		{Refuse, 0, func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }},
		{Pass, 200, nil},
		{Busy, 429, nil},
		{Busy, 429, nil},
	} {
		p.Set(tc.fault)
		code, body, err := get()
		switch {
		case tc.check != nil && (err == nil || !tc.check(err)):
			t.Errorf("%v: got %d %q, %v; want the matching network error", tc.fault, code, body, err)
		case tc.check == nil && (err != nil || code != tc.code):
			t.Errorf("%v: got %d %q, %v; want %d", tc.fault, code, body, err, tc.code)
		case tc.fault == Pass && body != "from the server":
			t.Errorf("pass: body %q", body)
		}
		if tc.fault == Busy {
			// Busy refuses one request only, as a rate limit that frees up.
			if code, _, err := get(); err != nil || code != 200 {
				t.Errorf("after a 429: %d, %v; want the server's answer", code, err)
			}
		}
	}

	// A server that is down fails requests as a network error, as it would without the proxy.
	server.Close()
	if code, _, err := get(); err == nil {
		t.Errorf("server down: got %d, want a network error", code)
	}
}

func TestFaultProxyHangEndsWithTheMode(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer server.Close()
	p := StartFaultProxy(t, server.URL)
	p.Set(Hang)
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(p.URL)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a request returned while the proxy hangs: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	p.Set(Pass)
	select {
	case err := <-done:
		if err == nil {
			t.Error("a held request got an answer; want it cut, as by a server that died")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a held request still hangs after the mode changed")
	}
}
