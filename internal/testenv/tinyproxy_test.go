package testenv

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestTinyproxyLog pins down what tinyproxy 1.11 does and logs, which the proxy tests rely on:
// a plain request is logged with its absolute URL, a tunnel with host:port, and a refusal is
// only visible as a request that was not forwarded.
func TestTinyproxyLog(t *testing.T) {
	p := StartTinyproxy(t, TinyproxyOptions{User: "alice", Password: "s3cret"})
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("Via"))
	}))
	defer plain.Close()
	secure := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer secure.Close()

	get := func(target string, user *url.Userinfo) (int, error) {
		proxy := &url.URL{Scheme: "http", Host: p.Addr(), User: user}
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy),
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the test's own server
		resp, err := c.Get(target)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	good, bad := url.UserPassword("alice", "s3cret"), url.UserPassword("alice", "wrong")
	tunnel := strings.TrimPrefix(secure.URL, "https://")
	steps := []struct {
		target     string
		user       *url.Userinfo
		wantStatus int    // for plain requests
		wantErr    string // for tunnels, which net/http reports as errors
	}{
		{plain.URL + "/ok", good, 200, ""},
		{plain.URL + "/bad", bad, 401, ""}, // tinyproxy answers 401, not 407, to wrong credentials
		{plain.URL + "/none", nil, 407, ""},
		{secure.URL + "/ok", good, 200, ""},
		{secure.URL + "/bad", bad, 0, "Unauthorized"},
	}
	for _, s := range steps {
		status, err := get(s.target, s.user)
		if status != s.wantStatus || (err == nil) != (s.wantErr == "") || err != nil && !strings.Contains(err.Error(), s.wantErr) {
			t.Errorf("%s: status %d, error %v", s.target, status, err)
		}
	}
	want := []ProxiedRequest{
		{"GET", plain.URL + "/ok", true},
		{"GET", plain.URL + "/bad", false},
		{"GET", plain.URL + "/none", false},
		{"CONNECT", tunnel, true},
		{"CONNECT", tunnel, false},
	}
	if got := p.Requests(t); !reflect.DeepEqual(got, want) {
		t.Errorf("requests:\n%+v\nwant\n%+v\nlog:\n%s", got, want, p.Log(t))
	}
}
