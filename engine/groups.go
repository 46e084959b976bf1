package engine

import (
	"encoding/binary"
	"strings"

	"github.com/bascule/bascule"
)

// maxPhrasesPerGroup bounds the expansion of a group whose terms combine nested groups
// ("carte {gift} {card}"): a product of groups grows fast, and an import must not be able to
// exhaust memory through it.
const maxPhrasesPerGroup = 2000

// piece is a run of literal text or a {name} reference in a formulation or a group term.
type piece struct {
	text string
	ref  string // the group name when the piece is a reference
}

// splitRefs cuts s into literal text and {name} references, in order. Braces around anything
// that is not a group name are literal text, as bascule.GroupRefs reads them.
func splitRefs(s string) []piece {
	var out []piece
	lit := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			continue
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		name := s[i+1 : i+j]
		if !bascule.IsGroupName(name) {
			continue
		}
		if lit < i {
			out = append(out, piece{text: s[lit:i]})
		}
		out = append(out, piece{ref: name})
		i += j
		lit = i + 1
	}
	if lit < len(s) {
		out = append(out, piece{text: s[lit:]})
	}
	return out
}

// resolveGroups returns the groups visible in language lang by name: a group of that
// language wins over a language-less group of the same name.
func resolveGroups(groups []bascule.MatchingGroup, lang string) map[string]*bascule.MatchingGroup {
	m := map[string]*bascule.MatchingGroup{}
	for i := range groups {
		g := &groups[i]
		switch {
		case g.Language == lang:
			m[g.Name] = g
		case g.Language == "" && m[g.Name] == nil:
			m[g.Name] = g
		}
	}
	return m
}

// expander flattens matching groups into phrases: sequences of term ids, one per way of
// writing the group, nested groups included.
type expander struct {
	groups map[string]*bascule.MatchingGroup
	words  func(text string) []int32 // the term ids of a literal text
	memo   map[string][][]int32
	active map[string]bool // groups being expanded, so that a cycle stops instead of looping
}

// phrases returns every phrase of group name. Validate rejects cycles; here a cycle simply
// contributes nothing more, so an unvalidated knowledge base cannot hang the server.
func (e *expander) phrases(name string) [][]int32 {
	if p, ok := e.memo[name]; ok {
		return p
	}
	g := e.groups[name]
	if g == nil || e.active[name] {
		return nil
	}
	e.active[name] = true
	defer delete(e.active, name)
	seen := map[string]bool{}
	var out [][]int32
	for _, term := range g.Terms {
		seqs := [][]int32{nil}
		for _, p := range splitRefs(term) {
			if p.ref == "" {
				ids := e.words(p.text)
				for i := range seqs {
					seqs[i] = append(seqs[i][:len(seqs[i]):len(seqs[i])], ids...)
				}
				continue
			}
			var next [][]int32
			for _, s := range seqs {
				for _, sub := range e.phrases(p.ref) {
					if len(next) == maxPhrasesPerGroup {
						break
					}
					next = append(next, append(s[:len(s):len(s)], sub...))
				}
			}
			seqs = next
		}
		for _, s := range seqs {
			if k := phraseKey(s); len(s) > 0 && !seen[k] && len(out) < maxPhrasesPerGroup {
				seen[k] = true
				out = append(out, s)
			}
		}
	}
	e.memo[name] = out
	return out
}

func phraseKey(ids []int32) string {
	b := make([]byte, 0, 4*len(ids))
	for _, id := range ids {
		b = binary.LittleEndian.AppendUint32(b, uint32(id))
	}
	return string(b)
}
