package engine

import (
	"slices"
	"strconv"
	"strings"

	"github.com/kljensen/snowball/english"
	"github.com/kljensen/snowball/french"
)

// language holds what the normaliser knows of one language. Words are in folded form
// (lowercase, no accents), as the tokeniser produces them.
type language struct {
	// stop words carry no meaning for matching a customer-service question. The lists are
	// short and hand-made: negations ("pas", "not", "sans"), question words that tell
	// questions apart ("quand", "combien", "when", "much") and adverbs of time ("encore",
	// "toujours", "still", "yet") are kept on purpose. Modal verbs ("pouvoir", "vouloir",
	// "devoir", "savoir") are stop words in every person.
	stop map[string]bool
	// modifiers are the kept words that change a topic without being one: negations and
	// adverbs of time. A question that shares only them with a formulation shares no topic.
	modifiers map[string]bool
	// aliases expand SMS spellings, common abbreviations and contractions to the words the
	// knowledge is written with.
	aliases map[string][]string
	// lemmas map the forms of irregular verbs and plurals to one form, before stemming:
	// a stemmer cuts endings, and "reçois", "reçu" and "recevoir", or "bought" and "buy",
	// share none.
	lemmas map[string]string
	// stem reduces a folded word to its stem.
	stem func(string) string
	// idioms are runs of words that mean something else than their words, by their last
	// word (see idioms).
	idioms map[string][]*idiom
	// keep are words the stemmer would merge with an unrelated word: French "pays" (country)
	// would meet "payer" (to pay), "visa" "vis" (screw), "montant" (amount) "monter" (to
	// assemble), "payant" (not free) "payer", "application" (an app) "appliquer" (to apply a
	// code), "porte" (a door) "port" (postage), "conseils" (advice) "conseiller" (an advisor);
	// English "instalments" would meet "install", "missing" "missed", "personal" "person",
	// "offers" (deals) "offer" (to offer), "fittings" "fit", and the carrier "UPS" "up".
	// Their other forms reach them through lemmas.
	keep map[string]bool
}

func (l *language) stemWord(w string) string {
	if l.stem == nil || !isLetters(w) {
		return w
	}
	if lemma, ok := l.lemmas[w]; ok {
		w = lemma
	}
	if l.keep[w] {
		return w
	}
	return l.stem(w)
}

// isLetters reports whether w holds no digit: numbers are matched as written.
func isLetters[T string | []byte](w T) bool {
	for i := 0; i < len(w); i++ {
		if '0' <= w[i] && w[i] <= '9' {
			return false
		}
	}
	return true
}

