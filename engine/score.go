package engine

import (
	"math"
	"slices"
)

// rank is the ranking score of a document: its BM25, weighted by the share of the document the
// question covers, so that a short formulation said in full beats a long one half said.
func rank(bm, self float32) float32 {
	return bm * (0.5 + 0.5*bm/self)
}

// confidence says how surely document d answers the parsed question, in [0, 1]. It multiplies
// two coverages, each independent of the size and vocabulary of the knowledge base:
//   - of the document by the question: its BM25 divided by the BM25 the document scores
//     against itself (1 when the question says everything the formulation says);
//   - of the question by the document: the IDF-weighted share of the question's words that the
//     document holds, itself or through a matching group.
//
// The document side weighs more: visitors wrap their question in context the knowledge has no
// word for ("I ordered a sofa for my mother last week and..."), while a formulation only half
// said is a real doubt.
func (li *langIndex) confidence(st *state, d int32, bm float32) float64 {
	doc := &li.docs[d]
	dcov := float64(bm / doc.self)
	var got, all float32
	for i, t := range st.pos {
		w := li.unknownWeight
		if t >= 0 {
			w = li.idf[t]
		}
		all += w
		if t >= 0 && has(doc.terms, t) || coveredByGroup(st.occ, i, doc.terms) {
			got += w
		}
	}
	if all == 0 {
		return 0
	}
	qcov := float64(got / all)
	return min(1, math.Pow(dcov, 0.75)*math.Pow(qcov, 0.25))
}

func has(sorted []int32, t int32) bool {
	_, ok := slices.BinarySearch(sorted, t)
	return ok
}

// coveredByGroup reports whether word i of the question is part of a matching group the
// document holds.
func coveredByGroup(occ []occurrence, i int, terms []int32) bool {
	for _, o := range occ {
		if int(o.from) <= i && i < int(o.to) && has(terms, o.concept) {
			return true
		}
	}
	return false
}
