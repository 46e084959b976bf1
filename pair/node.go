package pair

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/internal/clock"
)

// Options configure a Node.
type Options struct {
	Store bascule.Store
	// Role is the configured role: main, backup or standalone.
	Role string
	// PublicURL is how visitors and operators reach this server; the peer learns it.
	PublicURL string
	// PeerURL is the other server's peer listener (https://...); empty for standalone.
	PeerURL string
	// Client reaches the peer: its TLS configuration carries this server's certificate and
	// the CA that signed the peer's (see ClientTLS).
	Client *http.Client
	Secret string
	// Wait is the long-poll duration of a pull.
	Wait time.Duration
	// Every is how often each stream is pulled (0: continuously).
	Every map[bascule.FeedClass]time.Duration
	// Timeout bounds a forwarded question.
	Timeout    time.Duration
	Log        *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Node is this server's side of the pair.
type Node struct {
	opt    Options
	client *client

	mu      sync.Mutex
	state   State
	peer    peerView
	streams map[bascule.FeedClass]*streamView

	metrics *metrics
}

// peerView is what this server knows of the other.
type peerView struct {
	state       State
	known       bool
	reachable   bool
	lastContact time.Time
	lastError   string
	clockSkew   time.Duration // peer clock minus ours, at the last contact
}

// streamView is the replication state of one stream pulled from the peer.
type streamView struct {
	cursor     int64
	peerLast   int64
	lag        time.Duration
	lastApply  time.Time
	lastError  string
	applied    int64
	schedule   time.Duration
	nextPullAt time.Time
}

// New loads the server's state and prepares the pair (nothing runs before Run).
func New(ctx context.Context, opt Options) (*Node, error) {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Wait <= 0 {
		opt.Wait = 20 * time.Second
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 2 * time.Second
	}
	st, err := LoadState(ctx, opt.Store, opt.Role, opt.PublicURL)
	if err != nil {
		return nil, err
	}
	n := &Node{opt: opt, state: st, streams: map[bascule.FeedClass]*streamView{}, metrics: newMetrics(opt.Registerer)}
	for _, c := range bascule.FeedClasses {
		n.streams[c] = &streamView{schedule: opt.Every[c]}
	}
	if raw, err := opt.Store.Meta(ctx, peerStateKey); err == nil && raw != "" {
		json.Unmarshal([]byte(raw), &n.peer.state)
	}
	if opt.PeerURL != "" {
		if opt.Client == nil {
			return nil, errors.New("pair: a peer URL needs a TLS client")
		}
		n.client = &client{base: opt.PeerURL, secret: opt.Secret, http: opt.Client}
	}
	if st.Promoted && st.Role != opt.Role {
		opt.Log.Warn("this server was promoted to main; its configuration still says "+opt.Role+": update server.role", "epoch", st.Epoch)
	}
	if st.ReplacedBy != "" {
		opt.Log.Error("this server was replaced as main: it serves as a backup until promoted again", "by", st.ReplacedBy)
	}
	n.metrics.role.WithLabelValues(st.Role).Set(1)
	return n, nil
}

// State returns this server's state.
func (n *Node) State() State {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state
}

// PeerPublicURL returns how visitors and operators reach the other server ("" when unknown).
func (n *Node) PeerPublicURL() string { return n.PeerState().PublicURL }

// Role returns the role this server acts in now.
func (n *Node) Role() string { return n.State().Role }

// Writable implements kb.Service's rule: knowledge and configuration are edited on the main
// only (or on a standalone server).
func (n *Node) Writable() error {
	s := n.State()
	if s.Role == RoleMain || s.Role == RoleStandalone {
		return nil
	}
	if s.ReplacedBy != "" {
		return bascule.Errorf(bascule.CodeReadOnly, "this server was replaced as main by server %s: edit knowledge and configuration there (%s)", s.ReplacedBy, n.opt.PeerURL)
	}
	return bascule.Errorf(bascule.CodeReadOnly, "this server is the backup: edit knowledge and configuration on the main (%s)", n.opt.PeerURL)
}

// Ready reports a problem that should turn chatboxes away from this server: a replaced main
// answers serverstatus with 503 so that visitors go to the new main.
func (n *Node) Ready(context.Context) error {
	if s := n.State(); s.ReplacedBy != "" {
		return fmt.Errorf("replaced as main by server %s (epoch %d)", s.ReplacedBy, n.PeerState().Epoch)
	}
	return nil
}

// PeerState returns the last state learned from the peer.
func (n *Node) PeerState() State {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peer.state
}

// Run pulls the peer's streams until ctx ends. A standalone server has nothing to run.
func (n *Node) Run(ctx context.Context) {
	if n.client == nil {
		return
	}
	var wg sync.WaitGroup
	for _, c := range bascule.FeedClasses {
		wg.Add(1)
		go func() { defer wg.Done(); n.pull(ctx, c) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); n.watchState(ctx) }()
	wg.Wait()
}

// watchState re-reads this server's state (a "bascule promote" run beside it changes it) and
// asks the peer for its own when the streams have not talked to it for a while.
func (n *Node) watchState(ctx context.Context) {
	clock.Every(ctx, time.Second, func() {
		if raw, err := n.opt.Store.Meta(ctx, stateKey); err == nil && raw != "" {
			var s State
			if json.Unmarshal([]byte(raw), &s) == nil {
				n.setState(s)
			}
		}
		n.mu.Lock()
		stale := n.opt.Now().Sub(n.peer.lastContact) > 5*time.Second
		n.mu.Unlock()
		if stale {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			resp, err := n.client.state(cctx)
			cancel()
			n.contact(ctx, resp, err)
		}
	})
}

func (n *Node) setState(s State) {
	n.mu.Lock()
	old := n.state
	n.state = s
	n.mu.Unlock()
	if old.Role != s.Role || old.ReplacedBy != s.ReplacedBy {
		n.opt.Log.Warn("role changed", "from", old.Role, "to", s.Role, "epoch", s.Epoch, "replacedBy", s.ReplacedBy)
		n.metrics.role.Reset()
		n.metrics.role.WithLabelValues(s.Role).Set(1)
	}
}

// contact records the outcome of a call to the peer and what it says of itself. A main that
// hears of a main with a higher epoch was replaced while it was away: it stops acting as main.
func (n *Node) contact(ctx context.Context, resp *StateResponse, err error) {
	now := n.opt.Now()
	n.mu.Lock()
	if err != nil {
		if n.peer.reachable {
			n.opt.Log.Warn("peer unreachable", "peer", n.opt.PeerURL, "err", err)
		}
		n.peer.reachable, n.peer.lastError = false, err.Error()
		n.mu.Unlock()
		n.metrics.peerUp.Set(0)
		return
	}
	if !n.peer.reachable {
		n.opt.Log.Info("peer reachable", "peer", n.opt.PeerURL, "server", resp.State.ServerID, "role", resp.State.Role)
	}
	n.peer.reachable, n.peer.lastError, n.peer.lastContact = true, "", now
	n.peer.clockSkew = resp.Now.Sub(now)
	changed := n.peer.state != resp.State
	n.peer.state, n.peer.known = resp.State, true
	self := n.state
	n.mu.Unlock()
	n.metrics.peerUp.Set(1)
	if changed {
		if b, err := json.Marshal(resp.State); err == nil {
			n.opt.Store.SetMeta(ctx, peerStateKey, string(b))
		}
	}
	p := resp.State
	switch {
	case self.Role == RoleMain && p.Role == RoleMain && p.Epoch > self.Epoch:
		self.Role, self.ReplacedBy, self.Promoted = RoleBackup, p.ServerID, false
		n.opt.Log.Error("replaced as main: the peer was promoted while this server was away", "by", p.ServerID, "epoch", p.Epoch)
		if err := SaveState(ctx, n.opt.Store, self); err != nil {
			n.opt.Log.Error("saving the pair state", "err", err)
		}
		n.setState(self)
	case self.Role == RoleMain && p.Role == RoleMain && p.Epoch == self.Epoch:
		n.opt.Log.Error("both servers of the pair say they are the main: check server.role on both", "peer", p.ServerID)
	}
}

// pull copies one stream of the peer's feed, forever: long-polls for changes, applies each
// batch with its cursor in one transaction, and backs off while the peer is unreachable.
func (n *Node) pull(ctx context.Context, class bascule.FeedClass) {
	sv := n.streams[class]
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		peer := n.PeerState().ServerID
		cursor := int64(0)
		if peer != "" {
			c, err := n.opt.Store.Cursor(ctx, peer, class)
			if err != nil {
				n.streamError(class, err)
				clock.Sleep(ctx, backoff)
				continue
			}
			cursor = c
		}
		wait := n.opt.Wait
		if peer == "" || sv.schedule > 0 {
			wait = 0 // learn the peer's identity first; on a schedule, take what is there and sleep
		}
		cctx, cancel := context.WithTimeout(ctx, wait+10*time.Second)
		resp, err := n.client.changes(cctx, class, cursor, maxBatch, wait)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.contact(ctx, nil, err)
			n.streamError(class, err)
			clock.Sleep(ctx, backoff)
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		n.contact(ctx, &StateResponse{State: resp.State, Now: resp.Now}, nil)
		if resp.State.ServerID != peer {
			continue // the cursor belongs to the identity the peer has now
		}
		if len(resp.Changes) > 0 {
			last := resp.Changes[len(resp.Changes)-1].Seq
			if err := n.opt.Store.Apply(ctx, peer, class, resp.Changes, last); err != nil {
				n.streamError(class, err)
				n.opt.Log.Error("applying the peer's changes", "class", class, "err", err)
				clock.Sleep(ctx, backoff)
				continue
			}
			cursor = last
			n.applied(class, resp, last)
		} else {
			n.caughtUp(class, resp, cursor)
		}
		if sv.schedule > 0 && cursor >= resp.Last { // caught up: wait for the next scheduled pull
			n.mu.Lock()
			sv.nextPullAt = n.opt.Now().Add(sv.schedule)
			n.mu.Unlock()
			clock.Sleep(ctx, sv.schedule)
		}
	}
}

