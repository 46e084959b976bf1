package testenv

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// Fault is how a FaultProxy treats the requests it receives.
type Fault int

// The faults a FaultProxy plays: the ways a main server fails that a chatbox must survive.
const (
	Pass    Fault = iota // forward to the server (a dead server's requests fail as a network error)
	Fail500              // answer 500 Internal Server Error without asking the server
	Fail403              // answer 403 Forbidden without asking the server
	Hang                 // accept the request and never answer (until the mode changes)
	Refuse               // close the listener: connections are refused, open ones are cut
	// Busy answers the next request 429 Too Many Requests with Retry-After: 1, as a server's
	// rate limit does, then passes requests through again.
	Busy
)

// String names the fault in messages.
func (f Fault) String() string {
	switch f {
	case Pass:
		return "pass"
	case Fail500:
		return "500"
	case Fail403:
		return "403"
	case Hang:
		return "hang"
	case Refuse:
		return "refuse"
	case Busy:
		return "429"
	}
	return "fault?"
}

// FaultProxy is a reverse proxy on 127.0.0.1 in front of a real server. A test switches it
// between passing requests through and failing in one of the ways a main server fails, to see
// what the clients in front of it do.
type FaultProxy struct {
	URL string // http://127.0.0.1:PORT, stable across Refuse and back

	t     testing.TB
	addr  string
	proxy *httputil.ReverseProxy

	mu      sync.Mutex
	fault   Fault
	srv     *http.Server  // nil while refusing
	release chan struct{} // closed to end the requests held by Hang
}

// StartFaultProxy starts a proxy to target (a base URL such as http://127.0.0.1:8080) in Pass
// mode. It stops when the test ends.
func StartFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("fault proxy target: %v", err)
	}
	p := &FaultProxy{t: t, release: make(chan struct{})}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) },
		// No reuse of connections: a restarted server must not meet connections to its
		// previous process.
		Transport: &http.Transport{DisableKeepAlives: true},
		// A server that is down fails the client's request as a network error, as it would
		// without the proxy, not with the proxy's 502.
		ErrorHandler: func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) },
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fault proxy: %v", err)
	}
	p.addr = l.Addr().String()
	p.URL = "http://" + p.addr
	p.serve(l)
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		close(p.release)
		if p.srv != nil {
			p.srv.Close()
		}
	})
	return p
}

func (p *FaultProxy) serve(l net.Listener) {
	p.srv = &http.Server{Handler: http.HandlerFunc(p.handle)}
	go p.srv.Serve(l)
}

// Set switches the proxy to a fault (or back to Pass). Requests held by Hang are cut when the
// mode changes; Refuse closes the listener and every open connection, and leaving it listens
// again on the same address.
func (p *FaultProxy) Set(f Fault) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if f == p.fault {
		return
	}
	if p.fault == Hang {
		close(p.release)
		p.release = make(chan struct{})
	}
	switch {
	case f == Refuse:
		p.srv.Close()
		p.srv = nil
	case p.fault == Refuse:
		l, err := net.Listen("tcp", p.addr)
		if err != nil {
			p.t.Fatalf("fault proxy: listen again on %s: %v", p.addr, err)
		}
		p.serve(l)
	}
	p.fault = f
}

func (p *FaultProxy) handle(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	fault, release := p.fault, p.release
	if fault == Busy {
		p.fault = Pass
	}
	p.mu.Unlock()
	switch fault {
	case Fail500, Fail403, Busy:
		code := http.StatusInternalServerError
		switch fault {
		case Fail403:
			code = http.StatusForbidden
		case Busy:
			code = http.StatusTooManyRequests
			w.Header().Set("Retry-After", "1")
		}
		// Errors of a real server carry its CORS headers too, so a browser reads the status
		// (and Retry-After) rather than a CORS failure.
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Expose-Headers", "Retry-After")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write([]byte(`{"error":{"message":"fault proxy: ` + fault.String() + `"}}`))
	case Hang:
		select {
		case <-r.Context().Done():
		case <-release:
		}
		panic(http.ErrAbortHandler)
	default:
		p.proxy.ServeHTTP(w, r)
	}
}
