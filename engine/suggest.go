package engine

import (
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bascule/bascule"
)

// Autocomplete reads the last word of the input as the start of a word. A prefix shorter than
// minPrefix would match most of the vocabulary; maxPrefixTerms bounds the work for a short one.
const (
	minPrefix      = 2
	maxPrefixTerms = 64
	maxPrefixWords = 4 * maxPrefixTerms
)

// Suggest returns up to n knowledge questions for autocomplete (dydu chat/search) for a partial
// input (prefix of words), best first. The words before the last are matched as Search does;
// the last one, when the input does not end with a space, matches every word it starts, and
// an item must hold one of them.
func (ix *Index) Suggest(input, lang, space string, n int) []*bascule.Knowledge {
	li := ix.langs[lang]
	if li == nil || n <= 0 {
		return nil
	}
	head, tail := splitPartial(input)
	st := li.pool.Get().(*state)
	li.parse(st, head)
	li.prefixTerms(st, tail)
	if len(st.pre) > 0 {
		li.accumulate(st, st.pre, false, 1)
		li.accumulate(st, st.q, true, 1)
	} else {
		li.accumulate(st, st.q, false, 1)
	}
	top := li.rankItems(st, space, n)
	var out []*bascule.Knowledge
	if len(top) > 0 {
		out = make([]*bascule.Knowledge, len(top))
		for i, it := range top {
			out[i] = li.items[it]
		}
	}
	li.release(st)
	return out
}

// splitPartial cuts the word being typed off the end of input.
func splitPartial(input string) (head, tail string) {
	if len(input) > maxInputBytes {
		return input, ""
	}
	i := len(input)
	for i > 0 {
		r, size := utf8.DecodeLastRuneInString(input[:i])
		if r == utf8.RuneError || !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)) {
			break
		}
		i -= size
	}
	return input[:i], input[i:]
}

// prefixTerms fills st.pre with the terms the tail may end as: the knowledge's words that
// start with it, and the groups such a word stands for. When the tail completes a group phrase
// begun by the words before it ("mot de pa" -> "mot de passe"), only those groups are kept:
// they are what the visitor is typing. A tail that starts no known word may be a finished word
// with a typo: it is then matched as a whole word.
func (li *langIndex) prefixTerms(st *state, tail string) {
	st.pre = st.pre[:0]
	mark := len(st.tk.spans)
	st.tk.add(tail, plain)
	if len(st.tk.spans) != mark+1 {
		return
	}
	w := st.tk.word(mark)
	if len(w) < minPrefix {
		return
	}
	prefix := string(w)
	completes := false
	n := len(st.pos)
	first := sort.SearchStrings(li.words, prefix)
	for i := first; i < len(li.words) && i-first < maxPrefixWords && strings.HasPrefix(li.words[i], prefix); i++ {
		t := li.wordTerm[i]
		seq := append(st.pos[:n:n], t)
		for _, o := range li.detect(seq, nil, nil) {
			if int(o.to) != len(seq) {
				continue
			}
			if o.from < int32(n) && !completes {
				completes, st.pre = true, st.pre[:0]
			}
			if (o.from < int32(n) || !completes) && !slices.Contains(st.pre, o.concept) {
				st.pre = append(st.pre, o.concept)
			}
		}
		if !completes && len(li.postings[t]) > 0 && !slices.Contains(st.pre, t) {
			st.pre = append(st.pre, t)
		}
		if len(st.pre) >= maxPrefixTerms {
			break
		}
	}
	if len(st.pre) == 0 && !li.lang.stop[prefix] {
		if t := li.lookup(st, w); t >= 0 && !slices.Contains(st.q, t) {
			st.q = append(st.q, t)
		}
	}
}