// applied records a batch; the lag is how old, on the peer's clock, the newest applied change
// was when it arrived here.
func (n *Node) applied(class bascule.FeedClass, resp *ChangesResponse, cursor int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	sv := n.streams[class]
	sv.cursor, sv.peerLast, sv.lastError = cursor, resp.Last, ""
	sv.lastApply = n.opt.Now()
	sv.applied += int64(len(resp.Changes))
	peerNow := sv.lastApply.Add(n.peer.clockSkew)
	for _, c := range resp.Changes {
		n.metrics.delay.WithLabelValues(string(class)).Observe(max(peerNow.Sub(c.At), 0).Seconds())
	}
	sv.lag = 0
	if cursor < resp.Last {
		sv.lag = max(peerNow.Sub(resp.Changes[len(resp.Changes)-1].At), 0)
	}
	n.metrics.applied.WithLabelValues(string(class)).Add(float64(len(resp.Changes)))
	n.metrics.waiting.WithLabelValues(string(class)).Set(float64(resp.Last - cursor))
	n.metrics.lag.WithLabelValues(string(class)).Set(sv.lag.Seconds())
}

func (n *Node) caughtUp(class bascule.FeedClass, resp *ChangesResponse, cursor int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	sv := n.streams[class]
	sv.cursor, sv.peerLast, sv.lag, sv.lastError = cursor, resp.Last, 0, ""
	n.metrics.waiting.WithLabelValues(string(class)).Set(float64(max(resp.Last-cursor, 0)))
	n.metrics.lag.WithLabelValues(string(class)).Set(0)
}

