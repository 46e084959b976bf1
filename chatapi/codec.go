package chatapi

import (
	"encoding/base64"
	"encoding/json"
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
