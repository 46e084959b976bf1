// Package kb is the one implementation of knowledge management, shared by the admin API and
// the `bascule kb` command: validation that names the item and the field, HTML sanitising on
// every write, JSON (the complete model) and CSV (plain question/answer lists) formats, and
// the rule that only the main accepts knowledge writes.
package kb

import (
	"context"
	"fmt"

	"github.com/bascule/bascule"
)

// Service writes and reads knowledge through a store.
type Service struct {
	Store bascule.Store
	// Writable returns nil when this server accepts knowledge and configuration writes, and an
	// error naming the server that does otherwise (a backup refuses them). Nil means writable.
	Writable func() error
}

func (s *Service) writable() error {
	if s.Writable == nil {
		return nil
	}
	return s.Writable()
}

// Report says what an import did.
type Report struct {
	Knowledge int      `json:"knowledge"`
	Groups    int      `json:"groups"`
	Sentences int      `json:"sentences"`
	Sanitized []string `json:"sanitized,omitempty"` // fields whose HTML was cleaned
}

// Import validates and sanitises a complete model, then makes the stored bot equal to it in one
// transaction. On any error nothing is written.
func (s *Service) Import(ctx context.Context, kb *bascule.KnowledgeBase) (*Report, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	rep := &Report{Knowledge: len(kb.Knowledge), Groups: len(kb.Groups), Sentences: len(kb.Sentences)}
	rep.Sanitized = sanitizeModel(kb)
	if err := kb.Validate(); err != nil {
		return nil, err
	}
	if err := s.Store.ReplaceKnowledgeBase(ctx, kb); err != nil {
		return nil, err
	}
	return rep, nil
}

// sanitizeModel cleans every HTML field and lists those that changed.
func sanitizeModel(kb *bascule.KnowledgeBase) []string {
	var changed []string
	for i := range kb.Knowledge {
		if clean(&kb.Knowledge[i].Answer) {
			changed = append(changed, fmt.Sprintf("knowledge[%d].answer", i))
		}
		if clean(&kb.Knowledge[i].Failure) {
			changed = append(changed, fmt.Sprintf("knowledge[%d].failure", i))
		}
	}
	for i := range kb.Sentences {
		if clean(&kb.Sentences[i].Text) {
			changed = append(changed, fmt.Sprintf("sentences[%d].text", i))
		}
	}
	for i := range kb.Bot.Settings.WebServices {
		if clean(&kb.Bot.Settings.WebServices[i].Fallback) {
			changed = append(changed, fmt.Sprintf("bot.settings.webServices[%d].fallback", i))
		}
	}
	return changed
}

func clean(html *string) bool {
	if *html == "" {
		return false
	}
	c := SanitizeHTML(*html)
	changed := c != *html
	*html = c
	return changed
}

// Export returns the complete model of a bot.
func (s *Service) Export(ctx context.Context, botID string) (*bascule.KnowledgeBase, error) {
	return s.Store.KnowledgeBase(ctx, botID)
}

// PutBot creates or updates a bot's own fields (not its knowledge).
func (s *Service) PutBot(ctx context.Context, b *bascule.Bot) error {
	if err := s.writable(); err != nil {
		return err
	}
	for i := range b.Settings.WebServices {
		clean(&b.Settings.WebServices[i].Fallback)
	}
	if len(b.Spaces) == 0 {
		b.Spaces = []string{bascule.DefaultSpace}
	}
	if err := b.Validate(); err != nil {
		return err
	}
	return s.Store.PutBot(ctx, b)
}

// DeleteBot removes a bot and its knowledge.
func (s *Service) DeleteBot(ctx context.Context, id string) error {
	if err := s.writable(); err != nil {
		return err
	}
	return s.Store.DeleteBot(ctx, id)
}

// editable returns the model of a bot about to be edited, or why it cannot be.
func (s *Service) editable(ctx context.Context, botID string) (*bascule.KnowledgeBase, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	return s.Store.KnowledgeBase(ctx, botID)
}

// PutKnowledge validates, sanitises and writes one item (ID 0 creates it).
func (s *Service) PutKnowledge(ctx context.Context, botID string, k *bascule.Knowledge) error {
	kb, err := s.editable(ctx, botID)
	if err != nil {
		return err
	}
	clean(&k.Answer)
	clean(&k.Failure)
	if err := k.Validate(&kb.Bot, "knowledge"); err != nil {
		return err
	}
	// Group references are checked against the bot's groups, as an import would.
	probe := *kb
	probe.Knowledge = []bascule.Knowledge{*k}
	if err := probe.Validate(); err != nil {
		return err
	}
	return s.Store.PutKnowledge(ctx, botID, k)
}

// DeleteKnowledge removes one item.
func (s *Service) DeleteKnowledge(ctx context.Context, botID string, id int64) error {
	if err := s.writable(); err != nil {
		return err
	}
	return s.Store.DeleteKnowledge(ctx, botID, id)
}

// PutGroup validates and writes a matching group.
func (s *Service) PutGroup(ctx context.Context, botID string, g *bascule.MatchingGroup) error {
	kb, err := s.editable(ctx, botID)
	if err != nil {
		return err
	}
	probe := *kb
	probe.Groups = append([]bascule.MatchingGroup{}, kb.Groups...)
	replaced := false
	for i := range probe.Groups {
		if probe.Groups[i].Name == g.Name && probe.Groups[i].Language == g.Language {
			probe.Groups[i], replaced = *g, true
		}
	}
	if !replaced {
		probe.Groups = append(probe.Groups, *g)
	}
	if err := probe.Validate(); err != nil {
		return err
	}
	return s.Store.PutGroup(ctx, botID, g)
}

// DeleteGroup removes a matching group unless a formulation still refers to it.
func (s *Service) DeleteGroup(ctx context.Context, botID, name, language string) error {
	kb, err := s.editable(ctx, botID)
	if err != nil {
		return err
	}
	probe := *kb
	probe.Groups = nil
	for _, g := range kb.Groups {
		if g.Name != name || g.Language != language {
			probe.Groups = append(probe.Groups, g)
		}
	}
	if err := probe.Validate(); err != nil {
		return bascule.Errorf(bascule.CodeConflict, "matching group {%s} is still used: %v", name, err)
	}
	return s.Store.DeleteGroup(ctx, botID, name, language)
}

// PutSentence validates, sanitises and writes a global sentence.
func (s *Service) PutSentence(ctx context.Context, botID string, se *bascule.Sentence) error {
	kb, err := s.editable(ctx, botID)
	if err != nil {
		return err
	}
	clean(&se.Text)
	probe := *kb
	probe.Sentences = nil
	for _, o := range kb.Sentences {
		if o.Kind != se.Kind || o.Language != se.Language {
			probe.Sentences = append(probe.Sentences, o)
		}
	}
	probe.Sentences = append(probe.Sentences, *se)
	if err := probe.Validate(); err != nil {
		return err
	}
	return s.Store.PutSentence(ctx, botID, se)
}
