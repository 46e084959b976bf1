package testenv

import (
	"crypto/tls"
	"net/http"
	"time"
)

// InsecureClient is an HTTP client for tests that talk to servers with throwaway
// certificates on 127.0.0.1.
func InsecureClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test servers on loopback
	}}
}
