// Package bus is the in-memory bascule.Bus of a server that runs as one process.
package bus

import (
	"context"
	"sync"

	"github.com/bascule/bascule"
)

// Memory is a bascule.Bus within one process.
type Memory struct {
	mu   sync.Mutex
	subs map[string]map[*sub]struct{}
}

type sub struct{ ch chan []byte }

// buffer is how many events a subscriber may lag behind before events to it are dropped: a
// slow desk or chatbox must not hold up the others (it looks again when it catches up).
const buffer = 64

var _ bascule.Bus = (*Memory)(nil)

// NewMemory returns an empty bus.
func NewMemory() *Memory { return &Memory{subs: map[string]map[*sub]struct{}{}} }

// Publish implements bascule.Bus.
func (m *Memory) Publish(_ context.Context, topic string, payload []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for s := range m.subs[topic] {
		select {
		case s.ch <- payload:
		default: // the subscriber is behind: drop, it will look again
		}
	}
	return nil
}

// Subscribe implements bascule.Bus.
func (m *Memory) Subscribe(topic string) (<-chan []byte, func()) {
	s := &sub{ch: make(chan []byte, buffer)}
	m.mu.Lock()
	if m.subs[topic] == nil {
		m.subs[topic] = map[*sub]struct{}{}
	}
	m.subs[topic][s] = struct{}{}
	m.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			m.mu.Lock()
			delete(m.subs[topic], s)
			if len(m.subs[topic]) == 0 {
				delete(m.subs, topic)
			}
			m.mu.Unlock()
		})
	}
}
