package chatapi

import (
	"cmp"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// parseRawForm reads the bodies the dydu chatbox builds by joining key=value with '&' without
// percent-encoding (reference §4.2: poll and survey). Values may hold spaces, non-ASCII
// characters and even '&' or '='; the literal "null" means empty. A value runs until the next
// "&key=" whose key is one the caller expects, so free text cannot cut a field short. Keys
// the body lacks are absent from the result.
func parseRawForm(body string, keys []string) map[string]string {
	out := make(map[string]string, len(keys))
	if !utf8.ValidString(body) {
		body = strings.ToValidUTF8(body, "\uFFFD")
	}
	// Where each expected key starts: at the beginning or right after '&' (first occurrence).
	type mark struct {
		key     string
		at, val int
	}
	var marks []mark
	for _, k := range keys {
		for from := 0; from < len(body); {
			i := strings.Index(body[from:], k+"=")
			if i < 0 {
				break
			}
			i += from
			if i == 0 || body[i-1] == '&' {
				marks = append(marks, mark{k, i, i + len(k) + 1})
				break
			}
			from = i + 1
		}
	}
	slices.SortFunc(marks, func(a, b mark) int { return cmp.Compare(a.at, b.at) })
	for i, m := range marks {
		end := len(body)
		if i+1 < len(marks) {
			end = marks[i+1].at - 1 // the '&' before the next key
		}
		v := body[m.val:max(end, m.val)]
		if v == "null" {
			v = ""
		}
		// A well-behaved client may still percent-encode: decode when it is valid. '+' stays a
		// plus: the raw bodies do not encode spaces.
		if strings.IndexByte(v, '%') >= 0 {
			if d, err := url.PathUnescape(v); err == nil && utf8.ValidString(d) {
				v = d
			}
		}
		out[m.key] = v
	}
	return out
}