func (n *Node) streamError(class bascule.FeedClass, err error) {
	n.mu.Lock()
	n.streams[class].lastError = err.Error()
	n.mu.Unlock()
}

// Forward implements engine.Forwarder: a question of a dialog that lives on the peer is
// answered there while the peer answers. Unreachable or slow, the peer loses the dialog to
// this server (handled false): a visitor is never left without an answer.
func (n *Node) Forward(ctx context.Context, host string, req *engine.TalkRequest) (*engine.TalkResult, bool, error) {
	n.mu.Lock()
	ok := n.client != nil && n.peer.known && host == n.peer.state.ServerID && n.peer.reachable
	n.mu.Unlock()
	if !ok {
		return nil, false, nil
	}
	cctx, cancel := context.WithTimeout(ctx, n.opt.Timeout)
	defer cancel()
	res, err := n.client.talk(cctx, req)
	if err != nil {
		n.opt.Log.Warn("the peer did not answer a question of a dialog it holds: answering here", "err", err)
		n.metrics.forwards.WithLabelValues("failed").Inc()
		return nil, false, nil
	}
	n.metrics.forwards.WithLabelValues("ok").Inc()
	return res, true, nil
}

// Status is the replication part of the server status.
type Status struct {
	Role       string         `json:"role"`
	Epoch      int64          `json:"epoch"`
	ReplacedBy string         `json:"replacedBy,omitempty"`
	Peer       *PeerStatus    `json:"peer,omitempty"`
	Streams    []StreamStatus `json:"streams,omitempty"`
}

