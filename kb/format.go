package kb

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/bascule/bascule"
)

// MaxFileSize bounds an import file, so that a wrong file cannot exhaust memory.
const MaxFileSize = 64 << 20

// DecodeJSON reads a complete model. Unknown fields are errors: a misspelt field silently
// ignored would lose data.
func DecodeJSON(r io.Reader) (*bascule.KnowledgeBase, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, bascule.FieldErrorf("file", "larger than %d MiB", MaxFileSize>>20)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var kb bascule.KnowledgeBase
	if err := dec.Decode(&kb); err != nil {
		return nil, jsonError(data, err)
	}
	if dec.More() {
		return nil, bascule.FieldErrorf("file", "holds more than one JSON value")
	}
	return &kb, nil
}

// jsonError names the line and the field of a decoding error.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return bascule.FieldErrorf(fmt.Sprintf("line %d", lineOf(data, se.Offset)), "invalid JSON: %v", se)
	case errors.As(err, &te):
		return bascule.FieldErrorf(te.Field, "line %d: %s cannot hold a JSON %s", lineOf(data, te.Offset), te.Type, te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return bascule.FieldErrorf(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return bascule.FieldErrorf(fmt.Sprintf("line %d", lineOf(data, int64(len(data)))), "invalid JSON: the file ends too early")
	case errors.Is(err, io.EOF):
		return bascule.FieldErrorf("file", "is empty")
	}
	return bascule.FieldErrorf("file", "%v", err)
}

func lineOf(data []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(data)))
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

// EncodeJSON writes a complete model, indented for review and diffs.
func EncodeJSON(w io.Writer, kb *bascule.KnowledgeBase) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(kb)
}

// CSV columns. question and answer are required; the others are optional. Formulations and
// tags are separated by '|'.
var csvColumns = []string{"id", "language", "question", "answer", "formulations", "tags", "space", "enabled"}

// WriteCSV writes a bot's knowledge as a plain list (groups and sentences are JSON-only).
func WriteCSV(w io.Writer, kb *bascule.KnowledgeBase) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvColumns); err != nil {
		return err
	}
	for _, k := range kb.Knowledge {
		id := ""
		if k.ID != 0 {
			id = strconv.FormatInt(k.ID, 10)
		}
		if err := cw.Write([]string{id, k.Language, k.Question, k.Answer,
			strings.Join(k.Formulations, "|"), strings.Join(k.Tags, "|"), k.Space, strconv.FormatBool(k.Enabled)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ReadCSV reads a plain question/answer list for bot b. Missing languages default to the
// bot's first. Errors name the line, the item and the field.
func ReadCSV(r io.Reader, b *bascule.Bot) ([]bascule.Knowledge, error) {
	cr := csv.NewReader(io.LimitReader(r, MaxFileSize))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, bascule.FieldErrorf("file", "is empty: the first line must name the columns (%s)", strings.Join(csvColumns, ","))
		}
		return nil, bascule.FieldErrorf("line 1", "%v", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !slices.Contains(csvColumns, h) {
			return nil, bascule.FieldErrorf("line 1", "unknown column %q (columns: %s)", h, strings.Join(csvColumns, ","))
		}
		if _, dup := col[h]; dup {
			return nil, bascule.FieldErrorf("line 1", "column %q appears twice", h)
		}
		col[h] = i
	}
	for _, need := range []string{"question", "answer"} {
		if _, ok := col[need]; !ok {
			return nil, bascule.FieldErrorf("line 1", "column %q is required", need)
		}
	}
	var items []bascule.Knowledge
	var errs []error
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, bascule.FieldErrorf(fmt.Sprintf("line %d", pe.Line), "%v", pe.Err)
			}
			return nil, bascule.FieldErrorf("file", "%v", err)
		}
		line, _ := cr.FieldPos(0)
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		item := fmt.Sprintf("line %d: knowledge[%d]", line, len(items))
		k := bascule.Knowledge{Question: get("question"), Answer: get("answer"), Language: get("language"), Space: get("space"), Enabled: true}
		if k.Language == "" && len(b.Languages) > 0 {
			k.Language = b.Languages[0]
		}
		if v := get("id"); v != "" {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil || id <= 0 {
				errs = append(errs, bascule.FieldErrorf(item+".id", "%q is not a positive number", v))
			}
			k.ID = id
		}
		if v := get("enabled"); v != "" {
			e, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, bascule.FieldErrorf(item+".enabled", "%q is not true or false", v))
			}
			k.Enabled = e
		}
		k.Formulations = splitList(get("formulations"))
		k.Tags = splitList(get("tags"))
		clean(&k.Answer)
		if err := k.Validate(b, item); err != nil {
			errs = append(errs, err)
		}
		items = append(items, k)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return items, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, "|") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