// languages are the languages with stop words and stemming. Any other language is matched on
// folded words only, which still works, just with less recall.
var languages = map[string]*language{
	"fr": {
		stop: set(`a ai as au aux avec avez avoir avons c ca ce ceci cela ces cet cette d dans de des
			du elle elles en es est et etait etais etes etre eu fait faire il ils j je l la le les leur
			leurs lui m ma me mes moi mon n ne nos notre nous on ont par peut peux pouvez pourriez
			pourrais puis qu que quel quelle quelles quels qui s sa se ses si son sont suis sur t ta te
			tes toi ton tu un une vos votre vous y ete alors donc car cest bien tres aussi
			voudrais veux voulais voudrait souhaite souhaiterais souhaitais aimerais comment savoir
			bonjour bonsoir salut coucou hello merci svp stp plait sil cordialement madame monsieur
			mme mr bjr bsr slt jsp ok oui pour comme mais tout tous toute toutes dois doit faut
			va vais vas avais avait sera serai serait ici quoi possible besoin aide aider
			question devez doivent devrais devrait devriez veut voulez voulons
			veulent voudriez pouvons peuvent pourrait pourraient sais sait savez allez vont aller
			vraiment quelques quelque`),
		modifiers: set(`pas plus jamais rien non sans encore toujours deja`),
		aliases: aliases(`jsuis:je suis chui:je suis chuis:je suis jai:j ai jveux:je veux
			jvoudrais:je voudrais jpeux:je peux jarrive:j arrive jsais:je sais cest:c est ct:c etait
			mdp:mot de passe pwd:mot de passe cmd:commande cde:commande cmde:commande pr:pour ds:dans
			qd:quand qnd:quand kan:quand kand:quand koi:quoi kwa:quoi pk:pourquoi pq:pourquoi
			pkoi:pourquoi pourkoi:pourquoi tjs:toujours tjrs:toujours pb:probleme pbm:probleme
			pblm:probleme pbl:probleme bcp:beaucoup rdv:rendez vous dc:donc ke:que ki:qui vs:vous
			ns:nous tt:tout tte:toute ya:il y a num:numero tel:telephone cb:carte bancaire
			aujourd:aujourdhui hui: mail:email mails:email mel:email courriel:email
			dispo:disponible dispos:disponibles infos:informations info:information
			nvl:nouvelle nvx:nouveaux nouvo:nouveau pti:petit ptit:petit deux:2 trois:3 quatre:4
			cinq:5 dix:10 kel:quel kelle:quelle kels:quels koment:comment cmt:comment
			qqn:quelqu un qqun:quelqu un pcq:parce que pck:parce que psk:parce que
			mtn:maintenant mnt:maintenant dsl:desole`),
		// "Je me rends compte" (I realise) is not about an account, "arriver à" (to manage to)
		// is not about a parcel arriving, "passer une commande" is ordering, "du coup" and "par
		// contre" are fillers, and "rendez-vous" and "e-mail" are one word each.
		idioms: idioms(`
			rend|rends|rendre|rendu|rendue|rendons compte =
			du coup =
			quand meme =
			par contre =
			rendez vous = rendezvous
			e email = email
			j|on arrive|arrivons|arrivais|arrivait a =
			arrive|arrives|arrivons|arrivez|arrivent|arrivais|arrivait pas a = pas
			arrive|arrives|arrivons|arrivez|arrivent|arrivais|arrivait plus a = plus
			arrive|arrives|arrivons|arrivez|arrivent|arrivais|arrivait jamais a = jamais
			passer|passe|passee|passes|passez|passons|passais|passait commande|commandes = commande
			passer|passe|passee|passes|passez|passons|passais|passait une|ma|la|cette|mes|des|ces|ma commande|commandes = commande`),
		// Verbs of the third group, whose forms the stemmer leaves apart, as visitors write
		// them (without accents).
		lemmas: lemmas(`
			recevoir: recois recoit recoivent recevons recevez recu recue recus recues recevrai recevra recevrez recevrais recevrait recevais recevait
			prendre: prends prend prenons prenez prennent pris prise prises prenais prenait prendrai prendra
			mettre: mets met mettons mettez mettent mis mise mises mettais mettait mettrai mettra
			rendre: rends rend rendons rendent rendu rendue rendus rendues rendrai rendra
			perdre: perds perd perdons perdez perdent perdu perdue perdus perdues
			vendre: vends vend vendons vendez vendent vendu vendue vendus vendues
			attendre: attends attend attendons attendez attendent attendu attendue attendais attendait
			repondre: reponds repond repondons repondez repondent repondu
			voir: vois voit voyons voyez voient vu vue vus vues verrai verra
			ecrire: ecris ecrit ecrivons ecrivez ecrivent ecrite ecrits
			inscrire: inscris inscrit inscrivons inscrivez inscrivent inscrite inscrits
			desinscrire: desinscris desinscrit desinscrivons desinscrivez desinscrivent desinscrite
			joindre: joins joint joignons joignez joignent jointe
			servir: sers sert servons servez servent servi
			venir: viens vient venons venez viennent venu venue
			revenir: reviens revient revenons revenez reviennent revenu revenue
			payant: payante payants payantes
			application: applications
			porte: portes
			conseils: conseil`),
		stem: stemFrench,
		keep: set(`pays visa montant payant application porte conseils ups`),
	},
	"en": {
		stop: set(`a about am an and any are as at be been being by did do does for from had has have
			he her him his i if in into is it its me my myself of on or our ours she so some than
			that the their them then there these they this those to us was we were what which who
			whom will would shall should can could may might must you your yours s m d ll re ve
			just also very really how know tell want wanna like get got please pls hello hi hey
			thanks thank thx dear regards sir madam ok okay yes need help able possible question
			anything something now one let anymore getting gets`),
		modifiers: set(`not no never nothing without still yet already`),
		aliases: aliases(`t:not don:do doesn:does didn:did isn:is aren:are wasn:was weren:were
			haven:have hasn:has hadn:had couldn:could wouldn:would shouldn:should won:will ain:not
			dont:do not doesnt:does not didnt:did not isnt:is not arent:are not wasnt:was not
			werent:were not havent:have not hasnt:has not cant:can not cannot:can not wont:will not
			couldnt:could not wouldnt:would not shouldnt:should not im:i am ive:i have youre:you are
			u:you ur:your r:are y:why n:and plz:please pleas:please ty:thanks pwd:password
			pw:password passwd:password acct:account addr:address pkg:package hrs:hours
			mins:minutes b4:before tmrw:tomorrow tmr:tomorrow 2day:today bc:because cuz:because
			coz:because cos:because info:information msg:message email:email mail:email
			e:email color:colour colors:colours installment:instalments installments:instalments
			instalment:instalments whats:what is wheres:where is whens:when is hows:how is
			thats:that is theres:there is two:2 three:3 four:4 five:5 ten:10 wat:what wot:what
			wen:when wer:where`),
		// "Placing an order" is ordering.
		idioms: idioms(`
			place|placed|placing an|my|the|a order|orders = order`),
		// Irregular verbs and plurals.
		lemmas: lemmas(`
			buy: bought
			pay: paid
			send: sent
			come: came
			break: broke broken
			take: took taken
			give: gave given
			make: made
			lose: lost
			find: found
			forget: forgot forgotten
			keep: kept
			leave: left
			tell: told
			bring: brought
			write: wrote written
			choose: chose chosen
			spend: spent
			build: built
			hold: held
			bend: bent
			tear: tore torn
			steal: stole stolen
			shelf: shelves
			knife: knives
			fittings: fitting`),
		stem: stemEnglish,
		keep: set(`instalments missing personal offers fittings ups`),
	},
}

