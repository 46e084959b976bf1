package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/admin"
	"github.com/bascule/bascule/bus"
	"github.com/bascule/bascule/chatapi"
	"github.com/bascule/bascule/clamav"
	"github.com/bascule/bascule/config"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/internal/httpx"
	"github.com/bascule/bascule/internal/sqlstore"
	"github.com/bascule/bascule/kb"
	"github.com/bascule/bascule/livechat"
	"github.com/bascule/bascule/livechat/desk"
	"github.com/bascule/bascule/outbound"
	"github.com/bascule/bascule/pair"
	"github.com/bascule/bascule/postgres"
	"github.com/bascule/bascule/ratelimit"
	"github.com/bascule/bascule/samplebot"
	"github.com/bascule/bascule/sqlite"
	"github.com/bascule/bascule/web"
)

// server is one running Bascule server: everything wired from a configuration. Only this
// package wires components together.
type server struct {
	cfg     *config.Config
	log     *slog.Logger
	store   bascule.Store
	engine  *engine.Engine
	kb      *kb.Service
	node    *pair.Node
	bus     bascule.Bus
	live    *livechat.Service
	status  *chatapi.Status
	handler http.Handler
	// peer is the peer API (main and backup only), served on its own TLS listener.
	peer    http.Handler
	peerTLS *tls.Config
	extras  extras
	// stopDumps stops the dump schedule (nil without one); it returns once a dump in progress
	// was abandoned, so the store can be closed after it.
	stopDumps func()
	// proxies are the options.env settings every outbound call goes through.
	proxies   *outbound.Watcher
	antivirus *clamav.Client // nil when antivirus.addr is empty
}

// newLogger builds the logger a configuration asks for. Visitor input only ever goes into
// attributes, which the handlers quote and escape.
func newLogger(c config.Log, w *os.File) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func openStore(ctx context.Context, c *config.Config) (bascule.Store, error) {
	switch c.Data.Driver {
	case "sqlite":
		return sqlite.Open(ctx, c.Data.Dir, sqlite.Options{Sync: c.Data.Sync})
	case "postgres":
		return postgres.Open(ctx, c.Data.DSN, postgres.Options{MaxConns: c.Data.MaxConns, MaxIdleConns: c.Data.MaxIdleConns,
			ConnMaxLifetime: c.Data.ConnMaxLifetime.D(), ConnMaxIdleTime: c.Data.ConnMaxIdleTime.D(), ConnectTimeout: c.Data.ConnectTimeout.D()})
	}
	return nil, fmt.Errorf("data.driver %q is not supported by this build", c.Data.Driver)
}

// sqlStore returns the SQL store under st, which dumps read.
func sqlStore(st bascule.Store) (*sqlstore.Store, bool) {
	switch s := st.(type) {
	case *sqlstore.Store:
		return s, true
	case *postgres.Store:
		return s.Store, true
	}
	return nil, false
}

// extras are what a command adds to a server: the demo names the pair's servers on its page
// and mounts its switch controls.
type extras struct {
	web   web.Options
	mount func(*http.ServeMux)
}

