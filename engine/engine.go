package engine

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/bascule/bascule"
)

// Options configure an Engine.
type Options struct {
	// Idle is how long a dialog lives without activity before it is archived (dydu: 10 min).
	Idle time.Duration
	// MaxInput is how many characters of a question are used (dydu: 600).
	MaxInput int
	// Now replaces the clock in tests.
	Now func() time.Time
	// Forward sends questions of dialogs that live on the other server there (nil: a server
	// without a peer answers everything itself).
	Forward Forwarder
	// WebServices makes the calls of knowledge answers that name a web service (nil: such
	// answers are their service's fallback).
	WebServices WebServices
	// Uploads configure the files visitors send.
	Uploads UploadOptions
	// Log receives what the engine reports itself: failed web services and the audit lines of
	// uploads (nil: discarded).
	Log *slog.Logger
	// Livechat hands dialogs over to human operators (nil: escalations are answered as any
	// knowledge).
	Livechat Livechat
}

// Engine applies the dialog rules: it resolves the visitor's context, answers with the bot's
// knowledge and global sentences, and stores every answered question durably before the
// answer leaves. It is safe for concurrent use.
type Engine struct {
	store bascule.Store
	opt   Options

	mu   sync.Mutex
	bots map[string]*botEntry

	topMu sync.Mutex
	top   map[topKey]topEntry

	storing chan struct{} // a slot per upload read into memory to be stored
}

// botEntry is a bot's loaded knowledge and index, built once per version of the knowledge.
type botEntry struct {
	ready chan struct{}
	bot   *Bot
	err   error
}

// Bot is a bot ready to answer: its model, its index, and lookups the rules need.
type Bot struct {
	KB        *bascule.KnowledgeBase
	Index     *Index
	knowledge map[int64]*bascule.Knowledge
	sentences map[string]string // kind + "/" + language -> HTML
}

// New returns an Engine over store. It registers with the store to drop a bot's cached
// index whenever that bot's knowledge changes, locally or through replication.
func New(store bascule.Store, opt Options) *Engine {
	if opt.Idle <= 0 {
		opt.Idle = 10 * time.Minute
	}
	if opt.MaxInput <= 0 {
		opt.MaxInput = 600
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	opt.Uploads.defaults()
	e := &Engine{store: store, opt: opt, bots: map[string]*botEntry{}, top: map[topKey]topEntry{},
		storing: make(chan struct{}, maxStoringUploads)}
	store.OnKnowledgeChange(e.forget)
	return e
}

// SetLivechat gives the engine its livechat, which is built on the engine (it reads bots and
// dialogs through it): the two are made one after the other, then joined here, before the
// server serves.
func (e *Engine) SetLivechat(lc Livechat) { e.opt.Livechat = lc }

// Store returns the engine's store.
func (e *Engine) Store() bascule.Store { return e.store }

// Idle returns how long a dialog lives without activity.
func (e *Engine) Idle() time.Duration { return e.opt.Idle }

func (e *Engine) forget(botID string) {
	e.mu.Lock()
	if botID == "" {
		clear(e.bots)
	} else {
		delete(e.bots, botID)
	}
	e.mu.Unlock()
	e.topMu.Lock()
	clear(e.top)
	e.topMu.Unlock()
}

// Bot returns a bot ready to answer, loading and indexing it on first use. Concurrent callers
// share one load.
func (e *Engine) Bot(ctx context.Context, id string) (*Bot, error) {
	e.mu.Lock()
	en := e.bots[id]
	if en == nil {
		en = &botEntry{ready: make(chan struct{})}
		e.bots[id] = en
		e.mu.Unlock()
		en.bot, en.err = e.load(ctx, id)
		close(en.ready)
		if en.err != nil {
			e.forget(id) // errors are not cached: the next request tries again
		}
	} else {
		e.mu.Unlock()
	}
	select {
	case <-en.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return en.bot, en.err
}

func (e *Engine) load(ctx context.Context, id string) (*Bot, error) {
	if !bascule.IsUUID(id) {
		return nil, bascule.NotFoundf("no bot %q: a bot id is a UUID", id)
	}
	kb, err := e.store.KnowledgeBase(ctx, id)
	if err != nil {
		if errors.Is(err, bascule.ErrNotFound) {
			return nil, bascule.NotFoundf("no bot %s on this server", id)
		}
		return nil, err
	}
	b := &Bot{KB: kb, Index: NewIndex(kb), knowledge: make(map[int64]*bascule.Knowledge, len(kb.Knowledge)),
		sentences: map[string]string{}}
	for i := range kb.Knowledge {
		b.knowledge[kb.Knowledge[i].ID] = &kb.Knowledge[i]
	}
	for _, s := range kb.Sentences {
		b.sentences[s.Kind+"/"+s.Language] = s.Text
	}
	return b, nil
}

// Language returns lang if the bot speaks it, else the bot's first language.
func (b *Bot) Language(lang string) string {
	if slices.Contains(b.KB.Bot.Languages, lang) || len(b.KB.Bot.Languages) == 0 {
		return lang
	}
	return b.KB.Bot.Languages[0]
}

// Space returns space if the bot has it, else its first space.
func (b *Bot) Space(space string) string {
	if slices.Contains(b.KB.Bot.Spaces, space) || len(b.KB.Bot.Spaces) == 0 {
		return space
	}
	return b.KB.Bot.Spaces[0]
}

// Knowledge returns an item by id, or nil.
func (b *Bot) Knowledge(id int64) *bascule.Knowledge { return b.knowledge[id] }

// Sentence returns the bot's global sentence of a kind in a language, or the built-in one.
func (b *Bot) Sentence(kind, lang string) string {
	if s, ok := b.sentences[kind+"/"+lang]; ok {
		return s
	}
	if s, ok := defaultSentences[kind+"/"+lang]; ok {
		return s
	}
	return defaultSentences[kind+"/en"]
}

// defaultSentences stand in for global sentences a bot does not define.
var defaultSentences = map[string]string{
	bascule.SentenceWelcome + "/en":              "<p>Hello! How can I help you?</p>",
	bascule.SentenceWelcome + "/fr":              "<p>Bonjour ! Comment puis-je vous aider ?</p>",
	bascule.SentenceMisunderstood + "/en":        "<p>Sorry, I did not understand. Could you rephrase your question?</p>",
	bascule.SentenceMisunderstood + "/fr":        "<p>Désolé, je n'ai pas compris. Pouvez-vous reformuler votre question ?</p>",
	bascule.SentenceTooManyMisunderstood + "/en": "<p>I still do not understand, sorry. Try a shorter question with the key words.</p>",
	bascule.SentenceTooManyMisunderstood + "/fr": "<p>Je ne comprends toujours pas, désolé. Essayez une question plus courte avec les mots importants.</p>",
	bascule.SentenceTooLong + "/en":              "<p>Your message is too long for me. Could you ask it in fewer words?</p>",
	bascule.SentenceTooLong + "/fr":              "<p>Votre message est trop long pour moi. Pouvez-vous le formuler plus brièvement ?</p>",
	bascule.SentenceEmpty + "/en":                "<p>You did not type anything. What is your question?</p>",
	bascule.SentenceEmpty + "/fr":                "<p>Vous n'avez rien écrit. Quelle est votre question ?</p>",
	bascule.SentenceRewordIntro + "/en":          "<p>Did you mean:</p>",
	bascule.SentenceRewordIntro + "/fr":          "<p>Vouliez-vous dire :</p>",
}
