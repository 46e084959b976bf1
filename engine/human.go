package engine

import "slices"

// humanTerms are the stems (as Normalize makes them) of the words by which a visitor asks for
// a person rather than the bot: "I want to talk to a human", "un conseiller svp".
var humanTerms = map[string][]string{
	"en": {"human", "person", "advisor", "advis", "agent", "oper", "someon", "somebodi", "livechat", "repres"},
	"fr": {"humain", "conseil", "conseiller", "oper", "agent", "person", "quelqu", "livechat"},
}

// AsksForHuman reports whether a question asks to talk to a person. It is asked only of
// questions the bot did not understand: a bot that knows an answer about "advisors" gives it.
func AsksForHuman(input, lang string) bool {
	terms, ok := humanTerms[lang]
	if !ok {
		terms = humanTerms["en"]
	}
	return slices.ContainsFunc(Normalize(input, lang), func(w string) bool { return slices.Contains(terms, w) })
}
