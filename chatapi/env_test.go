package chatapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/chatapi"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/kb"
)

// logBuffer collects a logger's lines, safe for concurrent handlers.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// withEngine replaces the environment's engine by one with opt (over the same store and clock).
func withEngine(logs *logBuffer, opt engine.Options) func(*chatapi.Options) {
	return func(o *chatapi.Options) {
		opt.Now, opt.Log = o.Now, slog.New(slog.NewTextHandler(logs, nil))
		o.Engine, o.Log = engine.New(o.Engine.Store(), opt), opt.Log
	}
}

// setBot changes the sample bot's settings as the admin API would.
func (e *env) setBot(change func(*bascule.BotSettings)) {
	e.t.Helper()
	b, err := e.store.Bot(context.Background(), bot)
	if err != nil {
		e.t.Fatal(err)
	}
	change(&b.Settings)
	if err := (&kb.Service{Store: e.store}).PutBot(context.Background(), b); err != nil {
		e.t.Fatal(err)
	}
}
