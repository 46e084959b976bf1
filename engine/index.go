package engine

import (
	"cmp"
	"math"
	"slices"
	"sync"

	"github.com/bascule/bascule"
)

// BM25 parameters, the textbook values: formulations are one sentence long, so term frequency
// rarely exceeds one and length normalisation mostly favours the tighter of two wordings.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// rerankDepth is how many of BM25's best items are re-ordered by confidence.
const rerankDepth = 10

// maxInsertionTop is the largest n for which the best n items are kept by insertion; above,
// every candidate is sorted.
const maxInsertionTop = 64

// pruneAt is the number of documents above which a term is pruned (see accumulate). Only
// bots of thousands of items have such terms; on the 10,000-item benchmark it cuts the time of
// a question from about 105 µs to 45 µs, and top-1 on its questions stays at 99.5%.
const pruneAt = 1024

// Index is the search structure over one bot's enabled knowledge. It is immutable once built
// and safe for concurrent use; rebuild it when the knowledge changes.
type Index struct {
	langs map[string]*langIndex
}

// Match is one knowledge item found for a question.
type Match struct {
	Knowledge *bascule.Knowledge
	// Score is the raw ranking score: BM25 of the best formulation, weighted by how much of
	// that formulation the question covers. It finds the candidates of one question and breaks
	// ties between them; it means nothing across questions.
	Score float64
	// Confidence is in [0, 1] and comparable across questions: 1 when the question says
	// everything the formulation says and nothing the knowledge does not know. Matches are
	// ordered by it, and Decide reads it.
	Confidence float64
}

// langIndex is the part of an Index for one language: documents are the question and the
// formulations of every enabled item of that language, and IDF is computed over them.
type langIndex struct {
	lang    *language
	terms   map[string]int32 // stem, or "{name}" for a matching group, -> term id
	surface map[string]int32 // folded word as written in the knowledge -> term id
	idf     []float32        // by term id
	// modifier tells, by term id, the words of language.modifiers.
	modifier []bool
	// postings list, by term id, the documents holding the term with the term's BM25
	// contribution already computed: scoring a question is a sum of floats.
	postings [][]posting
	docs     []doc
	items    []*bascule.Knowledge
	spaces   map[string]int32
	phrases  []phrase
	byFirst  [][]int32 // phrase indexes by their first term id
	// words are the folded words of the knowledge, sorted, for autocomplete prefixes and typo
	// correction; wordTerm holds their term ids and deletes their one-letter-deleted variants.
	words    []string
	wordTerm []int32
	deletes  map[string][]int32 // index of words, or -1-i for stops[i]
	stops    []string           // stop words long enough to be misspelt
	// unknownWeight is how much a question word the knowledge never uses counts against
	// coverage: about a rare word's IDF, since unknown words are often what the visitor asks.
	unknownWeight float32
	pool          sync.Pool
}

type posting struct {
	doc int32
	w   float32
}

type doc struct {
	item    int32
	space   int32     // the item's space: 0 for every space, else an id of langIndex.spaces
	self    float32   // the document's BM25 against itself: the most a question can score on it
	terms   []int32   // distinct terms, sorted
	weights []float32 // the BM25 contribution of each term
}

// weight returns the BM25 contribution of term t to the document. Documents hold a handful
// of terms: a linear scan beats a binary search.
func (d *doc) weight(t int32) (float32, bool) {
	for i, u := range d.terms {
		if u >= t {
			return d.weights[i], u == t
		}
	}
	return 0, false
}

// phrase is one way of writing a matching group, as term ids; a phrase can belong to several
// groups when they nest.
type phrase struct {
	terms    []int32
	concepts []int32
}

// occurrence is a matching group found in a text, on words [from, to).
type occurrence struct {
	concept  int32
	from, to int32
	gap      int32 // words [to-1-gap, to-1) are not the group's: it is read across them
}

// covers reports whether word i is one of the occurrence's.
func (o *occurrence) covers(i int) bool {
	return int(o.from) <= i && i < int(o.to) && (i == int(o.to)-1 || i < int(o.to-1-o.gap))
}

