// Package httpx holds the HTTP plumbing shared by Bascule's APIs: JSON errors that never leak
// internals, the client address behind trusted proxies, panic recovery, and the status codes
// of the product's error codes.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/bascule/bascule"
)

// ErrorBody is the JSON of every error answer: {"error":{"code":"...","field":"...","message":"..."}}.
// When the input has several problems (a validation), "errors" lists each with its field and
// "error" is the first of them.
type ErrorBody struct {
	Error  FieldMessage   `json:"error"`
	Errors []FieldMessage `json:"errors,omitempty"`
}

// FieldMessage is one problem.
type FieldMessage struct {
	Code    bascule.Code `json:"code"`
	Field   string       `json:"field,omitempty"`
	Message string       `json:"message"`
}

// StatusOf maps an error code to an HTTP status.
func StatusOf(c bascule.Code) int {
	switch c {
	case bascule.CodeInvalid:
		return http.StatusBadRequest
	case bascule.CodeNotFound:
		return http.StatusNotFound
	case bascule.CodeConflict, bascule.CodeReadOnly:
		return http.StatusConflict
	case bascule.CodeUnavailable:
		return http.StatusServiceUnavailable
	case bascule.CodeLimit:
		return http.StatusTooManyRequests
	case bascule.CodeUnauthorized:
		return http.StatusUnauthorized
	case bascule.CodeInfected:
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// WriteError answers with err as JSON. Product errors (*bascule.Error) keep their message;
// anything else is logged and answered with a generic message, so that no internal detail
// (paths, SQL, stack) ever reaches a client.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var body ErrorBody
	var be *bascule.Error
	var mbe *http.MaxBytesError
	status := http.StatusInternalServerError
	switch {
	case errors.As(err, &mbe):
		status = http.StatusRequestEntityTooLarge
		body.Error.Code, body.Error.Message = bascule.CodeLimit, fmt.Sprintf("request body larger than %d bytes", mbe.Limit)
	case errors.As(err, &be) && be.Code != bascule.CodeInternal:
		status = StatusOf(be.Code)
		body.Error = FieldMessage{be.Code, be.Field, be.Message}
		if be.Message == "" {
			body.Error.Message = strings.ReplaceAll(err.Error(), "\n", "; ")
		}
		if list := productErrors(err); len(list) > 1 {
			body.Errors = list
		}
	default:
		log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.String("err", err.Error()))
		body.Error.Code, body.Error.Message = bascule.CodeInternal, "the server could not complete the request; please try again"
	}
	WriteJSON(w, status, body)
}

// productErrors flattens errors.Join'ed product errors (a validation's list of problems).
func productErrors(err error) []FieldMessage {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []FieldMessage
		for _, e := range j.Unwrap() {
			out = append(out, productErrors(e)...)
		}
		return out
	}
	var be *bascule.Error
	if errors.As(err, &be) {
		return []FieldMessage{{be.Code, be.Field, be.Message}}
	}
	return nil
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"encoding failed"}}`, http.StatusInternalServerError)
		return
	}
	WriteRaw(w, status, b)
}

// jsonType is shared by every JSON answer (net/http only reads header values): one
// allocation less per answer. net/http sets Content-Length itself for bodies this small.
var jsonType = []string{"application/json; charset=utf-8"}

// WriteRaw answers with a JSON body already encoded.
func WriteRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = jsonType
	w.WriteHeader(status)
	w.Write(body)
}

// TooManyRequests answers 429 with Retry-After.
func TooManyRequests(w http.ResponseWriter, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	var body ErrorBody
	body.Error.Code, body.Error.Message = bascule.CodeLimit, fmt.Sprintf("too many requests; retry in %d s", max(secs, 1))
	WriteJSON(w, http.StatusTooManyRequests, body)
}

// Proxies decides which peers may tell the client's address in X-Forwarded-For.
type Proxies []netip.Prefix

// ParseProxies reads addresses and CIDR prefixes.
func ParseProxies(list []string) (Proxies, error) {
	var out Proxies
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not an address or CIDR prefix", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (p Proxies) trusted(a netip.Addr) bool {
	for _, pr := range p {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address of the visitor: the connection's peer, or, when that peer is a
// trusted proxy, the last address in X-Forwarded-For that is not itself a trusted proxy.
func (p Proxies) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !p.trusted(a.Unmap()) {
		return host
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			c, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return host // a malformed header: trust nothing it says
			}
			if !p.trusted(c.Unmap()) {
				return c.Unmap().String()
			}
		}
	}
	return host
}

// Recover turns a panic in a handler into a 500 and one log line, so that one bad request
// cannot take the server down or leave a connection hanging.
func Recover(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.LogAttrs(r.Context(), slog.LevelError, "handler panic", slog.String("path", r.URL.Path), slog.Any("panic", v))
				WriteError(w, r, slog.New(slog.DiscardHandler), errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