// newServer opens the store and wires the server. Close it with close.
func newServer(ctx context.Context, cfg *config.Config, log *slog.Logger, x extras) (*server, error) {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, log: log, store: st, extras: x}
	if err := s.wire(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

func (s *server) wire(ctx context.Context) error {
	cfg := s.cfg
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerStoreMetrics(reg, s.store)
	s.bus = bus.NewMemory()
	if pg, ok := s.store.(*postgres.Store); ok {
		s.bus = pg.Bus() // livechat events reach the desks and chatboxes of every node
	}
	if err := s.wirePair(ctx, reg); err != nil {
		return err
	}
	uploads, err := s.wireOutbound()
	if err != nil {
		return err
	}
	s.engine = engine.New(s.store, engine.Options{Idle: cfg.Dialogs.Idle.D(), MaxInput: cfg.Dialogs.MaxInput, Forward: s.node,
		WebServices: outbound.NewWebServices(outbound.NewClient(s.proxies)), Uploads: uploads, Log: s.log})
	pv := pairView{node: s.node, self: cfg.Server.PublicURL}
	lc := cfg.Livechat
	s.live = livechat.New(livechat.Options{Store: s.store, Engine: s.engine, Bus: s.bus, Pair: pv, Log: s.log,
		OperatorGrace: lc.OperatorGrace.D(), VisitorGrace: lc.VisitorGrace.D(), Idle: cfg.Dialogs.Idle.D(),
		SessionIdle: lc.SessionIdle.D(), SessionMaxAge: lc.SessionMaxAge.D(), Logins: ratelimit.New(lc.Logins.Rate, lc.Logins.Burst)})
	s.engine.SetLivechat(s.live)
	s.kb = &kb.Service{Store: s.store, Writable: s.node.Writable}
	if role := s.node.Role(); cfg.Bots.Sample && role != config.RoleBackup {
		if err := s.seedSample(ctx); err != nil {
			return fmt.Errorf("load the sample bot: %w", err)
		}
	}
	if s.peerTLS != nil {
		s.peer = s.node.Handler(s.engine)
	}
	proxies, err := httpx.ParseProxies(cfg.Server.TrustedProxies)
	if err != nil {
		return err
	}

	s.status = &chatapi.Status{ServerID: s.store.ServerID(), Role: s.node.Role, DataDir: cfg.Data.Dir}
	s.status.AddCheck("database", true, func(ctx context.Context) error {
		_, err := s.store.LastSeq(ctx)
		return err
	})
	s.status.AddCheck("pair", true, s.node.Ready)
	s.status.AddSection("replication", s.node.Status)
	s.status.AddSection("proxy", func(context.Context) any { return s.proxies.Status() })
	if s.antivirus != nil {
		// Not critical: without the antivirus the bot still answers; only files are refused.
		s.status.AddCheck("antivirus", false, s.antivirus.Ping)
	}
	api := chatapi.New(chatapi.Options{
		Engine: s.engine, Livechat: s.live, Log: s.log, MaxBody: int64(cfg.Limits.MaxBody), Proxies: proxies, Registerer: reg, Status: s.status,
		PerClient: s.limiter("client", cfg.Limits.PerClient),
		PerBot:    s.limiter("bot", cfg.Limits.PerBot),
	})
	mux := http.NewServeMux()
	for _, p := range chatapi.Paths() {
		mux.Handle(p, api)
	}
	if len(cfg.Admin.Tokens) > 0 {
		tokens := map[string]string{}
		for _, t := range cfg.Admin.Tokens {
			tokens[t.Token] = t.Name
		}
		mux.Handle(admin.Prefix, admin.New(admin.Options{KB: s.kb, Tokens: tokens, Log: s.log,
			Accounts: &livechat.Accounts{Store: s.store, Writable: s.node.Writable}}))
	}
	script, style := web.DeskAssets()
	dh := desk.New(desk.Options{Livechat: s.live, Pair: pv, Script: script, Style: style, Proxies: proxies, Log: s.log})
	for _, p := range []string{desk.PagePath, desk.APIPrefix, desk.LegacyPath, desk.LegacyPath + "/"} {
		mux.Handle(p, dh)
	}
	mux.HandleFunc("/healthz", chatapi.Healthz)
	mux.HandleFunc("/readyz", s.status.Readyz)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", web.New(s.extras.web))
	if s.extras.mount != nil {
		s.extras.mount(mux)
	}
	s.handler = httpx.Recover(s.log, mux)
	return s.wireDumps(reg) // last: it starts the schedule, and nothing may fail after it
}

// limiter returns a rate limit of the chat API. Nodes sharing a PostgreSQL database share
// their buckets: behind a load balancer they must allow together what one server would.
func (s *server) limiter(name string, r config.Rate) ratelimit.Limiter {
	if pg, ok := s.store.(*postgres.Store); ok {
		return pg.Limiter(name, r.Rate, r.Burst)
	}
	return ratelimit.New(r.Rate, r.Burst)
}

// registerStoreMetrics exports the store writer's counters: how many commits, how many writes
// they carried (their ratio is the group commit's batch size), and the time spent committing.
func registerStoreMetrics(reg prometheus.Registerer, st bascule.Store) {
	s, ok := st.(interface{ Stats() sqlstore.Stats })
	if !ok {
		return
	}
	counter := func(name, help string, v func(sqlstore.Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return v(s.Stats()) })
	}
	reg.MustRegister(
		counter("bascule_store_commits_total", "Transactions committed by the store's writer.", func(x sqlstore.Stats) float64 { return float64(x.Batches) }),
		counter("bascule_store_writes_total", "Writes those transactions carried (group commit).", func(x sqlstore.Stats) float64 { return float64(x.Writes) }),
		counter("bascule_store_busy_seconds_total", "Time the writer spent running transactions.", func(x sqlstore.Stats) float64 { return x.Busy.Seconds() }),
		counter("bascule_store_commit_seconds_total", "Time the writer spent committing.", func(x sqlstore.Stats) float64 { return x.Commit.Seconds() }),
		counter("bascule_store_syncs_total", "Syncs of the log that made committed batches durable.", func(x sqlstore.Stats) float64 { return float64(x.Syncs) }),
		counter("bascule_store_sync_seconds_total", "Time spent in those syncs.", func(x sqlstore.Stats) float64 { return x.Sync.Seconds() }))
}

