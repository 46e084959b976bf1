package engine

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on what one question may cost. The dialog rules answer "too long" well before these;
// they exist so that a 1 MB paste cannot make Search slow, whoever calls it.
const (
	maxInputBytes  = 4096 // bytes of the question looked at
	maxQueryTokens = 64   // words kept after stop words
	maxTokenBytes  = 40   // longer "words" are URLs, hashes or keyboard mashing: ignored
)

// span is a word of a tokenised text: bytes [lo, hi) of tokens.buf.
type span struct{ lo, hi int32 }

// tokens is reusable scratch space for tokenising; the hot path keeps one per search so that
// tokenising allocates nothing.
type tokens struct {
	buf   []byte
	spans []span
	// raw holds the words as typed (folded, before aliases and stop words), and recent the last
	// few of them, for idioms: a run of words that means something else than its words.
	raw    []byte
	recent [maxIdiomWords]typed
	nrec   int
}

// typed is a word as typed: raw[lo:hi], and the lengths of buf and spans before it was read,
// to take its words back when it ends an idiom.
type typed struct {
	lo, hi, buf, spans int32
}

func (t *tokens) reset() {
	t.buf = t.buf[:0]
	t.spans = t.spans[:0]
	t.raw = t.raw[:0]
	t.nrec = 0
}

// word returns the i-th word. It aliases buf: valid until the next reset.
func (t *tokens) word(i int) []byte { return t.buf[t.spans[i].lo:t.spans[i].hi] }

