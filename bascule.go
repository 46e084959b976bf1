// Package bascule holds the domain of the Bascule chatbot server: bots and their knowledge,
// dialogs and interactions, the change feed that replicates them between a main and a backup
// server, the errors the product reports, and the Store interface every storage engine
// implements. Implementations live in packages named after their dependency (sqlite, postgres);
// only cmd/bascule wires them together.
package bascule

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Version is the product version, overridden at build time with
// -ldflags "-X github.com/bascule/bascule.Version=1.2.3".
var Version = "0.1.0-dev"

// SampleBotID is the id of the sample bot bundled in the binary.
const SampleBotID = "ba5c0000-0000-4000-8000-000000000001"

// DefaultSpace is dydu's name for the default space of a bot.
const DefaultSpace = "Defaut"

// NewID returns a random 128-bit identifier as 32 lowercase hex characters. Context ids,
// interaction ids and server ids use it: they must be unguessable and unique across servers
// without coordination.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("bascule: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// NewOrderedID returns a 128-bit identifier whose first 48 bits are the time in milliseconds
// and the other 80 random. Interactions, feedback and visits use it: ids made one after the
// other sort together, so the database appends to its indexes instead of writing a random
// page per insert. Context ids stay fully random (NewID): they must not reveal anything.
func NewOrderedID(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	if _, err := rand.Read(b[6:]); err != nil {
		panic("bascule: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// IsID reports whether s has the shape of an id made by NewID. Anything else sent by a client
// as a context id is treated as unknown without touching the database.
func IsID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Millis converts a time to the millisecond epoch used on the wire and in storage.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// FromMillis converts a millisecond epoch back to a UTC time.
func FromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
