package bascule

import (
	"encoding/json"
	"time"
)

// Change is one entry of a server's change feed: a write to replicated data, numbered by the
// originating server's gap-free sequence. Peers pull the feed and apply each change
// idempotently (insert-or-ignore by id, upsert by version), so a batch delivered twice changes
// nothing the second time.
type Change struct {
	Seq    int64           `json:"seq"`
	Origin string          `json:"origin"` // id of the server that made the write
	Entity string          `json:"entity"` // one of the Entity constants
	Key    string          `json:"key"`
	Op     string          `json:"op"` // OpPut or OpDelete
	Data   json.RawMessage `json:"data,omitempty"`
	At     time.Time       `json:"at"`
}

// Change operations.
const (
	OpPut    = "put"
	OpDelete = "delete"
)

// Replicated entities. Knowledge-side entities are written on the main only; dialog-side
// entities are written wherever the visitor is served.
const (
	EntityBot         = "bot"
	EntityKnowledge   = "knowledge"
	EntityGroup       = "group"
	EntitySentence    = "sentence"
	EntityDialog      = "dialog"
	EntityInteraction = "interaction"
	EntityVariable    = "variable"
	EntityFeedback    = "feedback"
	EntityVisit       = "visit"
	EntityUpload      = "upload" // a file a visitor sent; its content travels with the change
	EntityClient      = "client" // OpDelete: a GDPR erasure of one client's dialogs
	EntityAccount     = "account"
	EntityServer      = "server" // role changes such as a promotion
)

// FeedClass splits the feed in two streams, each pulled with its own cursor and schedule:
// knowledge and configuration change rarely and may be copied weekly as the seeds do, while
// dialogs are copied continuously. Sequence numbers are shared, so each stream stays ordered.
type FeedClass string

// The feed classes.
const (
	ClassKnowledge FeedClass = "knowledge" // bots, knowledge, groups, sentences, accounts, server role
	ClassDialogs   FeedClass = "dialogs"   // dialogs, interactions, variables, feedback, visits, uploads, erasures
)

// FeedClasses lists the classes in the order a new peer should pull them (bots first).
var FeedClasses = []FeedClass{ClassKnowledge, ClassDialogs}

// ClassOf returns the class of an entity.
func ClassOf(entity string) FeedClass {
	switch entity {
	case EntityBot, EntityKnowledge, EntityGroup, EntitySentence, EntityAccount, EntityServer:
		return ClassKnowledge
	}
	return ClassDialogs
}

// ClientErasure is the payload of an EntityClient delete: every dialog of the client that
// started before Before is erased, on every server, including dialogs still in flight.
type ClientErasure struct {
	BotID    string    `json:"botId"`
	ClientID string    `json:"clientId"`
	Before   time.Time `json:"before"`
}

// Variable is the payload of an EntityVariable put: one dialog variable.
type Variable struct {
	DialogID string `json:"dialogId"`
	Name     string `json:"name"`
	Value    string `json:"value"`
}

// BotItem is the payload of knowledge-side changes: an item (Knowledge, MatchingGroup,
// Sentence) and the bot it belongs to. It is part of the peer protocol: a main on one store
// and a backup on another read each other's feed.
type BotItem[T any] struct {
	BotID string `json:"botId"`
	Item  T      `json:"item"`
}
