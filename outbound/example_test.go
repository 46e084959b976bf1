package outbound_test

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/outbound"
)

// How a server wires the proxy settings: load at start (refuse to start on a bad file), follow
// the file, reload on SIGHUP, and give every outbound client the watcher's transport.
func Example() {
	ctx := context.Background()
	path, err := outbound.DefaultPath() // or the path bascule.yml names
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

	services := outbound.NewWebServices(outbound.NewClient(proxies))
	ws := bascule.WebService{Name: "weather", URL: "https://api.example.com/weather/{{.city}}",
		Fallback: "<p>The weather service does not answer.</p>"}
	vars := map[string]string{"city": "Lyon"}
	answer := ws.Fallback
	if resp, err := services.Call(ctx, ws, vars); err == nil {
		if html, err := outbound.RenderAnswer("<p>{{.response.temperature}} °C in {{.vars.city}}</p>", vars, resp); err == nil {
			answer = html
		}
	}
	_ = answer
}