// NewIndex builds an immutable, concurrency-safe search structure over one bot's knowledge (only
// Enabled items are searchable). It expands matching groups. Items are copied: later changes to
// kb do not reach the index, and the *bascule.Knowledge of a Match must be treated as read-only.
func NewIndex(kb *bascule.KnowledgeBase) *Index {
	ix := &Index{langs: map[string]*langIndex{}}
	if kb == nil {
		return ix
	}
	byLang := map[string][]*bascule.Knowledge{}
	for i := range kb.Knowledge {
		k := kb.Knowledge[i]
		if !k.Enabled {
			continue
		}
		k.Formulations = slices.Clone(k.Formulations)
		k.Tags = slices.Clone(k.Tags)
		byLang[k.Language] = append(byLang[k.Language], &k)
	}
	for lang, items := range byLang {
		ix.langs[lang] = buildLang(lang, items, kb.Groups)
	}
	return ix
}

func buildLang(lang string, items []*bascule.Knowledge, groups []bascule.MatchingGroup) *langIndex {
	li := &langIndex{
		lang:    languageOf(lang),
		terms:   map[string]int32{},
		surface: map[string]int32{},
		spaces:  map[string]int32{"": 0},
		items:   items,
	}
	var tk tokens
	words := func(text string) []int32 {
		tk.reset()
		tk.add(text, li.lang)
		ids := make([]int32, len(tk.spans))
		for i := range tk.spans {
			ids[i] = li.wordID(tk.word(i))
		}
		return ids
	}
	ex := &expander{groups: resolveGroups(groups, lang), words: words, memo: map[string][][]int32{}, active: map[string]bool{}}
	li.buildPhrases(ex)

	type rawDoc struct {
		item   int32
		space  int32
		terms  []int32 // every occurrence, sorted
		length int
	}
	var raw []rawDoc
	for i, k := range items {
		sp, ok := li.spaces[k.Space]
		if !ok {
			sp = int32(len(li.spaces))
			li.spaces[k.Space] = sp
		}
		seen := map[string]bool{}
		for _, text := range append([]string{k.Question}, k.Formulations...) {
			var terms []int32
			length := 0
			for _, p := range splitRefs(text) {
				if p.ref != "" {
					// A slot of a group that is unknown or empty in this language could
					// never match, and would only lower the formulation's confidence.
					if len(ex.phrases(p.ref)) > 0 {
						terms = append(terms, li.termID("{"+p.ref+"}"))
						length++
					}
					continue
				}
				// A synonym written out in a formulation stands for its group, exactly as
				// a slot does: the reference question then matches every way of saying
				// its words, and no word counts twice.
				ids := words(p.text)
				n := len(terms)
				terms = bag(ids, li.detect(ids, nil, nil), terms)
				length += len(terms) - n
			}
			slices.Sort(terms)
			if key := phraseKey(terms); length > 0 && !seen[key] {
				seen[key] = true
				raw = append(raw, rawDoc{int32(i), sp, terms, length})
			}
		}
	}

	n := len(li.terms)
	df := make([]int32, n)
	total := 0
	for _, d := range raw {
		total += d.length
		for j, t := range d.terms {
			if j == 0 || d.terms[j-1] != t {
				df[t]++
			}
		}
	}
	li.idf = make([]float32, n)
	for t := range n {
		li.idf[t] = idf(len(raw), int(df[t]))
	}
	li.unknownWeight = idf(len(raw), 1)
	li.modifier = make([]bool, n)
	for w := range li.lang.modifiers {
		if t, ok := li.terms[li.lang.stemWord(w)]; ok {
			li.modifier[t] = true
		}
	}
	avg := float64(total) / float64(max(len(raw), 1))
	li.postings = make([][]posting, n)
	li.docs = make([]doc, len(raw))
	for di, d := range raw {
		norm := 1 - bm25B + bm25B*float64(d.length)/avg
		var distinct []int32
		var weights []float32
		var self float64
		for j := 0; j < len(d.terms); {
			t, tf := d.terms[j], 0
			for j < len(d.terms) && d.terms[j] == t {
				tf++
				j++
			}
			w := float64(li.idf[t]) * float64(tf) * (bm25K1 + 1) / (float64(tf) + bm25K1*norm)
			li.postings[t] = append(li.postings[t], posting{int32(di), float32(w)})
			distinct = append(distinct, t)
			weights = append(weights, float32(w))
			self += w
		}
		li.docs[di] = doc{item: d.item, space: d.space, self: float32(self), terms: distinct, weights: weights}
	}
	li.buildWords()
	li.pool.New = func() any {
		return &state{
			acc:    make([]float32, len(li.docs)),
			best:   make([]hit, len(li.items)),
			second: make([]hit, len(li.items)),
		}
	}
	return li
}