// PeerStatus describes the other server.
type PeerStatus struct {
	URL         string    `json:"url"`
	PublicURL   string    `json:"publicUrl,omitempty"`
	ServerID    string    `json:"serverId,omitempty"`
	Role        string    `json:"role,omitempty"`
	Reachable   bool      `json:"reachable"`
	LastContact time.Time `json:"lastContact,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
}

// StreamStatus describes one stream pulled from the peer.
type StreamStatus struct {
	Class      string    `json:"class"`
	Cursor     int64     `json:"cursor"`
	PeerLast   int64     `json:"peerLast"`
	Waiting    int64     `json:"waiting"`    // changes the peer has that are not applied here
	LagSeconds float64   `json:"lagSeconds"` // age of the newest applied change while behind
	Applied    int64     `json:"applied"`
	LastApply  time.Time `json:"lastApply,omitzero"`
	LastError  string    `json:"lastError,omitempty"`
	Every      string    `json:"every,omitempty"`
	NextPullAt time.Time `json:"nextPullAt,omitzero"`
}

// Status returns the replication status.
func (n *Node) Status(context.Context) any {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := Status{Role: n.state.Role, Epoch: n.state.Epoch, ReplacedBy: n.state.ReplacedBy}
	if n.client == nil {
		return st
	}
	st.Peer = &PeerStatus{URL: n.opt.PeerURL, PublicURL: n.peer.state.PublicURL, ServerID: n.peer.state.ServerID, Role: n.peer.state.Role,
		Reachable: n.peer.reachable, LastContact: n.peer.lastContact, LastError: n.peer.lastError}
	for _, c := range bascule.FeedClasses {
		sv := n.streams[c]
		ss := StreamStatus{Class: string(c), Cursor: sv.cursor, PeerLast: sv.peerLast, Waiting: max(sv.peerLast-sv.cursor, 0),
			LagSeconds: sv.lag.Seconds(), Applied: sv.applied, LastApply: sv.lastApply, LastError: sv.lastError, NextPullAt: sv.nextPullAt}
		if sv.schedule > 0 {
			ss.Every = sv.schedule.String()
		}
		st.Streams = append(st.Streams, ss)
	}
	return st
}

type metrics struct {
	role     *prometheus.GaugeVec
	peerUp   prometheus.Gauge
	lag      *prometheus.GaugeVec
	waiting  *prometheus.GaugeVec
	applied  *prometheus.CounterVec
	delay    *prometheus.HistogramVec
	forwards *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		role: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bascule_pair_role", Help: "1 for the role this server acts in."}, []string{"role"}),
		peerUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bascule_peer_up",
			Help: "1 when the last call to the peer succeeded."}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bascule_replication_lag_seconds",
			Help: "Age of the newest change applied from the peer while behind (0 when caught up)."}, []string{"class"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bascule_replication_waiting",
			Help: "Changes the peer has that are not applied here."}, []string{"class"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bascule_replication_applied_total",
			Help: "Changes applied from the peer."}, []string{"class"}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bascule_replication_delay_seconds",
			Help:    "Time from a change's commit on the peer to its application here (peer clock).",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300}}, []string{"class"}),
		forwards: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bascule_pair_forwards_total",
			Help: "Questions sent to the peer because their dialog lives there."}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.role, m.peerUp, m.lag, m.waiting, m.applied, m.delay, m.forwards)
	}
	return m
}
