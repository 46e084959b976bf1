package livechat

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bascule/bascule"
)

// Desk sessions are tokens signed with the operator's session key, which is part of the
// account and so replicated to the backup with it: a token made by one server of the pair is
// good on the other, and an operator whose desk moves to the backup stays logged in. Nothing
// about a session is stored, so there is nothing to replicate when an operator logs in (a
// login on the main a moment before it fails works on the backup). A new password makes a
// new key, which ends every session of the operator on both servers.
//
// A token is login.issued.expires.signature (times in Unix seconds). It expires after the
// idle time unless the desk renews it, and never lives past the maximum age from the login.

// Token is a signed desk session.
type Token struct {
	Login   string
	Issued  time.Time
	Expires time.Time
}

func sign(key, payload string) string {
	k, err := hex.DecodeString(key)
	if err != nil || len(k) == 0 {
		k = []byte(key)
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (t Token) payload() string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.Login)) + "." + strconv.FormatInt(t.Issued.Unix(), 10) + "." +
		strconv.FormatInt(t.Expires.Unix(), 10)
}

// Sign returns the token as text, signed with the account's session key.
func (t Token) Sign(key string) string {
	p := t.payload()
	return p + "." + sign(key, p)
}

// ParseToken reads a token without checking its signature (see Verify).
func ParseToken(s string) (Token, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 || len(s) > 512 {
		return Token{}, false
	}
	login, err := base64.RawURLEncoding.DecodeString(parts[0])
	issued, err1 := strconv.ParseInt(parts[1], 10, 64)
	expires, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || err1 != nil || err2 != nil || !bascule.IsLogin(string(login)) {
		return Token{}, false
	}
	return Token{Login: string(login), Issued: time.Unix(issued, 0), Expires: time.Unix(expires, 0)}, true
}

// Verify reports whether s is a token of t's content signed with key.
func (t Token) Verify(s, key string) bool {
	i := strings.LastIndexByte(s, '.')
	return i > 0 && s[:i] == t.payload() && hmac.Equal([]byte(s[i+1:]), []byte(sign(key, s[:i])))
}

// revoked remembers the tokens logged out on this server until they expire. It is not
// replicated: a token logged out here stays good on the peer until it expires (at most the
// idle time), which is why a new password, not a logout, is what ends a stolen session.
type revoked struct {
	mu sync.Mutex
	m  map[string]time.Time // token -> expiry
}

func (r *revoked) add(token string, exp, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]time.Time{}
	}
	for k, e := range r.m {
		if now.After(e) {
			delete(r.m, k)
		}
	}
	r.m[token] = exp
}

func (r *revoked) has(token string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.m[token]
	return ok
}