// wirePair prepares the server's side of the pair: its role, and for a main or a backup the
// TLS material of the peer API and the client that pulls the peer.
func (s *server) wirePair(ctx context.Context, reg prometheus.Registerer) error {
	cfg := s.cfg
	// The pair applies the peer's changes through the livechat's observer: chatboxes and desks
	// here hear at once of what happened on the other server.
	opt := pair.Options{Store: livechat.ObserveReplication(s.store, s.bus), Role: cfg.Server.Role, PublicURL: cfg.Server.PublicURL, Log: s.log, Registerer: reg, Secret: cfg.Peer.Secret,
		Wait: cfg.Peer.Wait.D(), Timeout: cfg.Peer.Timeout.D(),
		Every: map[bascule.FeedClass]time.Duration{bascule.ClassKnowledge: cfg.Peer.Every.Knowledge.D(), bascule.ClassDialogs: cfg.Peer.Every.Dialogs.D()}}
	if cfg.Paired() {
		files := pair.TLSFiles{Cert: cfg.Peer.TLS.Cert, Key: cfg.Peer.TLS.Key, CA: cfg.Peer.TLS.CA}
		var err error
		if s.peerTLS, err = pair.ServerTLS(files); err != nil {
			return err
		}
		ctls, err := pair.ClientTLS(files)
		if err != nil {
			return err
		}
		opt.PeerURL, opt.Client = cfg.Peer.URL, pair.Client(ctls)
	}
	var err error
	s.node, err = pair.New(ctx, opt)
	return err
}

// seedSample loads the bundled sample bot unless the database already holds it.
func (s *server) seedSample(ctx context.Context) error {
	_, err := s.store.Bot(ctx, bascule.SampleBotID)
	if err == nil || !errors.Is(err, bascule.ErrNotFound) {
		return err
	}
	_, err = s.kb.Import(ctx, samplebot.KnowledgeBase())
	return err
}