// idf is the BM25 inverse document frequency in its non-negative form: a word in every
// formulation still counts a little, and never against a match.
func idf(n, df int) float32 {
	return float32(math.Log(1 + (float64(n)-float64(df)+0.5)/(float64(df)+0.5)))
}

func (li *langIndex) termID(stem string) int32 {
	if id, ok := li.terms[stem]; ok {
		return id
	}
	id := int32(len(li.terms))
	li.terms[stem] = id
	return id
}

// wordID returns the term of a folded word, creating it; the surface map lets the search
// skip stemming for every word the knowledge uses.
func (li *langIndex) wordID(w []byte) int32 {
	if id, ok := li.surface[string(w)]; ok {
		return id
	}
	s := string(w)
	id := li.termID(li.lang.stemWord(s))
	li.surface[s] = id
	return id
}

// buildPhrases registers every phrase of every group visible in the language, under the
// group and every group it is nested in, so that a question naming a synonym fills all the
// slots that accept it.
func (li *langIndex) buildPhrases(ex *expander) {
	names := make([]string, 0, len(ex.groups))
	for name := range ex.groups {
		names = append(names, name)
	}
	slices.Sort(names) // term ids do not depend on map order
	at := map[string]int{}
	for _, name := range names {
		c := li.termID("{" + name + "}")
		for _, p := range ex.phrases(name) {
			k := phraseKey(p)
			i, ok := at[k]
			if !ok {
				i = len(li.phrases)
				at[k] = i
				li.phrases = append(li.phrases, phrase{terms: p})
			}
			li.phrases[i].concepts = append(li.phrases[i].concepts, c)
		}
	}
	li.byFirst = make([][]int32, len(li.terms))
	for i, p := range li.phrases {
		li.byFirst[p.terms[0]] = append(li.byFirst[p.terms[0]], int32(i))
	}
}

// detect appends to out the groups found in a sequence of term ids (-1 for unknown words).
// Where phrases overlap, the longest wins: "carte cadeau" is a gift card, not a bank card that
// happens to be a present. The groups the longest phrase overrides are appended to inner,
// unless it is nil.
func (li *langIndex) detect(seq []int32, out []occurrence, inner *[]occurrence) []occurrence {
	start := len(out)
	for i, t := range seq {
		if t < 0 || int(t) >= len(li.byFirst) {
			continue
		}
		for _, pi := range li.byFirst[t] {
			p := &li.phrases[pi]
			if len(p.terms) > len(seq)-i || !slices.Equal(p.terms, seq[i:i+len(p.terms)]) {
				continue
			}
			for _, c := range p.concepts {
				out = append(out, occurrence{c, int32(i), int32(i + len(p.terms)), 0})
			}
		}
	}
	found := out[start:]
	for i := range found {
		o := &found[i]
		for _, p := range found {
			if p.to-p.from > o.to-o.from && p.from <= o.from && o.to <= p.to {
				if inner != nil {
					*inner = append(*inner, *o)
				}
				o.concept = -1
				break
			}
		}
	}
	kept := out[:start]
	for _, o := range found {
		if o.concept >= 0 {
			kept = append(kept, o)
		}
	}
	if inner != nil {
		*inner = li.detectAcross(seq, *inner)
	}
	return kept
}

// maxGap is how many words a group phrase is read across, before its last word.
const maxGap = 2

// detectAcross appends the group phrases found with a gap of one to maxGap words before their
// last word: visitors put the object inside a verb's phrase ("récupérer ma commande en
// magasin", "bring my purchase back"). Such readings are less sure than a phrase said whole,
// so they go with the inner ones.
func (li *langIndex) detectAcross(seq []int32, out []occurrence) []occurrence {
	for i, t := range seq {
		if t < 0 || int(t) >= len(li.byFirst) {
			continue
		}
		for _, pi := range li.byFirst[t] {
			p := &li.phrases[pi]
			n := len(p.terms)
			if n < 2 || n > len(seq)-i || !slices.Equal(p.terms[:n-1], seq[i:i+n-1]) {
				continue
			}
			for g := 1; g <= maxGap && i+n-1+g < len(seq); g++ {
				if seq[i+n-1+g] == p.terms[n-1] {
					for _, c := range p.concepts {
						out = append(out, occurrence{c, int32(i), int32(i + n + g), int32(g)})
					}
					break
				}
			}
		}
	}
	return out
}

