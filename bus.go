package bascule

import "context"

// Bus carries the events every node of a server must see at once: livechat messages, typing,
// operator presence. In one process it is memory (package bus); several nodes sharing one
// PostgreSQL database use LISTEN/NOTIFY. Events are not durable and may be dropped for a
// subscriber that does not keep up: what must survive is written to the store first, and an
// event only says "look again".
type Bus interface {
	// Publish sends payload to every subscriber of topic, on every node.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe returns the events of topic from now on, until cancel.
	Subscribe(topic string) (events <-chan []byte, cancel func())
}
