package bascule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Bot is one chatbot: the unit a chatbox addresses by UUID.
type Bot struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Languages []string    `json:"languages"` // first is the default
	Spaces    []string    `json:"spaces"`    // first is the default; dydu calls it "Defaut"
	Settings  BotSettings `json:"settings"`
	Version   int64       `json:"version,omitempty"`
	UpdatedAt time.Time   `json:"updatedAt,omitzero"`
}

// BotSettings are the per-bot options of the dialog rules. Zero values mean "the default".
type BotSettings struct {
	// MisunderstoodInARow is how many misunderstood questions in a row trigger the
	// "too many misunderstood" sentence instead of the plain "misunderstood" one (default 3).
	MisunderstoodInARow int `json:"misunderstoodInARow,omitempty"`
	// AskFeedback shows the feedback thumbs under understood answers.
	AskFeedback bool `json:"askFeedback,omitempty"`
	// Uploads lets visitors send files (they are scanned before being stored).
	Uploads bool `json:"uploads,omitempty"`
	// WebServices are the outbound calls that knowledge answers may use, by name.
	WebServices []WebService `json:"webServices,omitempty"`
	// Livechat holds the competencies and hours of the human operators escalations go to.
	Livechat *LivechatSettings `json:"livechat,omitempty"`
}

// WebService declares an outbound HTTP call a knowledge answer can make. URL and Body are
// templates over the dialog's variables ({{.name}}); the JSON response's fields are rendered
// into the answer with {{.response.field}}.
type WebService struct {
	Name     string            `json:"name"`
	Method   string            `json:"method,omitempty"` // GET by default
	URL      string            `json:"url"`
	Headers  map[string]string `json:"headers,omitempty"`
	Body     string            `json:"body,omitempty"`
	Timeout  Duration          `json:"timeout,omitempty"` // 3s by default
	Auth     *WebServiceAuth   `json:"auth,omitempty"`
	Fallback string            `json:"fallback,omitempty"` // HTML answered when the call fails
}

// WebServiceAuth is basic (User, Password) or bearer (Token) authentication.
type WebServiceAuth struct {
	Kind     string `json:"kind"` // "basic" or "bearer"
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
}

// Duration is a time.Duration written as text ("1.5s", "10m") in JSON and YAML.
type Duration time.Duration

