package bascule

import "time"

// Answer types, as the dydu chatbox knows them (typeResponse on the wire).
const (
	TypeUnderstood           = "DMUnderstoodQuestion"
	TypeWelcome              = "DMWelcome"
	TypeReword               = "RWReword"
	TypeMisunderstood        = "GBMisunderstoodQuestion"
	TypeTooManyMisunderstood = "GBTooManyMisunderstoodQuestion"
	TypeTooLong              = "GBTooLongSentence"
	TypeEmpty                = "GBEmptySentence"
	TypeOperator             = "OPRegularOperatorAnswer"
	TypeLivechatStarted      = "DMLiveChatConnectionSucceed"
	TypeLivechatEnded        = "NAAutoCloseDialog"
)

// Dialog is one conversation of a visitor with a bot, identified by its context id.
// A dialog is created once and never changes identity; its activity is derived from its
// interactions, so two servers adding interactions to the same dialog never conflict.
type Dialog struct {
	ID        string `json:"id"` // the context id, see NewID
	BotID     string `json:"botId"`
	ClientID  string `json:"clientId,omitempty"` // the chatbox's browser id; not secret
	Language  string `json:"language"`
	Space     string `json:"space"`
	Origin    string `json:"origin"`              // id of the server where the dialog started
	Continues string `json:"continues,omitempty"` // id of the dialog this one carries on after a switch-over
	// ContinuesVia says how Continues was found: LinkContext when the visitor presented that
	// dialog's context (proof it is theirs: its history is shown with this one), LinkClient
	// when only the client id matched (counted as one conversation, history kept apart).
	ContinuesVia string    `json:"continuesVia,omitempty"`
	StartedAt    time.Time `json:"startedAt"`
	LastAt       time.Time `json:"lastAt"` // time of the last interaction (max over servers)
	// Host is the server that answered the dialog's last question (its origin before any): a
	// dialog stays on the server where it runs until it ends.
	Host      string            `json:"host,omitempty"`
	UserURL   string            `json:"userUrl,omitempty"`
	Browser   string            `json:"browser,omitempty"`
	OS        string            `json:"os,omitempty"`
	Variables map[string]string `json:"variables,omitempty"`
}

// How a continued dialog was linked to the one it carries on.
const (
	LinkContext = "context"
	LinkClient  = "client"
)

// Live reports whether the dialog is still open at now: dialogs are archived after idle
// without activity (10 minutes by default, as dydu does).
func (d *Dialog) Live(now time.Time, idle time.Duration) bool {
	return now.Sub(d.LastAt) < idle
}

// Interaction is one question and its answer. Its id is random, so the union of the
// interactions of two servers never holds one twice. N orders a dialog's interactions
// regardless of the servers' clocks: each server appends after the highest N it knows.
type Interaction struct {
	ID          string    `json:"id"`
	DialogID    string    `json:"dialogId"`
	BotID       string    `json:"botId"`
	N           int       `json:"n"`
	At          time.Time `json:"at"`
	Server      string    `json:"server"` // id of the server that answered
	Question    string    `json:"question"`
	Answer      string    `json:"answer"`
	Type        string    `json:"type"`
	KnowledgeID int64     `json:"knowledgeId,omitempty"`
	Score       float64   `json:"score,omitempty"`
	Language    string    `json:"language,omitempty"`
	Space       string    `json:"space,omitempty"`
	// From says who wrote Answer: "" for the bot, "operator:<login>" for a human operator,
	// "visitor" for a visitor message sent during a livechat with no answer.
	From string `json:"from,omitempty"`
}

// Feedback kinds (dydu's chat/feedback, insatisfaction and comment).
const (
	FeedbackVote    = "vote"    // Value: positive, negative or withoutAnswer
	FeedbackChoice  = "choice"  // Value: the index of the dissatisfaction reason
	FeedbackComment = "comment" // Value: free text
)

// Feedback is a visitor's judgement of an answer.
type Feedback struct {
	ID            string    `json:"id"`
	DialogID      string    `json:"dialogId"`
	InteractionID string    `json:"interactionId,omitempty"` // the answer judged (the last one when sent)
	Kind          string    `json:"kind"`
	Value         string    `json:"value"`
	At            time.Time `json:"at"`
}

// Visit is a page view of a site that embeds the chatbox (dydu's welcomecall).
type Visit struct {
	ID       string    `json:"id"`
	BotID    string    `json:"botId"`
	ClientID string    `json:"clientId,omitempty"`
	Language string    `json:"language,omitempty"`
	Space    string    `json:"space,omitempty"`
	At       time.Time `json:"at"`
	Server   string    `json:"server"`
}

// KnowledgeCount is one line of the top-knowledge ranking.
type KnowledgeCount struct {
	KnowledgeID int64
	Count       int
}

// DialogFilter selects dialogs for the admin API and analytics.
type DialogFilter struct {
	BotID string
	From  time.Time // inclusive, on StartedAt
	To    time.Time // exclusive; zero means now
	After string    // pagination: dialogs after this id in the listing order
	Limit int
}
