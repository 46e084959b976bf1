package bascule

import (
	"context"
	"time"
)

// Store keeps everything a Bascule server knows. Every method that changes replicated data
// appends the matching Change to the feed in the same transaction, so a peer can never see
// a write without its change or the reverse. Implementations: sqlite (the embedded default)
// and postgres (several nodes on one database); storetest holds the suite they all pass.
type Store interface {
	KnowledgeStore
	DialogStore
	UploadStore
	FeedStore
	LivechatStore
	// Meta returns a value the server keeps about itself (its place in the pair), "" if unset.
	Meta(ctx context.Context, key string) (string, error)
	// SetMeta stores such a value.
	SetMeta(ctx context.Context, key, value string) error
	// Close waits for pending writes and releases the database.
	Close() error
}

// KnowledgeStore holds bots and their knowledge. Versions and update times are assigned by the
// store on every write.
type KnowledgeStore interface {
	Bots(ctx context.Context) ([]Bot, error)
	Bot(ctx context.Context, id string) (*Bot, error)
	// KnowledgeBase returns the complete model of a bot (format KnowledgeFormat).
	KnowledgeBase(ctx context.Context, botID string) (*KnowledgeBase, error)
	Knowledge(ctx context.Context, botID string, id int64) (*Knowledge, error)
	PutBot(ctx context.Context, b *Bot) error
	// DeleteBot removes a bot and its knowledge; its dialogs stay for history.
	DeleteBot(ctx context.Context, id string) error
	// PutKnowledge creates (ID 0: a new id is assigned) or replaces an item.
	PutKnowledge(ctx context.Context, botID string, k *Knowledge) error
	DeleteKnowledge(ctx context.Context, botID string, id int64) error
	PutGroup(ctx context.Context, botID string, g *MatchingGroup) error
	DeleteGroup(ctx context.Context, botID, name, language string) error
	PutSentence(ctx context.Context, botID string, s *Sentence) error
	// ReplaceKnowledgeBase makes the stored model of kb.Bot equal to kb, in one transaction.
	ReplaceKnowledgeBase(ctx context.Context, kb *KnowledgeBase) error
	// OnKnowledgeChange registers fn, called after a bot's knowledge or settings changed
	// (a local write, a replicated one, or another node's). Caches use it to invalidate. An
	// empty botID means any bot may have changed (a write by another process).
	OnKnowledgeChange(fn func(botID string))
}

// DialogStore holds dialogs and everything visitors do.
type DialogStore interface {
	// Dialog returns a dialog without its variables (see Variables).
	Dialog(ctx context.Context, id string) (*Dialog, error)
	// Variables returns the variables of a dialog.
	Variables(ctx context.Context, dialogID string) (map[string]string, error)
	// LatestDialog returns the client's most recent dialog with the bot.
	LatestDialog(ctx context.Context, botID, clientID string) (*Dialog, error)
	// RecordTalk durably stores one answered question before returning: it creates newDialog
	// when not nil, assigns in.N after the highest N of the dialog, and moves the dialog's
	// last activity. An interaction whose id exists already is not stored twice. With a nil
	// interaction it only creates the dialog (a welcome opens a context without a question).
	RecordTalk(ctx context.Context, newDialog *Dialog, in *Interaction) error
	// RecentTypes returns the answer types of a dialog's last n interactions, oldest first (the
	// run of misunderstood questions).
	RecentTypes(ctx context.Context, dialogID string, n int) ([]string, error)
	// Interactions returns a dialog's interactions in order; with last > 0 only the last ones.
	Interactions(ctx context.Context, dialogID string, last int) ([]Interaction, error)
	Dialogs(ctx context.Context, f DialogFilter) ([]Dialog, error)
	// CountDialogs counts conversations in [from, to): dialogs that continue one another after
	// a switch-over are one conversation, and a dialog with no interaction is none.
	CountDialogs(ctx context.Context, botID string, from, to time.Time) (int, error)
	SetVariable(ctx context.Context, v *Variable) error
	RecordFeedback(ctx context.Context, f *Feedback) error
	RecordVisit(ctx context.Context, v *Visit) error
	// TopKnowledge ranks the knowledge most answered since the given time.
	TopKnowledge(ctx context.Context, botID, language string, since time.Time, n int) ([]KnowledgeCount, error)
	// ClientDialogs returns every dialog of a client with a bot (GDPR access).
	ClientDialogs(ctx context.Context, botID, clientID string) ([]Dialog, error)
	// EraseClient deletes the client's dialogs started before e.Before, on this server now and
	// on the peer through the feed, and refuses them if they arrive later (GDPR erasure).
	EraseClient(ctx context.Context, e *ClientErasure) (int, error)
}

// UploadStore holds the files visitors send. They belong to their dialog: replicated with it
// (EntityUpload) and erased with it.
type UploadStore interface {
	// SaveUpload stores a file of an existing dialog (not found otherwise). Its id is random: a
	// file saved twice under one id is stored once.
	SaveUpload(ctx context.Context, u *Upload) error
	// Upload returns a file with its content.
	Upload(ctx context.Context, id string) (*Upload, error)
	// Uploads lists the files of a dialog, oldest first, without their content.
	Uploads(ctx context.Context, dialogID string) ([]Upload, error)
}

// FeedStore is the change feed and the cursors of what was applied from peers.
type FeedStore interface {
	// ServerID is the id of the server this database belongs to, created with the database.
	ServerID() string
	// Changes returns up to limit changes of a class this server originated, with Seq > since,
	// in order. Changes that carry files (uploads) may end a batch early, so that one answer
	// holds at most a few tens of MiB.
	Changes(ctx context.Context, class FeedClass, since int64, limit int) ([]Change, error)
	// LastSeq is the Seq of the newest change this server originated.
	LastSeq(ctx context.Context) (int64, error)
	// ClassSeq is the Seq of the newest change of a class this server originated (0 if none).
	ClassSeq(ctx context.Context, class FeedClass) (int64, error)
	// ChangeSignal returns a channel closed at the next commit that appends to the feed.
	ChangeSignal() <-chan struct{}
	// Apply applies changes of a class pulled from the peer origin and stores cursor as the last
	// Seq applied from that stream, all in one transaction. Applying a change twice is harmless.
	Apply(ctx context.Context, origin string, class FeedClass, changes []Change, cursor int64) error
	// Cursor returns the last Seq applied from a stream of origin (0 if none).
	Cursor(ctx context.Context, origin string, class FeedClass) (int64, error)
}