// bag appends to out the terms of a text: its groups, and the words no group covers.
func bag(seq []int32, occ []occurrence, out []int32) []int32 {
	for _, o := range occ {
		out = append(out, o.concept)
	}
	for i, t := range seq {
		if t >= 0 && !covered(occ, i) {
			out = append(out, t)
		}
	}
	return out
}

func covered(occ []occurrence, i int) bool {
	for _, o := range occ {
		if int(o.from) <= i && i < int(o.to) {
			return true
		}
	}
	return false
}

// hit is a document's score for the question.
type hit struct {
	rank, bm float32 // rank is 0 for no document
	doc      int32
}

// state is the scratch space of one search, pooled per language so that the hot path
// allocates only its result.
type state struct {
	tk      tokens
	pos     []int32 // the question's words as term ids, -1 when unknown
	occ     []occurrence
	inner   []occurrence // groups inside a longer group of occ
	q       []int32      // distinct terms of the question: words and groups
	alt     []int32      // terms read inside a longer group of the question, not in q
	acc     []float32    // BM25 by document
	touched []int32      // documents with acc > 0
	best    []hit        // the best document of each item
	second  []hit        // and its second best
	cands   []int32      // items with best > 0
	top     []int32      // the best of cands, in order
	pre     []int32      // autocomplete: terms the typed prefix may end as
	del     []byte       // typo correction: a word with one letter deleted
}

// parse turns a question into term ids and groups.
func (li *langIndex) parse(st *state, input string) {
	st.tk.reset()
	st.pos, st.occ, st.inner, st.q, st.alt = st.pos[:0], st.occ[:0], st.inner[:0], st.q[:0], st.alt[:0]
	st.tk.add(input, li.lang)
	for i := range st.tk.spans {
		if t := li.lookup(st, st.tk.word(i)); t != dropWord {
			st.pos = append(st.pos, t)
		}
	}
	st.occ = li.detect(st.pos, st.occ, &st.inner)
	st.q = bag(st.pos, st.occ, st.q)
	// A question is a set of terms: saying "order" twice does not make it more about orders.
	slices.Sort(st.q)
	st.q = slices.Compact(st.q)
	// The words of a group, and the groups they make inside it, are said too, in a less likely
	// reading: "pas reçu de confirmation" is a delay ("pas reçu"), and may also be read as
	// "pas {receive} de {confirmation}", as a formulation may write it.
	for _, o := range st.inner {
		if !has(st.q, o.concept) {
			st.alt = append(st.alt, o.concept)
		}
	}
	for i, t := range st.pos {
		if t >= 0 && covered(st.occ, i) && !has(st.q, t) {
			st.alt = append(st.alt, t)
		}
	}
	slices.Sort(st.alt)
	st.alt = slices.Compact(st.alt)
}

// lookup finds the term of a question word: as written, then by its stem, then as a typo of a
// word of the knowledge. It returns -1 for a word the knowledge does not know, and dropWord
// for a misspelt stop word.
func (li *langIndex) lookup(st *state, w []byte) int32 {
	if id, ok := li.surface[string(w)]; ok {
		return id
	}
	if id, ok := li.terms[li.lang.stemWord(string(w))]; ok {
		return id
	}
	return li.correct(st, w)
}

// accumulate sums the BM25 contributions of terms into st.acc. With only set, a document is
// counted only if an earlier call touched it (autocomplete: the typed prefix must match).
//
// Terms are taken rarest first. A term in more than pruneAt documents does not bring new
// candidates once rarer terms have found some: a document holding only very common words of
// the question cannot outrank one holding its rare words, and walking the candidates' own
// terms is cheaper than a posting list the size of the knowledge.
func (li *langIndex) accumulate(st *state, terms []int32, only bool, scale float32) {
	slices.SortFunc(terms, func(a, b int32) int { return cmp.Compare(li.df(a), li.df(b)) })
	for _, t := range terms {
		if int(t) >= len(li.postings) {
			continue
		}
		ps := li.postings[t]
		walk := len(st.touched) > 0 && (only || len(ps) > pruneAt)
		switch {
		case walk && len(st.touched) < len(ps):
			for _, d := range st.touched {
				if w, ok := li.docs[d].weight(t); ok {
					st.acc[d] += scale * w
				}
			}
		case walk || only:
			for _, p := range ps {
				if st.acc[p.doc] != 0 {
					st.acc[p.doc] += scale * p.w
				}
			}
		default:
			for _, p := range ps {
				if st.acc[p.doc] == 0 {
					st.touched = append(st.touched, p.doc)
				}
				st.acc[p.doc] += scale * p.w
			}
		}
	}
}

