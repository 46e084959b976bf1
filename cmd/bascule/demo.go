package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/bascule/bascule/config"
	"github.com/bascule/bascule/pair"
	"github.com/bascule/bascule/web"
)

// runDemo is "bascule demo": the newcomer's command. It runs a main and a backup with the
// sample bot (in this one process, with a throwaway certificate authority for the peer API),
// and a demo shop whose chatbox uses both; the page has buttons to stop and restart the main
// and watch the switch.
func runDemo(ctx context.Context, args []string, s *stdio) error {
	fs := newFlags("demo", "[-main ADDR] [-backup ADDR] [-data DIR]", s)
	mainAddr := fs.String("main", "127.0.0.1:8080", "address of the main server")
	backupAddr := fs.String("backup", "127.0.0.1:8081", "address of the backup server")
	data := fs.String("data", "", "directory for both servers' data (default: a new temporary directory)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" {
		dir, err := os.MkdirTemp("", "bascule-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*data = dir
	}
	host, _, err := net.SplitHostPort(*mainAddr)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("-main: %v", err)}
	}
	files, err := pair.ThrowawayCA(filepath.Join(*data, "ca"), host, "127.0.0.1", "localhost")
	if err != nil {
		return err
	}
	mainPeer, err := freeAddr(host)
	if err != nil {
		return err
	}
	backupPeer, err := freeAddr(host)
	if err != nil {
		return err
	}
	urls := []string{"http://" + *mainAddr, "http://" + *backupAddr}
	conf := func(role, listen, dir, peerListen, peerAddr string) *config.Config {
		c := config.Default()
		c.Server.Role, c.Server.Listen, c.Data.Dir = role, listen, filepath.Join(*data, dir)
		c.Server.PublicURL = "http://" + listen
		c.Peer.URL, c.Peer.Listen = "https://"+peerAddr, peerListen
		c.Peer.TLS.Cert, c.Peer.TLS.Key, c.Peer.TLS.CA = files.Cert, files.Key, files.CA
		c.Log.Level = "warn"
		return c
	}
	mainCfg := conf(config.RoleMain, *mainAddr, "main", mainPeer, backupPeer)
	backupCfg := conf(config.RoleBackup, *backupAddr, "backup", backupPeer, mainPeer)
	for _, c := range []*config.Config{mainCfg, backupCfg} {
		if err := c.Validate(); err != nil {
			return err
		}
	}
	log := newLogger(mainCfg.Log, os.Stderr)
	page := web.Options{Servers: urls, Controls: urls[1]}
	main := &demoServer{name: "main", cfg: mainCfg, log: log.With("server", "main"), x: extras{web: page}}
	backup := &demoServer{name: "backup", cfg: backupCfg, log: log.With("server", "backup"),
		x: extras{web: page, mount: main.controls}}
	if err := main.start(ctx); err != nil {
		return err
	}
	if err := backup.start(ctx); err != nil {
		main.stop()
		return err
	}
	fmt.Fprintf(s.out, "Bascule demo: open %s/ (the shop; its chatbox uses both servers)\n", urls[0])
	fmt.Fprintf(s.out, "  main   %s   backup %s   (data in %s)\n", urls[0], urls[1], *data)
	fmt.Fprintf(s.out, "  Stop and restart the main from the page (\"Watch the switch\") and keep asking: the backup answers.\n")
	fmt.Fprintf(s.out, "  Ctrl-C stops both.\n")
	<-ctx.Done()
	main.stop()
	backup.stop()
	return nil
}

// demoServer is one server of the demo pair, which the page can stop and start.
type demoServer struct {
	name string
	cfg  *config.Config
	log  *slog.Logger
	x    extras

	mu     sync.Mutex
	parent context.Context // the demo's: Ctrl-C stops a server restarted from the page too
	cancel context.CancelFunc
	done   chan error
}

// start runs the server until stop (or ctx ends) and returns once it listens.
func (d *demoServer) start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil {
		return nil
	}
	if d.parent == nil {
		d.parent = ctx
	}
	sctx, cancel := context.WithCancel(d.parent)
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- listenAndServe(sctx, d.cfg, d.log, d.x, func(string) { close(ready) })
	}()
	select {
	case <-ready:
		d.cancel, d.done = cancel, done
		return nil
	case err := <-done:
		cancel()
		return fmt.Errorf("%s: %w", d.name, err)
	}
}

// stop shuts the server down gracefully, as an operator's systemctl stop would.
func (d *demoServer) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel == nil {
		return
	}
	d.cancel()
	if err := <-d.done; err != nil && !errors.Is(err, context.Canceled) {
		d.log.Error("stopped with an error", "err", err)
	}
	d.cancel, d.done = nil, nil
}

// controls mounts the page's buttons on the other server: it stays up while this one stops.
func (d *demoServer) controls(mux *http.ServeMux) {
	for verb, act := range map[string]func(){
		"stop": d.stop,
		"start": func() {
			if err := d.start(nil); err != nil {
				d.log.Error("restart", "err", err)
			}
		},
	} {
		mux.HandleFunc("POST /demo/"+d.name+"/"+verb, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Access-Control-Allow-Origin", "*")
			act()
			w.WriteHeader(http.StatusNoContent)
		})
	}
}

// freeAddr returns host:port for a port that was free a moment ago.
func freeAddr(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