// serve accepts requests on l (and the peer API on peerL, for a main or a backup) until ctx
// ends, then shuts down gracefully: in-flight requests finish (within
// server.shutdown_timeout), then the database is closed cleanly by the caller.
func (s *server) serve(ctx context.Context, l, peerL net.Listener) error {
	if s.cfg.Server.TLS.Enabled() {
		cert, err := tls.LoadX509KeyPair(s.cfg.Server.TLS.Cert, s.cfg.Server.TLS.Key)
		if err != nil {
			return fmt.Errorf("server.tls: %w", err)
		}
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	fresh := &freshConns{m: map[net.Conn]struct{}{}}
	servers := []*http.Server{s.httpServer(s.handler, fresh)}
	listeners := []net.Listener{l}
	if peerL != nil {
		servers = append(servers, s.httpServer(s.peer, fresh))
		listeners = append(listeners, tls.NewListener(peerL, s.peerTLS))
	}
	runCtx, stopPair := context.WithCancel(ctx)
	defer stopPair()
	pairDone := make(chan struct{})
	go func() { defer close(pairDone); s.node.Run(runCtx) }()
	// SIGHUP is caught before the server answers anything: its default action ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go s.followOptions(runCtx, hup)
	liveDone := make(chan struct{})
	go func() { defer close(liveDone); s.live.Run(runCtx) }()
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() { errc <- hs.Serve(listeners[i]) }()
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout.D())
	defer cancel()
	s.log.Info("shutting down: finishing requests in flight")
	var wg sync.WaitGroup
	for _, hs := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if serr := hs.Shutdown(sctx); serr != nil {
				s.log.Warn("shutdown timed out; closing remaining connections", "err", serr)
				hs.Close()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for tick := time.NewTicker(100 * time.Millisecond); ; {
		fresh.closeAll() // again on each tick: one may have been accepted as the listener closed
		select {
		case <-tick.C:
			continue
		case <-done:
			tick.Stop()
		}
		break
	}
	stopPair()
	<-pairDone
	<-liveDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (s *server) httpServer(h http.Handler, fresh *freshConns) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ConnState: fresh.track}
}

// freshConns are connections opened but not used yet. Browsers open some ahead of need;
// http.Server.Shutdown waits up to 5 s before treating them as idle, which keeps a stopping
// server's port busy. They carry nothing in flight, so shutdown closes them at once: a request
// that would have come on one goes to the other server of the pair.
type freshConns struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

func (f *freshConns) track(c net.Conn, st http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st == http.StateNew {
		f.m[c] = struct{}{}
	} else {
		delete(f.m, c)
	}
}

func (f *freshConns) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.m {
		c.Close()
	}
	clear(f.m)
}

func (s *server) close() error {
	if s.stopDumps != nil {
		s.stopDumps()
	}
	return s.store.Close()
}

// gcPercent is the garbage collector's setting for a server: its live heap is small (tens of
// megabytes), so collecting four times less often than Go's default costs little memory and
// saves CPU on every answer. GOGC in the environment still decides when it is set.
const gcPercent = 400

// pairView is what the livechat knows of the pair: where desks reach each server, whether the
// peer answers, and whether desks belong on the peer (this is the backup, and the main is
// back: new visitors go to the main, so must operators).
type pairView struct {
	node *pair.Node
	self string
}

func (p pairView) SelfURL() string { return p.self }
func (p pairView) PeerURL() string { return p.node.PeerPublicURL() }

func (p pairView) PeerReachable() bool {
	st, _ := p.node.Status(context.Background()).(pair.Status)
	return st.Peer != nil && st.Peer.Reachable
}

func (p pairView) PreferPeer() bool {
	return p.node.Role() == pair.RoleBackup && p.node.PeerState().Role == pair.RoleMain && p.PeerReachable()
}

// listenAndServe runs a configured server until ctx ends.
func listenAndServe(ctx context.Context, cfg *config.Config, log *slog.Logger, x extras, ready func(addr string)) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	srv, err := newServer(ctx, cfg, log, x)
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.close(); err != nil {
			log.Error("closing the database", "err", err)
		}
	}()
	l, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return err
	}
	var peerL net.Listener
	if srv.peer != nil {
		if peerL, err = net.Listen("tcp", cfg.Peer.Listen); err != nil {
			l.Close()
			return fmt.Errorf("peer.listen: %w", err)
		}
	}
	log.Info("serving", "addr", l.Addr().String(), "role", srv.node.Role(), "server", srv.store.ServerID(), "data", cfg.Data.Dir, "version", bascule.Version)
	if ready != nil {
		ready(l.Addr().String())
	}
	return srv.serve(ctx, l, peerL)
}
