package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// Transport is an http.RoundTripper that sends each request through the proxy the watcher's
// CURRENT settings choose for it, so a reloaded options.env applies to the next request
// without a restart and without recreating clients.
//
// Connections stay safe across a change: net/http pools connections by proxy URL (credentials
// included), so one opened under old settings is never picked for new ones; the transport also
// closes its idle connections when it first sees new settings, to let old tunnels go.
type Transport struct {
	watcher *Watcher
	base    *http.Transport
	seen    atomic.Uint64 // the settings generation the idle connections were opened under
}

// proxyChoice travels in the request's context from RoundTrip, which decides once per request,
// to the base transport's Proxy hook and back to the caller in errors.
type proxyChoice struct {
	proxy  *Proxy
	scheme string // "http" or "https": which keys of options.env configured it
}

type proxyChoiceKey struct{}

// NewTransport returns a Transport over w's settings. tlsConfig may be nil for the system's
// roots; give one to trust a private CA or to present a client certificate.
func NewTransport(w *Watcher, tlsConfig *tls.Config) *Transport {
	t := &Transport{watcher: w}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t.base = &http.Transport{
		Proxy: func(r *http.Request) (*url.URL, error) {
			if c, _ := r.Context().Value(proxyChoiceKey{}).(*proxyChoice); c != nil {
				return c.proxy.URL(), nil
			}
			return nil, nil
		},
		OnProxyConnectResponse: func(ctx context.Context, _ *url.URL, _ *http.Request, resp *http.Response) error {
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			c, _ := ctx.Value(proxyChoiceKey{}).(*proxyChoice)
			if c == nil { // net/http keeps the request's values in the dial's context; if it ever stops
				return fmt.Errorf("the proxy refused the tunnel: HTTP %s", resp.Status)
			}
			return c.refused(resp)
		},
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig,
		ForceAttemptHTTP2:     true, // a custom TLS config turns HTTP/2 off unless asked for
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   8,
	}
	return t
}

// NewClient returns an http.Client over NewTransport(w, nil). Its 30 s overall timeout is a
// backstop: callers set their own, shorter deadlines on the request context.
func NewClient(w *Watcher) *http.Client {
	return &http.Client{Transport: NewTransport(w, nil), Timeout: 30 * time.Second}
}

// RoundTrip sends req directly or through the proxy chosen by the current settings. Errors of
// a proxied request are *ProxyError, naming the proxy and the options.env keys to check.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	gen := t.watcher.current()
	if t.seen.Swap(gen.n) != gen.n {
		t.base.CloseIdleConnections()
	}
	p := gen.settings.ProxyFor(req.URL)
	if p == nil {
		return t.base.RoundTrip(req)
	}
	c := &proxyChoice{proxy: p, scheme: req.URL.Scheme}
	req = req.WithContext(context.WithValue(req.Context(), proxyChoiceKey{}, c))
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		// OnProxyConnectResponse's errors come back already explained.
		if pe := (*ProxyError)(nil); errors.As(err, &pe) {
			return nil, pe
		}
		return nil, &ProxyError{Proxy: p.Addr(), Scheme: c.scheme, Err: err}
	}
	// A plain http:// request gets the proxy's own answer when it refuses; 407 can only come
	// from a proxy, so it is reported as the proxy's problem rather than the service's.
	if resp.StatusCode == http.StatusProxyAuthRequired {
		resp.Body.Close()
		return nil, c.refused(resp)
	}
	return resp, nil
}

// CloseIdleConnections closes the connections kept for reuse.
func (t *Transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// ProxyError is the failure of a request sent through a proxy: the proxy could not be reached,
// refused the request or its credentials, or the service behind it did not answer.
type ProxyError struct {
	Proxy  string // host:port, never credentials
	Scheme string // "http" or "https": the options.env keys that chose this proxy
	Status int    // the proxy's HTTP status when it refused, else 0
	Err    error
}

func (e *ProxyError) Error() string {
	return fmt.Sprintf("through proxy %s (%s.proxyHost): %v", e.Proxy, e.Scheme, e.Err)
}

func (e *ProxyError) Unwrap() error { return e.Err }

// refused explains a proxy's refusal in terms of options.env keys.
func (c *proxyChoice) refused(resp *http.Response) *ProxyError {
	pe := &ProxyError{Proxy: c.proxy.Addr(), Scheme: c.scheme, Status: resp.StatusCode}
	user, password := c.scheme+".proxyUser", c.scheme+".proxyPassword"
	switch {
	case resp.StatusCode != http.StatusProxyAuthRequired && resp.StatusCode != http.StatusUnauthorized:
		pe.Err = fmt.Errorf("the proxy refused the request: HTTP %s", resp.Status)
	case c.proxy.User == "":
		pe.Err = fmt.Errorf("the proxy asks for credentials (HTTP %s): set %s and %s", resp.Status, user, password)
	default:
		// Some proxies (tinyproxy) answer 401 rather than 407 to wrong credentials.
		pe.Err = fmt.Errorf("the proxy refused the credentials of %s (HTTP %s): check %s and %s", c.proxy.User, resp.Status, user, password)
	}
	return pe
}

// proxyOf returns the proxy the transport chose for the request that got resp, or nil.
func proxyOf(resp *http.Response) *proxyChoice {
	if resp == nil || resp.Request == nil {
		return nil
	}
	c, _ := resp.Request.Context().Value(proxyChoiceKey{}).(*proxyChoice)
	return c
}
