package engine

import (
	"math"
	"slices"
)

// Typo tolerance: a question word the knowledge does not know, even by its stem, is read as a
// word of the knowledge at edit distance one (one letter added, missing, changed, or two
// letters swapped). Short words are left alone: up to five letters one edit is too often
// another real word ("prix" and "pris", "relax" and "relay", "night" and "right", "suite" and
// "site"), and a visitor's real word read as a word of the knowledge sends an off-topic
// question to an answer.
const (
	minTypoWord  = 6 // letters of a question word before a correction is tried
	minTypoKnown = 4 // letters of a knowledge word before it is offered as a correction
)

// dropWord is what lookup returns for a misspelt stop word ("coment", "bonjours"): it is
// dropped, as the stop word would have been, rather than read as a word of the knowledge.
const dropWord = -2

// buildWords lists the knowledge's folded words and indexes their one-deletion variants
// (symmetric delete): a question word w at distance one of a known word k shares a key with
// it, w itself or w minus one letter, found with len(w)+1 map lookups.
func (li *langIndex) buildWords() {
	for w := range li.surface {
		li.words = append(li.words, w)
	}
	slices.Sort(li.words)
	li.wordTerm = make([]int32, len(li.words))
	li.deletes = map[string][]int32{}
	add := func(key string, i int) {
		l := li.deletes[key]
		if len(l) == 0 || l[len(l)-1] != int32(i) {
			li.deletes[key] = append(l, int32(i))
		}
	}
	for i, w := range li.words {
		li.wordTerm[i] = li.surface[w]
		if len(w) < minTypoKnown || !isLetters(w) {
			continue
		}
		add(w, i)
		for j := range len(w) {
			add(w[:j]+w[j+1:], i)
		}
	}
	// Stop words are candidates too, as -1-i for li.stops[i]: "coment" is "comment", not
	// "moment". Only those a misspelt question word can be one edit from.
	for w := range li.lang.stop {
		if len(w) >= minTypoWord-1 && isLetters(w) {
			li.stops = append(li.stops, w)
		}
	}
	slices.Sort(li.stops)
	for i, w := range li.stops {
		add(w, -1-i)
		for j := range len(w) {
			add(w[:j]+w[j+1:], -1-i)
		}
	}
}

// correct returns the term of the known word closest to w, or -1. Among several words at
// distance one, the one used by the most formulations wins, and a stop word wins over all:
// visitors write function words far more often than any word of the knowledge.
func (li *langIndex) correct(st *state, w []byte) int32 {
	if len(w) < minTypoWord || !isLetters(w) {
		return -1
	}
	best, bestN := int32(-1), -1
	consider := func(cands []int32) {
		for _, i := range cands {
			if i < 0 {
				if best != dropWord && within1(w, li.stops[-1-i]) {
					best, bestN = dropWord, math.MaxInt
				}
				continue
			}
			if !within1(w, li.words[i]) {
				continue
			}
			t := li.wordTerm[i]
			if n := len(li.postings[t]); n > bestN {
				best, bestN = t, n
			}
		}
	}
	consider(li.deletes[string(w)])
	for j := range len(w) {
		st.del = append(append(st.del[:0], w[:j]...), w[j+1:]...)
		consider(li.deletes[string(st.del)])
	}
	return best
}

// within1 reports whether a and b are at most one edit apart, a swap of two neighbouring
// letters counting as one edit (optimal string alignment distance).
func within1(a []byte, b string) bool {
	switch len(a) - len(b) {
	case 0:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		if i >= len(a)-1 || string(a[i+1:]) == b[i+1:] {
			return true
		}
		return a[i] == b[i+1] && a[i+1] == b[i] && string(a[i+2:]) == b[i+2:]
	case 1:
		i := 0
		for i < len(b) && a[i] == b[i] {
			i++
		}
		return string(a[i+1:]) == b[i:]
	case -1:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		return string(a[i:]) == b[i+1:]
	}
	return false
}
