package samplebot_test

import (
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/samplebot"
)

func TestKnowledgeBaseIsValid(t *testing.T) {
	kb := samplebot.KnowledgeBase()
	if err := kb.Validate(); err != nil {
		t.Fatal(err)
	}
	if kb.Bot.ID != bascule.SampleBotID || !slices.Equal(kb.Bot.Languages, []string{"fr", "en"}) || !slices.Equal(kb.Bot.Spaces, []string{bascule.DefaultSpace}) {
		t.Errorf("bot = %+v", kb.Bot)
	}
}

func TestKnowledgeBaseContent(t *testing.T) {
	kb := samplebot.KnowledgeBase()
	items := map[string]int{}
	escalations := map[string]int{}
	for _, k := range kb.Knowledge {
		items[k.Language]++
		if n := len(k.Formulations); n < 3 || n > 8 {
			t.Errorf("item %d has %d formulations, want 3 to 8", k.ID, n)
		}
		if !k.Enabled || len(k.Tags) == 0 {
			t.Errorf("item %d: enabled %v, tags %v", k.ID, k.Enabled, k.Tags)
		}
		// French ids are 1xxx, English 2xxx: an item and its translation end alike.
		if want := map[string]int64{"fr": 1000, "en": 2000}[k.Language]; k.ID <= want || k.ID >= want+1000 {
			t.Errorf("item %d (%s) is out of its language's id range", k.ID, k.Language)
		}
		if k.Kind == bascule.KindEscalation {
			escalations[k.Language]++
			if k.Competency != "support" {
				t.Errorf("escalation %d asks for competency %q", k.ID, k.Competency)
			}
		}
		if !strings.HasPrefix(k.Answer, "<p>") || strings.Contains(k.Answer, "http://") || strings.Contains(k.Answer, "<script") {
			t.Errorf("item %d: answer is not short safe HTML: %.60s", k.ID, k.Answer)
		}
	}
	sentences := map[string][]string{}
	for _, s := range kb.Sentences {
		sentences[s.Language] = append(sentences[s.Language], s.Kind)
	}
	for _, lang := range kb.Bot.Languages {
		if items[lang] < 60 {
			t.Errorf("%s: %d items, want at least 60", lang, items[lang])
		}
		if escalations[lang] != 1 {
			t.Errorf("%s: %d escalations, want 1", lang, escalations[lang])
		}
		for _, kind := range bascule.SentenceKinds {
			if !slices.Contains(sentences[lang], kind) {
				t.Errorf("%s: no %s sentence", lang, kind)
			}
		}
	}
}

// TestGroupTermsMatchSomething: a term made only of stop words would never match, and would
// silently make its group weaker than its author thinks.
func TestGroupTermsMatchSomething(t *testing.T) {
	eachGroupTerm(func(g bascule.MatchingGroup, lang, term string) {
		if len(engine.Normalize(term, lang)) == 0 && len(bascule.GroupRefs(term)) == 0 {
			t.Errorf("group %s/%s: term %q is only stop words", g.Name, lang, term)
		}
	})
}

// eachGroupTerm calls f with every term of the sample bot's matching groups, in each language
// the group applies to.
func eachGroupTerm(f func(g bascule.MatchingGroup, lang, term string)) {
	kb := samplebot.KnowledgeBase()
	for _, g := range kb.Groups {
		langs := []string{g.Language}
		if g.Language == "" {
			langs = kb.Bot.Languages
		}
		for _, lang := range langs {
			for _, term := range g.Terms {
				f(g, lang, term)
			}
		}
	}
}

// TestGroupTermsKeepTheirMeaning: a term of several words that normalises to a bare negation
// ("pas encore" when "encore" was a stop word) makes every negation of every question a
// member of the group.
func TestGroupTermsKeepTheirMeaning(t *testing.T) {
	negations := map[string]bool{"pas": true, "plus": true, "jamais": true, "rien": true, "non": true, "not": true, "no": true, "never": true}
	eachGroupTerm(func(g bascule.MatchingGroup, lang, term string) {
		several := len(strings.FieldsFunc(term, func(r rune) bool { return !unicode.IsLetter(r) })) > 1
		if n := engine.Normalize(term, lang); several && len(n) == 1 && negations[n[0]] {
			t.Errorf("group %s/%s: term %q is only the negation %q", g.Name, lang, term, n[0])
		}
	})
}

func TestKnowledgeBaseIsFresh(t *testing.T) {
	a, b := samplebot.KnowledgeBase(), samplebot.KnowledgeBase()
	a.Knowledge[0].Formulations[0] = "changed"
	if b.Knowledge[0].Formulations[0] == "changed" {
		t.Error("KnowledgeBase returns shared data")
	}
}

func TestHeldOut(t *testing.T) {
	kb := samplebot.KnowledgeBase()
	known := map[int64]string{}
	for _, k := range kb.Knowledge {
		known[k.ID] = k.Language
	}
	inScope, outOfScope := map[string]int{}, map[string]int{}
	seen := map[string]bool{}
	for _, q := range samplebot.HeldOut() {
		if seen[q.Language+q.Question] {
			t.Errorf("%s %q is listed twice", q.Language, q.Question)
		}
		seen[q.Language+q.Question] = true
		if q.KnowledgeID == 0 {
			outOfScope[q.Language]++
			continue
		}
		inScope[q.Language]++
		if known[q.KnowledgeID] != q.Language {
			t.Errorf("%q expects item %d, which is not a %s item", q.Question, q.KnowledgeID, q.Language)
		}
	}
	for _, lang := range kb.Bot.Languages {
		if inScope[lang] < 200 || outOfScope[lang] < 20 {
			t.Errorf("%s: %d in-scope and %d out-of-scope questions, want 200 and 20", lang, inScope[lang], outOfScope[lang])
		}
	}
}

// TestHeldOutIsNotInTheKnowledge guards the measure: a held-out question that is also a
// question or formulation of the knowledge (after normalisation) measures memory, not
// understanding.
func TestHeldOutIsNotInTheKnowledge(t *testing.T) {
	kb := samplebot.KnowledgeBase()
	written := map[string]int64{}
	for _, k := range kb.Knowledge {
		for _, text := range append([]string{k.Question}, k.Formulations...) {
			written[k.Language+"|"+normalized(text, k.Language)] = k.ID
		}
	}
	for _, q := range samplebot.HeldOut() {
		if id, ok := written[q.Language+"|"+normalized(q.Question, q.Language)]; ok {
			t.Errorf("held-out %q is written in item %d", q.Question, id)
		}
	}
}

// normalized is the text as the matcher reads it, a {group} slot staying a slot: "track my
// {parcel}" is not the visitor's "track my parcel", it is every way of saying it.
func normalized(text, lang string) string {
	var out []string
	for {
		before, rest, ok := strings.Cut(text, "{")
		out = append(out, engine.Normalize(before, lang)...)
		if !ok {
			return strings.Join(out, " ")
		}
		name, after, ok := strings.Cut(rest, "}")
		if !ok {
			out = append(out, engine.Normalize(rest, lang)...)
			return strings.Join(out, " ")
		}
		out = append(out, "{"+name+"}")
		text = after
	}
}
