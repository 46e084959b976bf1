package outbound_test

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/outbound"
	"github.com/bascule/bascule/sqlite"
)

// How a server wires the proxy settings: load at start (refuse to start on a bad file), follow
// the file, reload on SIGHUP, and give the engine web services whose client uses the watcher's
// transport. The engine calls them for knowledge answers that name a web service, and renders
// the JSON they answer into the answer.
func Example() {
	ctx := context.Background()
	path, err := outbound.DefaultPath() // or the path bascule.yml names (outbound.options)
	if err != nil {
		slog.Error("proxy settings", "err", err)
		os.Exit(1)
	}
	proxies, err := outbound.Load(path, slog.Default())
	if err != nil {
		slog.Error("proxy settings", "err", err) // every problem, one per line
		os.Exit(1)
	}
	go proxies.Watch(ctx, 0)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			_ = proxies.Reload() // a refused file is logged and shown in Status
		}
	}()

	store, err := sqlite.Open(ctx, "data", sqlite.Options{})
	if err != nil {
		slog.Error("database", "err", err)
		os.Exit(1)
	}
	defer store.Close()
	_ = engine.New(store, engine.Options{WebServices: outbound.NewWebServices(outbound.NewClient(proxies))})
}
