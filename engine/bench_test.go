package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/samplebot"
)

// synthetic builds a deterministic knowledge base of n items over a Zipf-distributed
// vocabulary, with matching groups, and questions that paraphrase its formulations: words
// dropped, words the knowledge does not know added, typos. It stands in for a large bot.
func synthetic(n int) (*bascule.KnowledgeBase, []string) {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	const vocab = 5000
	syllables := []string{"ba", "co", "de", "fi", "gu", "la", "mo", "ne", "pi", "ru", "sa", "to", "vi", "zo", "ker", "lin", "mar", "por", "tes", "dan"}
	words := make([]string, vocab)
	for i := range words {
		var b strings.Builder
		for range 2 + r.IntN(2) {
			b.WriteString(syllables[r.IntN(len(syllables))])
		}
		// Two letters from the index keep the words distinct.
		b.WriteByte(byte('a' + i%26))
		b.WriteByte(byte('a' + i/26%26))
		words[i] = b.String()
	}
	// Content words of a knowledge base after stop words: the most common one is in about
	// one formulation in ten, as "order" is in the sample bot.
	zipf := rand.NewZipf(r, 1.1, 10, vocab-1)
	word := func() string { return words[zipf.Uint64()] }
	sentence := func(min, max int) []string {
		s := make([]string, min+r.IntN(max-min+1))
		for i := range s {
			s[i] = word()
		}
		return s
	}
	kb := &bascule.KnowledgeBase{Format: bascule.KnowledgeFormat, Bot: bascule.Bot{ID: bascule.SampleBotID, Name: "synthetic", Languages: []string{"en"}}}
	for g := range 50 {
		var terms []string
		for range 5 {
			terms = append(terms, words[500+r.IntN(vocab-500)]) // synonyms are rarer words
		}
		kb.Groups = append(kb.Groups, bascule.MatchingGroup{Name: fmt.Sprintf("g%d", g), Language: "en", Terms: terms})
	}
	var questions []string
	for i := range n {
		k := bascule.Knowledge{ID: int64(i + 1), Language: "en", Enabled: true, Question: strings.Join(sentence(4, 8), " "), Answer: "<p>answer</p>"}
		for range 5 {
			f := sentence(3, 7)
			if r.IntN(2) == 0 {
				f[r.IntN(len(f))] = fmt.Sprintf("{g%d}", r.IntN(50))
			}
			k.Formulations = append(k.Formulations, strings.Join(f, " "))
		}
		kb.Knowledge = append(kb.Knowledge, k)
		// One question per item: its reference question with a word dropped, an unknown word and,
		// one time in three, a typo.
		q := strings.Fields(k.Question)
		q = append(q[:1], q[2:]...)
		q = append(q, "zzyzx")
		if r.IntN(3) == 0 {
			w := []byte(q[0])
			if len(w) > 5 {
				w[2], w[3] = w[3], w[2]
				q[0] = string(w)
			}
		}
		questions = append(questions, strings.Join(q, " "))
	}
	return kb, questions
}

var benchIndexes sync.Map // n -> benchIndex: building 10k items takes a while, once is enough

type benchIndex struct {
	ix        *Index
	questions []string
}

func benchIndexOf(n int) benchIndex {
	if v, ok := benchIndexes.Load(n); ok {
		return v.(benchIndex)
	}
	kb, qs := synthetic(n)
	bi := benchIndex{NewIndex(kb), qs}
	benchIndexes.Store(n, bi)
	return bi
}

// benchSearch reports the time of one Search, and its ratio to normalising the same question
// alone, measured in the same run: absolute times are noisy on shared machines, the ratio
// much less.
func benchSearch(b *testing.B, ix *Index, lang string, questions []string) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ix.Search(questions[i%len(questions)], lang, bascule.DefaultSpace, 5)
	}
	b.StopTimer()
	perQuestion := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	l := languageOf(lang)
	var t tokens
	start := time.Now()
	for i := range b.N {
		t.reset()
		t.add(questions[i%len(questions)], l)
	}
	perNormalise := float64(time.Since(start).Nanoseconds()) / float64(b.N)
	b.ReportMetric(perQuestion, "ns/question")
	b.ReportMetric(perQuestion/perNormalise, "x-normalise")
}

// BenchmarkSearch also reports how often the item a synthetic question paraphrases comes
// first: speed bought with accuracy would show there.
func BenchmarkSearch(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		bi := benchIndexOf(n)
		right := 0
		for i, q := range bi.questions {
			if ms := bi.ix.Search(q, "en", "", 1); len(ms) > 0 && ms[0].Knowledge.ID == int64(i+1) {
				right++
			}
		}
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			benchSearch(b, bi.ix, "en", bi.questions)
			b.ReportMetric(100*float64(right)/float64(len(bi.questions)), "%top1")
		})
	}
}

// BenchmarkSampleBot searches the sample bot's held-out questions, and reports its top-1
// accuracy per language so that the figures show in every benchmark run.
func BenchmarkSampleBot(b *testing.B) {
	ix := NewIndex(samplebot.KnowledgeBase())
	stats := measureHeldOut(ix, nil, [2]bool{})
	for _, lang := range []string{"fr", "en"} {
		var qs []string
		for _, q := range samplebot.HeldOut() {
			if q.Language == lang {
				qs = append(qs, q.Question)
			}
		}
		s := stats[lang]
		b.Run(lang, func(b *testing.B) {
			benchSearch(b, ix, lang, qs)
			b.ReportMetric(100*float64(s.top1)/float64(s.in), "%top1")
		})
	}
}

func BenchmarkNewIndex(b *testing.B) {
	kb, _ := synthetic(10000)
	b.ReportAllocs()
	for b.Loop() {
		NewIndex(kb)
	}
}

func BenchmarkSuggest(b *testing.B) {
	bi := benchIndexOf(10000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		q := bi.questions[i%len(bi.questions)]
		bi.ix.Suggest(q[:len(q)/2], "en", "", 5)
	}
}
