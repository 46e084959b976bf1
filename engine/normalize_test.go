package engine

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, lang, in string
		want           []string
	}{
		{"french elisions", "fr", "l'adresse d'expédition qu'il m'a donnée", []string{"adress", "expedit", "don"}},
		{"typographic apostrophe", "fr", "J’ai reçu l’article", []string{"recevoir", "articl"}},
		{"accents and case", "fr", "RÉEXPÉDIÉ Réexpédiée reexpedie", []string{"reexped", "reexped", "reexped"}},
		{"decomposed accents", "fr", "cafe\u0301 livre\u0301", []string{"caf", "livr"}},
		{"ligatures", "fr", "Œuvre cœur", []string{"oeuvr", "coeur"}},
		{"french participles meet", "fr", "livrée livrées livré livrer", []string{"livr", "livr", "livr", "livr"}},
		{"french verb and noun meet", "fr", "remboursé remboursement rembourser", []string{"rembours", "rembours", "rembours"}},
		{"french irregular verbs meet", "fr", "je reçois, reçu, recevoir", []string{"recevoir", "recevoir", "recevoir"}},
		{"french -re verbs meet", "fr", "perds perdu perdre, je m'inscris inscrire", []string{"perdr", "perdr", "perdr", "inscrir", "inscrir"}},
		{"french words kept whole", "fr", "payer pays", []string{"pai", "pays"}},
		{"french words kept apart", "fr", "payante payer, applications appliquer, portes port, conseil conseiller",
			[]string{"payant", "pai", "application", "appliqu", "porte", "port", "conseils", "conseil"}},
		{"english words kept apart", "en", "personal person, offers offer, fitting fit, UPS up",
			[]string{"personal", "person", "offers", "offer", "fittings", "fit", "ups", "up"}},
		{"negation kept", "fr", "ne fonctionne pas", []string{"fonction", "pas"}},
		{"adverbs of time kept", "fr", "pas encore, toujours pas, déjà", []string{"pas", "encor", "toujour", "pas", "dej"}},
		{"modal verbs in every person", "fr", "vous devez, il veut, ils peuvent, je sais", []string{}},
		{"e-mail is one word", "fr", "mon e-mail, une e-carte", []string{"email", "e", "cart"}},
		{"sms french", "fr", "jsuis pas content, mdp perdu, c koi le pb", []string{"pas", "content", "mot", "pass", "perdr", "problem"}},
		{"more sms french", "fr", "kel est le pb, cmt joindre qqn", []string{"problem", "joindr", "quelqu"}},
		{"number words", "fr", "débité deux fois", []string{"debit", "2", "foi"}},
		{"se rendre compte is not an account", "fr", "je me rends compte que j'ai oublié", []string{"oubl"}},
		{"arriver à is to manage to", "fr", "jarrive pas a me connecter", []string{"pas", "connect"}},
		{"arriver à, formal negation", "fr", "je n'arrive pas à payer", []string{"pas", "pai"}},
		{"arriver à, no negation", "fr", "j'arrive à payer", []string{"pai"}},
		{"a parcel still arrives", "fr", "mon colis n'arrive pas", []string{"coli", "arriv", "pas"}},
		{"no idiom across a sentence", "fr", "mon colis arrive. À quelle heure ?", []string{"coli", "arriv", "heur"}},
		{"rendez-vous is one word", "fr", "prendre rendez-vous, rdv", []string{"prendr", "rendezvou", "rendezvou"}},
		{"passer une commande is ordering", "fr", "j'ai passé une commande, commande passée", []string{"command", "command", "pass"}},
		{"fillers", "fr", "du coup par contre", []string{}},
		{"html entities", "fr", "Tom &amp; Jerry &eacute;t&eacute; &lt;b&gt;", []string{"tom", "jerr", "b"}},
		{"english contractions", "en", "I don't want it, it isn't working", []string{"not", "not", "work"}},
		{"english stems", "en", "Delivered shipping shipped refunds", []string{"deliv", "ship", "ship", "refund"}},
		{"us spellings", "en", "color installments", []string{"colour", "instalments"}},
		{"sms english", "en", "u sent the wrong pwd", []string{"send", "wrong", "password"}},
		{"irregular verbs", "en", "bought buy, forgot forgotten forget, broke broken", []string{"buy", "buy", "forget", "forget", "forget", "break", "break"}},
		{"irregular plurals", "en", "shelves shelf", []string{"shelf", "shelf"}},
		{"placing an order is ordering", "en", "i placed an order, my order was placed", []string{"order", "order", "place"}},
		{"more sms english", "en", "wat r u getting wen", []string{"when"}},
		{"numbers", "en", "order #12345 placed 2 days ago", []string{"order", "12345", "place", "2", "day", "ago"}},
		{"language without lists", "de", "Wo ist meine Bestellung?", []string{"wo", "ist", "meine", "bestellung"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.in, tt.lang); !slices.Equal(got, tt.want) {
				t.Errorf("Normalize(%q, %s) = %q, want %q", tt.in, tt.lang, got, tt.want)
			}
		})
	}
}

// TestNormalizeBadInputs feeds what visitors and attackers send: the normaliser must return
// few, valid terms, never fail.
func TestNormalizeBadInputs(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // nil: only checked for shape
	}{
		{"empty", "", []string{}},
		{"whitespace only", " \t\n\u00a0\u2003 ", []string{}},
		{"only stop words", "le la les de du et est-ce que", []string{}},
		{"only greetings", "Bonjour, merci !", []string{}},
		{"only punctuation", "?!... ,;: «» — ()[]{}", []string{}},
		{"emoji", "ma commande 🚚📦 est où ? 😡", []string{"command", "ou"}},
		{"html and script", "<script>alert('x')</script>", []string{"script", "alert", "x", "script"}},
		{"invalid utf-8", "commande\xff\xfe livr\xc3", []string{"command", "livr"}},
		{"10,000 characters", strings.Repeat("commande ", 1112), nil},
		{"one 10,000-letter word", strings.Repeat("a", 10000), []string{}},
		{"nul bytes", "commande\x00\x00annulée", []string{"command", "annul"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Normalize(tt.in, "fr")
			if tt.want != nil && !slices.Equal(got, tt.want) {
				t.Errorf("Normalize(%.40q) = %q, want %q", tt.in, got, tt.want)
			}
			checkTerms(t, got)
		})
	}
}

// checkTerms asserts the invariants of Normalize's output on any input.
func checkTerms(t *testing.T, terms []string) {
	t.Helper()
	if len(terms) > maxQueryTokens {
		t.Errorf("%d terms, more than %d", len(terms), maxQueryTokens)
	}
	for _, w := range terms {
		if w == "" || len(w) > maxTokenBytes*2 || !utf8.ValidString(w) || strings.ContainsAny(w, " '{}") {
			t.Errorf("bad term %q", w)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"", "l'adresse d’expédition", "Tom &amp; Jerry", "\xff\xfe", "🚚📦", "e\u0301", "&#x110000;", strings.Repeat("é", 3000)} {
		f.Add(s, "fr")
		f.Add(s, "en")
	}
	f.Fuzz(func(t *testing.T, text, lang string) {
		checkTerms(t, Normalize(text, lang))
	})
}
