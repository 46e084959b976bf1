package chatapi

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"encoding/base64"
	"encoding/json"
	"github.com/bascule/bascule"
	"strconv"
)

// envelope writes dydu's response envelope {"type":"...","values":{...}} where every string
// inside values is base64(UTF-8), as the chatbox decodes them (reference §5). It appends to a
// byte slice directly: the talk answer is the hottest path of the server.
type envelope struct {
	b     []byte
	first bool // no key written yet in the current object
}

func newEnvelope(typ string) *envelope {
	e := &envelope{b: make([]byte, 0, 1024)}
	e.b = append(e.b, `{"type":`...)
	e.b = strconv.AppendQuote(e.b, typ)
	e.b = append(e.b, `,"values":{`...)
	e.first = true
	return e
}

func (e *envelope) key(k string) {
	if !e.first {
		e.b = append(e.b, ',')
	}
	e.first = false
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, `":`...)
}

// str writes a base64-encoded string value.
func (e *envelope) str(k, v string) {
	e.key(k)
	e.b = appendB64(e.b, v)
}

func appendB64(b []byte, v string) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, []byte(v))
	return append(b, '"')
}

func (e *envelope) boolean(k string, v bool) {
	e.key(k)
	e.b = strconv.AppendBool(e.b, v)
}

func (e *envelope) num(k string, v int64) {
	e.key(k)
	e.b = strconv.AppendInt(e.b, v, 10)
}

// strs writes an array of base64-encoded strings.
func (e *envelope) strs(k string, vs []string) {
	e.key(k)
	e.b = append(e.b, '[')
	for i, v := range vs {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.b = appendB64(e.b, v)
	}
	e.b = append(e.b, ']')
}

// jsonText writes a value as base64 of its JSON text (topknowledge articles, template data).
func (e *envelope) jsonText(k string, v any) error {
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	e.str(k, string(j))
	return nil
}

// object opens a nested object value; close it with end.
func (e *envelope) object(k string) {
	e.key(k)
	e.b = append(e.b, '{')
	e.first = true
}

// array opens an array of objects; each element starts with elem, the array ends with endArray.
func (e *envelope) array(k string) {
	e.key(k)
	e.b = append(e.b, '[')
	e.first = true
}

func (e *envelope) elem() {
	if !e.first {
		e.b = append(e.b, ',')
	}
	e.b = append(e.b, '{')
	e.first = true
}

func (e *envelope) end()      { e.b = append(e.b, '}'); e.first = false }
func (e *envelope) endArray() { e.b = append(e.b, ']'); e.first = false }

// bytes closes the envelope and returns it.
func (e *envelope) bytes() []byte { return append(e.b, "}}"...) }

// talkForm is what the server reads of a talk (reference §8.7).
type talkForm struct {
	userInput, language, space, clientID, userURL, browser, os, interactionID, variables, mode string
}

// readTalkForm reads a talk's url-encoded body field by field, without the two maps
// Request.ParseForm builds: the talk is the request of every question, and its form the
// biggest share of its allocations. Other bodies (a query string, another encoding) go
// through ParseForm.
func readTalkForm(r *http.Request) (talkForm, error) {
	var f talkForm
	if r.URL.RawQuery != "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := form(r); err != nil {
			return f, err
		}
		v := r.Form
		return talkForm{v.Get("userInput"), v.Get("language"), v.Get("space"), v.Get("clientId"), v.Get("userUrl"),
			v.Get("browser"), v.Get("os"), v.Get("interactionId"), v.Get("variables"), v.Get("mode")}, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return f, mbe
		}
		return f, bascule.FieldErrorf("body", "could not be read: %v", err)
	}
	for rest := string(body); rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		key, value, _ := strings.Cut(pair, "=")
		var dst *string
		switch key {
		case "userInput":
			dst = &f.userInput
		case "language":
			dst = &f.language
		case "space":
			dst = &f.space
		case "clientId":
			dst = &f.clientID
		case "userUrl":
			dst = &f.userURL
		case "browser":
			dst = &f.browser
		case "os":
			dst = &f.os
		case "interactionId":
			dst = &f.interactionID
		case "variables":
			dst = &f.variables
		case "mode":
			dst = &f.mode
		default:
			continue
		}
		if *dst != "" {
			continue // the first value wins, as with url.Values.Get
		}
		v, err := url.QueryUnescape(value)
		if err != nil {
			return f, bascule.FieldErrorf(key, "not a valid form value: %v", err)
		}
		*dst = v
	}
	return f, nil
}