// maxIdiomWords is the longest idiom, in typed words.
const maxIdiomWords = 5

// idiom is a run of typed words (folded, stop words included) read as other words.
type idiom struct {
	words []string
	means [][]byte
}

// idioms parses one idiom pattern a line: "words = meaning", where a word may list
// alternatives ("rend|rends compte ="); an empty meaning drops the words. Patterns whose last
// word is the same are tried longest first.
func idioms(lines string) map[string][]*idiom {
	m := map[string][]*idiom{}
	for _, line := range strings.Split(lines, "\n") {
		pattern, meaning, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		var means [][]byte
		for _, w := range strings.Fields(meaning) {
			means = append(means, []byte(w))
		}
		seqs := [][]string{nil}
		for _, alts := range strings.Fields(pattern) {
			var next [][]string
			for _, s := range seqs {
				for _, w := range strings.Split(alts, "|") {
					next = append(next, append(s[:len(s):len(s)], w))
				}
			}
			seqs = next
		}
		for _, words := range seqs {
			if len(words) < 2 || len(words) > maxIdiomWords {
				panic("engine: idiom of " + strconv.Itoa(len(words)) + " words: " + line)
			}
			last := words[len(words)-1]
			m[last] = append(m[last], &idiom{words: words, means: means})
		}
	}
	for _, ids := range m {
		slices.SortStableFunc(ids, func(a, b *idiom) int { return len(b.words) - len(a.words) })
	}
	return m
}

// plain is the language of bots whose language has no lists: words are folded, not stemmed.
var plain = &language{}

func languageOf(lang string) *language {
	if l := languages[lang]; l != nil {
		return l
	}
	return plain
}

// lemmas parses "lemma: form form" lists, one lemma a line.
func lemmas(lines string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(lines, "\n") {
		lemma, forms, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		lemma = strings.TrimSpace(lemma)
		for _, f := range strings.Fields(forms) {
			m[f] = lemma
		}
	}
	return m
}

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// aliases parses "from:to words" pairs; an empty expansion drops the word.
func aliases(pairs string) map[string][]string {
	m := map[string][]string{}
	fields := strings.Fields(pairs)
	for i := 0; i < len(fields); i++ {
		from, to, _ := strings.Cut(fields[i], ":")
		exp := []string{}
		if to != "" {
			exp = append(exp, to)
		}
		// Multi-word expansions continue until the next "from:" field.
		for i+1 < len(fields) && !strings.Contains(fields[i+1], ":") {
			i++
			exp = append(exp, fields[i])
		}
		m[from] = exp
	}
	return m
}

func stemEnglish(w string) string { return english.Stem(w, true) }

// stemFrench runs the Snowball French stemmer on folded words. Snowball expects accents, and
// visitors rarely type them; on folded words its endings drift ("livree" -> "livre" but
// "livre" -> "livr", "expedier" -> "expedi" but "expedie" -> "exped"). Folding the feminine
// and plural participle endings first, and the "-ier"/"-yer" verb endings after, makes every
// form of a word meet on one stem, which is all matching needs.
func stemFrench(w string) string {
	switch {
	case len(w) > 5 && strings.HasSuffix(w, "ees"):
		w = w[:len(w)-2]
	case len(w) > 4 && strings.HasSuffix(w, "ee"):
		w = w[:len(w)-1]
	case len(w) > 4 && strings.HasSuffix(w, "es") && !strings.HasSuffix(w, "ses"):
		w = w[:len(w)-1]
	case len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss"):
		w = w[:len(w)-1]
	}
	s := french.Stem(w, true)
	if strings.HasSuffix(s, "y") {
		s = s[:len(s)-1] + "i"
	}
	if len(s) > 4 && strings.HasSuffix(s, "i") {
		s = s[:len(s)-1]
	}
	return s
}