// MarshalText writes the duration as Go's duration syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads Go's duration syntax; negative durations are refused.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 3s, 10m or 1h30m", b)
	}
	if v < 0 {
		return fmt.Errorf("%q: a duration cannot be negative", b)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Knowledge kinds.
const (
	KindAnswer     = "answer"     // an answer to a question
	KindEscalation = "escalation" // hands the dialog over to a human operator
)

// Knowledge is one question the bot understands and its answer.
type Knowledge struct {
	ID           int64     `json:"id"`
	Question     string    `json:"question"`               // the reference wording, shown in suggestions
	Formulations []string  `json:"formulations,omitempty"` // other wordings; may refer to matching groups as {name}
	Answer       string    `json:"answer"`                 // sanitised HTML
	Tags         []string  `json:"tags,omitempty"`
	Language     string    `json:"language"`
	Space        string    `json:"space,omitempty"` // "" means every space
	Enabled      bool      `json:"enabled"`
	Kind         string    `json:"kind,omitempty"`       // KindAnswer when empty
	WebService   string    `json:"webService,omitempty"` // name of a BotSettings.WebServices entry
	Competency   string    `json:"competency,omitempty"` // escalations: the operators' competency asked for
	Failure      string    `json:"failure,omitempty"`    // escalations: the answer when no operator can take the dialog (sanitised HTML)
	Version      int64     `json:"version,omitempty"`
	UpdatedAt    time.Time `json:"updatedAt,omitzero"`
}

// UnmarshalJSON makes "enabled" default to true: an imported item is live unless it says not.
// Unknown fields are refused, as everywhere knowledge is read: a misspelt field ignored in
// silence would lose what the author wrote.
func (k *Knowledge) UnmarshalJSON(b []byte) error {
	type plain Knowledge
	v := plain{Enabled: true}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*k = Knowledge(v)
	return nil
}

// MatchingGroup is a named set of synonyms (words or phrases). A formulation that contains
// {name} matches a question containing any of the group's terms; a term may itself be {other}.
type MatchingGroup struct {
	Name      string    `json:"name"`
	Language  string    `json:"language,omitempty"` // "" means every language
	Terms     []string  `json:"terms"`
	Version   int64     `json:"version,omitempty"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// Sentence kinds: the global sentences every bot has, per language.
const (
	SentenceWelcome              = "welcome"
	SentenceMisunderstood        = "misunderstood"
	SentenceTooManyMisunderstood = "tooManyMisunderstood"
	SentenceTooLong              = "tooLong"
	SentenceEmpty                = "empty"
	SentenceRewordIntro          = "rewordIntro"
)

// SentenceKinds lists every kind, in the order the admin shows them.
var SentenceKinds = []string{SentenceWelcome, SentenceMisunderstood, SentenceTooManyMisunderstood,
	SentenceTooLong, SentenceEmpty, SentenceRewordIntro}

// Sentence is a global sentence of a bot in one language.
type Sentence struct {
	Kind      string    `json:"kind"`
	Language  string    `json:"language"`
	Text      string    `json:"text"` // sanitised HTML
	Version   int64     `json:"version,omitempty"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// KnowledgeBase is the complete model of one bot, as exported and imported.
type KnowledgeBase struct {
	Format    int             `json:"format"` // KnowledgeFormat
	Bot       Bot             `json:"bot"`
	Knowledge []Knowledge     `json:"knowledge"`
	Groups    []MatchingGroup `json:"groups,omitempty"`
	Sentences []Sentence      `json:"sentences,omitempty"`
}

// KnowledgeFormat is the version of the KnowledgeBase JSON format.
const KnowledgeFormat = 1

// Limits on knowledge content, so that an import cannot exhaust memory or the matcher.
const (
	MaxQuestionLen     = 600
	MaxAnswerLen       = 64 << 10
	MaxFormulations    = 200
	MaxKnowledgePerBot = 100_000
)

// Validate checks the bot alone.
func (b *Bot) Validate() error {
	var errs []error
	if !IsUUID(b.ID) {
		errs = append(errs, FieldErrorf("bot.id", "must be a UUID such as %s, got %q", SampleBotID, b.ID))
	}
	if strings.TrimSpace(b.Name) == "" {
		errs = append(errs, FieldErrorf("bot.name", "must not be empty"))
	}
	if len(b.Languages) == 0 {
		errs = append(errs, FieldErrorf("bot.languages", "must list at least one language"))
	}
	for i, l := range b.Languages {
		if !IsLanguage(l) {
			errs = append(errs, FieldErrorf(fmt.Sprintf("bot.languages[%d]", i), "%q is not a two-letter language code", l))
		}
	}
	for i, s := range b.Spaces {
		if strings.TrimSpace(s) == "" {
			errs = append(errs, FieldErrorf(fmt.Sprintf("bot.spaces[%d]", i), "must not be empty"))
		}
	}
	names := map[string]bool{}
	for i, ws := range b.Settings.WebServices {
		f := fmt.Sprintf("bot.settings.webServices[%d]", i)
		switch {
		case ws.Name == "":
			errs = append(errs, FieldErrorf(f+".name", "must not be empty"))
		case names[ws.Name]:
			errs = append(errs, FieldErrorf(f+".name", "%q is declared twice", ws.Name))
		}
		names[ws.Name] = true
		if !strings.HasPrefix(ws.URL, "http://") && !strings.HasPrefix(ws.URL, "https://") {
			errs = append(errs, FieldErrorf(f+".url", "must start with http:// or https://"))
		}
		switch strings.ToUpper(ws.Method) {
		case "", "GET", "POST", "PUT", "PATCH", "DELETE":
		default:
			errs = append(errs, FieldErrorf(f+".method", "%q is not one of GET, POST, PUT, PATCH, DELETE", ws.Method))
		}
		if ws.Auth != nil && ws.Auth.Kind != "basic" && ws.Auth.Kind != "bearer" {
			errs = append(errs, FieldErrorf(f+".auth.kind", "must be basic or bearer"))
		}
	}
	if err := b.Settings.Livechat.Validate("bot.settings.livechat"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Validate checks the whole model and returns every problem, each naming its item and field.
// Nothing is written by an import unless Validate returns nil.
func (kb *KnowledgeBase) Validate() error {
	var errs []error
	if kb.Format != KnowledgeFormat {
		errs = append(errs, FieldErrorf("format", "must be %d, got %d", KnowledgeFormat, kb.Format))
	}
	if err := kb.Bot.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(kb.Knowledge) > MaxKnowledgePerBot {
		errs = append(errs, FieldErrorf("knowledge", "at most %d items, got %d", MaxKnowledgePerBot, len(kb.Knowledge)))
	}
	seen := map[int64]bool{}
	for i := range kb.Knowledge {
		k := &kb.Knowledge[i]
		if err := k.Validate(&kb.Bot, fmt.Sprintf("knowledge[%d]", i)); err != nil {
			errs = append(errs, err)
		}
		if k.ID != 0 && seen[k.ID] {
			errs = append(errs, FieldErrorf(fmt.Sprintf("knowledge[%d].id", i), "id %d is used twice", k.ID))
		}
		seen[k.ID] = true
	}
	groups := map[string]*MatchingGroup{}
	for i := range kb.Groups {
		g := &kb.Groups[i]
		item := fmt.Sprintf("groups[%d]", i)
		if !IsGroupName(g.Name) {
			errs = append(errs, FieldErrorf(item+".name", "%q: use letters, digits, '_' and '-' only", g.Name))
		}
		if groups[g.Name+"/"+g.Language] != nil {
			errs = append(errs, FieldErrorf(item+".name", "group %q is defined twice", g.Name))
		}
		groups[g.Name+"/"+g.Language] = g
		if len(g.Terms) == 0 {
			errs = append(errs, FieldErrorf(item+".terms", "must hold at least one term"))
		}
	}
	for i := range kb.Groups {
		if err := kb.checkGroupRefs(i, groups); err != nil {
			errs = append(errs, err)
		}
	}
	for i := range kb.Knowledge {
		for j, f := range kb.Knowledge[i].Formulations {
			for _, ref := range GroupRefs(f) {
				if kb.group(ref, kb.Knowledge[i].Language, groups) == nil {
					errs = append(errs, FieldErrorf(fmt.Sprintf("knowledge[%d].formulations[%d]", i, j), "refers to unknown matching group {%s}", ref))
				}
			}
		}
	}
	kinds := map[string]bool{}
	for i, s := range kb.Sentences {
		item := fmt.Sprintf("sentences[%d]", i)
		if !slices.Contains(SentenceKinds, s.Kind) {
			errs = append(errs, FieldErrorf(item+".kind", "%q is not one of %s", s.Kind, strings.Join(SentenceKinds, ", ")))
		}
		if !slices.Contains(kb.Bot.Languages, s.Language) {
			errs = append(errs, FieldErrorf(item+".language", "%q is not a language of the bot", s.Language))
		}
		if strings.TrimSpace(s.Text) == "" {
			errs = append(errs, FieldErrorf(item+".text", "must not be empty"))
		}
		if kinds[s.Kind+"/"+s.Language] {
			errs = append(errs, FieldErrorf(item+".kind", "%s/%s is defined twice", s.Kind, s.Language))
		}
		kinds[s.Kind+"/"+s.Language] = true
	}
	return errors.Join(errs...)
}

func (kb *KnowledgeBase) group(name, lang string, groups map[string]*MatchingGroup) *MatchingGroup {
	if g := groups[name+"/"+lang]; g != nil {
		return g
	}
	return groups[name+"/"]
}

// checkGroupRefs reports unknown references and cycles among nested groups.
func (kb *KnowledgeBase) checkGroupRefs(i int, groups map[string]*MatchingGroup) error {
	g := &kb.Groups[i]
	var visit func(cur *MatchingGroup, path []string) error
	visit = func(cur *MatchingGroup, path []string) error {
		for _, t := range cur.Terms {
			for _, ref := range GroupRefs(t) {
				if slices.Contains(path, ref) {
					return FieldErrorf(fmt.Sprintf("groups[%d].terms", i), "group {%s} refers to itself through %s", g.Name, strings.Join(append(path, ref), " -> "))
				}
				next := kb.group(ref, g.Language, groups)
				if next == nil {
					return FieldErrorf(fmt.Sprintf("groups[%d].terms", i), "refers to unknown matching group {%s}", ref)
				}
				if err := visit(next, append(path, ref)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return visit(g, []string{g.Name})
}

// Validate checks one knowledge item of bot b; item names it in the errors.
func (k *Knowledge) Validate(b *Bot, item string) error {
	var errs []error
	if k.ID < 0 {
		errs = append(errs, FieldErrorf(item+".id", "must be positive"))
	}
	if q := strings.TrimSpace(k.Question); q == "" {
		errs = append(errs, FieldErrorf(item+".question", "must not be empty"))
	} else if len([]rune(q)) > MaxQuestionLen {
		errs = append(errs, FieldErrorf(item+".question", "at most %d characters", MaxQuestionLen))
	}
	if len(k.Formulations) > MaxFormulations {
		errs = append(errs, FieldErrorf(item+".formulations", "at most %d formulations", MaxFormulations))
	}
	for j, f := range k.Formulations {
		if strings.TrimSpace(f) == "" {
			errs = append(errs, FieldErrorf(fmt.Sprintf("%s.formulations[%d]", item, j), "must not be empty"))
		}
	}
	if strings.TrimSpace(k.Answer) == "" && k.WebService == "" {
		errs = append(errs, FieldErrorf(item+".answer", "must not be empty"))
	} else if len(k.Answer) > MaxAnswerLen {
		errs = append(errs, FieldErrorf(item+".answer", "at most %d bytes", MaxAnswerLen))
	}
	if !slices.Contains(b.Languages, k.Language) {
		errs = append(errs, FieldErrorf(item+".language", "%q is not a language of the bot (%s)", k.Language, strings.Join(b.Languages, ", ")))
	}
	if k.Space != "" && len(b.Spaces) > 0 && !slices.Contains(b.Spaces, k.Space) {
		errs = append(errs, FieldErrorf(item+".space", "%q is not a space of the bot (%s)", k.Space, strings.Join(b.Spaces, ", ")))
	}
	switch k.Kind {
	case "", KindAnswer, KindEscalation:
	default:
		errs = append(errs, FieldErrorf(item+".kind", "%q is not one of answer, escalation", k.Kind))
	}
	if lc := b.Settings.Livechat; k.Competency != "" && lc != nil && len(lc.Competencies) > 0 && lc.Competency(k.Competency) == nil {
		errs = append(errs, FieldErrorf(item+".competency", "no competency %q in the bot's livechat settings", k.Competency))
	}
	if len(k.Failure) > MaxAnswerLen {
		errs = append(errs, FieldErrorf(item+".failure", "at most %d bytes", MaxAnswerLen))
	}
	if k.WebService != "" && !slices.ContainsFunc(b.Settings.WebServices, func(ws WebService) bool { return ws.Name == k.WebService }) {
		errs = append(errs, FieldErrorf(item+".webService", "no web service named %q in the bot's settings", k.WebService))
	}
	return errors.Join(errs...)
}

// GroupRefs returns the matching-group names a formulation or term refers to as {name}.
func GroupRefs(s string) []string {
	var refs []string
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			return refs
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return refs
		}
		if name := s[i+1 : i+j]; IsGroupName(name) {
			refs = append(refs, name)
		}
		s = s[i+j+1:]
	}
}

// IsGroupName reports whether s is usable as a matching-group name.
func IsGroupName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// IsLanguage reports whether s is a two-letter lowercase language code.
func IsLanguage(s string) bool {
	return len(s) == 2 && s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z'
}

// IsUUID reports whether s is a UUID in its canonical lowercase 8-4-4-4-12 form.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