// add tokenises text the way visitors write: HTML entities decoded (the dydu chatbox sends
// "Tom &amp; Jerry"), case and accents folded, apostrophes and punctuation split words (which
// drops French elisions such as l' and qu', being stop words), SMS spellings and English
// contractions expanded, stop words removed. At most maxQueryTokens words are kept.
func (t *tokens) add(text string, lang *language) {
	if len(text) > maxInputBytes {
		cut := maxInputBytes
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	if strings.IndexByte(text, '&') >= 0 {
		text = html.UnescapeString(text)
	}
	t.nrec = 0 // an idiom does not run from one text into the next
	start := len(t.buf)
	for _, r := range text {
		if len(t.spans) >= maxQueryTokens {
			t.buf = t.buf[:start]
			return
		}
		switch {
		case r < utf8.RuneSelf:
			switch {
			case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
				t.buf = append(t.buf, byte(r))
			case 'A' <= r && r <= 'Z':
				t.buf = append(t.buf, byte(r)+'a'-'A')
			default:
				t.end(start, lang)
				start = len(t.buf)
				if strings.IndexByte(".,;:!?()", byte(r)) >= 0 {
					t.nrec = 0 // nor across a sentence or a clause
				}
			}
		case unicode.Is(unicode.Mn, r):
			// A combining accent typed as its own code point (decomposed input): dropped,
			// like precomposed accents are.
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			r = unicode.ToLower(r)
			if f := foldLatin(r); f != "" {
				t.buf = append(t.buf, f...)
			} else {
				t.buf = utf8.AppendRune(t.buf, r)
			}
		default:
			t.end(start, lang)
			start = len(t.buf)
		}
	}
	if len(t.spans) < maxQueryTokens {
		t.end(start, lang)
	} else {
		t.buf = t.buf[:start]
	}
}

// end closes the word buf[start:]: it is dropped, expanded or kept.
func (t *tokens) end(start int, lang *language) {
	w := t.buf[start:]
	if len(w) == 0 {
		return
	}
	if len(w) > maxTokenBytes {
		t.buf = t.buf[:start]
		t.nrec = 0
		return
	}
	if exp, ok := lang.aliases[string(w)]; ok {
		t.buf = t.buf[:start]
		for _, e := range exp {
			lo := len(t.raw)
			t.raw = append(t.raw, e...)
			t.read(lo, lang)
		}
		return
	}
	if len(lang.idioms) == 0 {
		// No idioms: the word stays where it is, without a copy.
		if lang.stop[string(w)] {
			t.buf = t.buf[:start]
			return
		}
		t.spans = append(t.spans, span{int32(start), int32(len(t.buf))})
		return
	}
	lo := len(t.raw)
	t.raw = append(t.raw, w...)
	t.buf = t.buf[:start]
	t.read(lo, lang)
}

// read takes the typed word raw[lo:] (after aliases): it ends an idiom, or is dropped as a
// stop word, or is kept.
func (t *tokens) read(lo int, lang *language) {
	w := t.raw[lo:]
	if len(lang.idioms) > 0 {
		if t.nrec == len(t.recent) {
			copy(t.recent[:], t.recent[1:])
			t.nrec--
		}
		t.recent[t.nrec] = typed{int32(lo), int32(len(t.raw)), int32(len(t.buf)), int32(len(t.spans))}
		t.nrec++
		if id := t.idiom(lang); id != nil {
			first := t.recent[t.nrec-len(id.words)]
			t.buf, t.spans = t.buf[:first.buf], t.spans[:first.spans]
			t.nrec = 0 // the idiom's meaning does not start another idiom
			for _, m := range id.means {
				lo := len(t.raw)
				t.raw = append(t.raw, m...)
				t.keep(t.raw[lo:], lang)
			}
			return
		}
	}
	t.keep(w, lang)
}

// keep appends w as a word, unless it is a stop word.
func (t *tokens) keep(w []byte, lang *language) {
	if len(t.spans) >= maxQueryTokens || lang.stop[string(w)] {
		return
	}
	lo := len(t.buf)
	t.buf = append(t.buf, w...)
	t.spans = append(t.spans, span{int32(lo), int32(len(t.buf))})
}

// idiom returns the idiom that the recent words end, the longest first, or nil.
func (t *tokens) idiom(lang *language) *idiom {
	last := t.recent[t.nrec-1]
	for _, id := range lang.idioms[string(t.raw[last.lo:last.hi])] {
		n := len(id.words)
		if n > t.nrec {
			continue
		}
		match := true
		for i, w := range id.words[:n-1] {
			r := t.recent[t.nrec-n+i]
			if string(t.raw[r.lo:r.hi]) != w {
				match = false
				break
			}
		}
		if match {
			return id
		}
	}
	return nil
}

// latinFold maps the lowercase letters of Latin-1 Supplement and Latin Extended-A to ASCII,
// so that "Réexpédié", "reexpedie" and "RÉEXPÉDIÉ" are one word: visitors often type without
// accents, and knowledge authors rarely do.
var latinFold = func() (t [0x180 - 0xc0]string) {
	for _, p := range []struct{ from, to string }{
		{"àáâãäåāăą", "a"}, {"æ", "ae"}, {"çćĉċč", "c"}, {"ďđð", "d"}, {"èéêëēĕėęě", "e"},
		{"ĝğġģ", "g"}, {"ĥħ", "h"}, {"ìíîïĩīĭįı", "i"}, {"ĳ", "ij"}, {"ĵ", "j"}, {"ķĸ", "k"},
		{"ĺļľŀł", "l"}, {"ñńņňŉŋ", "n"}, {"òóôõöøōŏő", "o"}, {"œ", "oe"}, {"ŕŗř", "r"},
		{"śŝşšſ", "s"}, {"ß", "ss"}, {"ţťŧ", "t"}, {"þ", "th"}, {"ùúûüũūŭůűų", "u"}, {"ŵ", "w"},
		{"ýÿŷ", "y"}, {"źżž", "z"},
	} {
		for _, r := range p.from {
			t[r-0xc0] = p.to
		}
	}
	return t
}()

// foldLatin returns the ASCII spelling of a lowercase accented Latin letter, or "".
func foldLatin(r rune) string {
	if r < 0xc0 || r >= 0x180 {
		return ""
	}
	return latinFold[r-0xc0]
}

// Normalize returns the terms the matcher sees in text for language lang: folded, stop words
// removed, stemmed. It is the normaliser of Search without the knowledge-dependent steps
// (matching groups and typo tolerance), for tests and for tools that explain a match.
func Normalize(text, lang string) []string {
	l := languageOf(lang)
	var t tokens
	t.add(text, l)
	out := make([]string, len(t.spans))
	for i := range t.spans {
		out[i] = l.stemWord(string(t.word(i)))
	}
	return out
}
