package engine

// Verdict is what the bot makes of a question.
type Verdict int

// Verdicts, from sure to lost.
const (
	// Understood: the top match answers the question.
	Understood Verdict = iota
	// Reword: the question is plausible but the bot is unsure; it offers up to three
	// questions to click.
	Reword
	// Misunderstood: nothing in the knowledge is close enough to offer.
	Misunderstood
)

func (v Verdict) String() string {
	switch v {
	case Understood:
		return "understood"
	case Reword:
		return "reword"
	case Misunderstood:
		return "misunderstood"
	}
	return "unknown"
}

// Thresholds on Match.Confidence. They were set on the sample bot's held-out questions
// (samplebot/heldout.tsv, see TestHeldOutAccuracy, which prints the rates they give):
//   - UnderstoodAt: below it a wrong answer becomes likelier than a right one, so the bot
//     offers choices instead of answering;
//   - RewordAt: below it the matches are mostly shared common words; out-of-scope questions
//     land there, and offering them suggestions would look random;
//   - CloseGap: when the second match is within this of the first, the question is ambiguous
//     between them ("delivery" alone: times or costs?), and the visitor picks.
const (
	UnderstoodAt   = 0.55
	RewordAt       = 0.3
	CloseGap       = 0.05
	maxSuggestions = 3
)

// Decide applies the confidence thresholds to the matches of one question, best first:
// Understood (top match), Reword (up to 3 suggestions to click), or Misunderstood.
func Decide(matches []Match) (Verdict, []Match) {
	if len(matches) == 0 || matches[0].Confidence < RewordAt {
		return Misunderstood, nil
	}
	top := matches[0].Confidence
	ambiguous := len(matches) > 1 && matches[1].Confidence > top-CloseGap
	if top >= UnderstoodAt && !ambiguous {
		return Understood, matches[:1]
	}
	var out []Match
	for _, m := range matches {
		if len(out) == maxSuggestions {
			break
		}
		if m.Confidence >= RewordAt {
			out = append(out, m)
		}
	}
	return Reword, out
}