func (li *langIndex) df(t int32) int {
	if int(t) >= len(li.postings) {
		return 0
	}
	return len(li.postings[t])
}

// rankItems keeps each item's best document among the touched ones, in the given space, and
// returns the best n items, best first. It clears st.acc.
func (li *langIndex) rankItems(st *state, space string, n int) []int32 {
	sp, ok := li.spaces[space]
	if !ok || space == "" {
		sp = -1 // only items of every space
	}
	st.cands = st.cands[:0]
	for _, d := range st.touched {
		bm := st.acc[d]
		st.acc[d] = 0
		doc := &li.docs[d]
		if doc.space != 0 && doc.space != sp {
			continue
		}
		h := hit{rank(bm, doc.self), bm, d}
		switch b := &st.best[doc.item]; {
		case b.rank == 0:
			st.cands = append(st.cands, doc.item)
			*b = h
		case h.rank > b.rank:
			st.second[doc.item] = *b
			*b = h
		case h.rank > st.second[doc.item].rank:
			st.second[doc.item] = h
		}
	}
	st.touched = st.touched[:0]
	better := func(a, b int32) bool {
		if ra, rb := st.best[a].rank, st.best[b].rank; ra != rb {
			return ra > rb
		}
		return a < b // deterministic among ties: the item listed first
	}
	st.top = st.top[:0]
	if n > maxInsertionTop {
		st.top = append(st.top, st.cands...)
		slices.SortFunc(st.top, func(a, b int32) int {
			if better(a, b) {
				return -1
			}
			return 1
		})
		return st.top[:min(n, len(st.top))]
	}
	// One pass, keeping the best n in order: most candidates lose against the n-th at once.
	for _, c := range st.cands {
		if len(st.top) == n && !better(c, st.top[n-1]) {
			continue
		}
		if len(st.top) < n {
			st.top = append(st.top, c)
		}
		i := len(st.top) - 1
		for i > 0 && better(c, st.top[i-1]) {
			st.top[i] = st.top[i-1]
			i--
		}
		st.top[i] = c
	}
	return st.top
}

// release clears what a search left in st and gives it back to the pool.
func (li *langIndex) release(st *state) {
	for _, it := range st.cands {
		st.best[it], st.second[it] = hit{}, hit{}
	}
	li.pool.Put(st)
}

// Search returns at most n matches, best first, among enabled items of language lang whose
// Space is "" or equals space. Each knowledge item appears once (its best-scoring formulation
// counts). Best first means by Confidence, then Score.
func (ix *Index) Search(input, lang, space string, n int) []Match {
	li := ix.langs[lang]
	if li == nil || n <= 0 {
		return nil
	}
	st := li.pool.Get().(*state)
	li.parse(st, input)
	li.accumulate(st, st.q, false, 1)
	li.accumulate(st, st.alt, false, innerWeight)
	// BM25 finds the candidates; coverage of both the question and the formulation orders
	// the few best, because it is what tells "the same question" from "shares its words".
	top := li.rankItems(st, space, max(n, rerankDepth))
	var out []Match
	if len(top) > 0 {
		out = make([]Match, len(top))
		for i, it := range top {
			out[i] = Match{
				Knowledge:  li.items[it],
				Score:      float64(st.best[it].rank),
				Confidence: li.itemConfidence(st, it),
			}
		}
		slices.SortStableFunc(out, func(a, b Match) int {
			return cmp.Or(cmp.Compare(b.Confidence, a.Confidence), cmp.Compare(b.Score, a.Score))
		})
		out = out[:min(n, len(out))]
	}
	li.release(st)
	return out
}
