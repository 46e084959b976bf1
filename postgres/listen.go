package postgres

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/bus"
	"github.com/bascule/bascule/internal/clock"
	"github.com/bascule/bascule/internal/sqlstore"
)

// Channels the nodes of one database NOTIFY each other on.
const (
	// commitChannel carries a commit's news (a commitNews): long polls of the feed wake up,
	// engines reload the bots whose knowledge changed.
	commitChannel = "bascule_commit"
	// busChannel carries bascule.Bus events: topic, a newline, the payload in base64.
	busChannel = "bascule_bus"
)

// maxNotify is PostgreSQL's limit on a NOTIFY payload (8000 bytes, less a margin).
const maxNotify = 7900

// commitNews is what a node tells the others after a commit.
type commitNews struct {
	Node string `json:"node"` // the process that committed: it told its own callbacks already
	Feed bool   `json:"feed,omitempty"`
	// Bots whose knowledge changed; All when they were too many to name.
	Bots []string `json:"bots,omitempty"`
	All  bool     `json:"all,omitempty"`
}

// listener is the node's dedicated connection: it LISTENs for the other nodes' commits and
// for bus events, and holds the shared lock that keeps a restore away from running nodes. A
// lost connection is made again; what was announced meanwhile is lost, so the store is then
// told that anything may have changed.
type listener struct {
	cfg   *pgx.ConnConfig
	db    *sql.DB // publishes bus events
	node  string
	local *bus.Memory // this node's subscribers
	store atomic.Pointer[sqlstore.Store]

	mu   sync.Mutex
	conn *pgx.Conn

	cancel context.CancelFunc
	done   chan struct{}
}

var _ bascule.Bus = (*listener)(nil)

// startListener connects the listening connection. The store is given later (ready): news
// that arrives before is about commits the store will read anyway.
func startListener(ctx context.Context, cfg *pgx.ConnConfig, s *Store) (*listener, error) {
	l := &listener{cfg: cfg, db: s.db, node: bascule.NewID(), local: bus.NewMemory(), done: make(chan struct{})}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	l.conn = conn
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(runCtx)
	return l, nil
}

// connect opens a listening connection: the shared lock first (a restore in progress holds
// it exclusively), then LISTEN.
func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, fmt.Errorf("listening connection: %w", err)
	}
	var free bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock_shared($1)", lockInUse).Scan(&free); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	if !free {
		conn.Close(ctx)
		return nil, errors.New("a restore is replacing this database (bascule restore): start the node once it is done")
	}
	if _, err := conn.Exec(ctx, "LISTEN "+commitChannel+"; LISTEN "+busChannel); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("listen: %w", err)
	}
	return conn, nil
}

// ready hands the listener the store to tell.
func (l *listener) ready(s *sqlstore.Store) { l.store.Store(s) }

// run receives notifications until close, connecting again after a loss.
func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	backoff := 100 * time.Millisecond
	for {
		l.mu.Lock()
		conn := l.conn
		l.mu.Unlock()
		if conn == nil {
			c, err := l.connect(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				clock.Sleep(ctx, backoff)
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			l.mu.Lock()
			l.conn, conn = c, c
			l.mu.Unlock()
			// Commits announced while the connection was down were missed.
			if s := l.store.Load(); s != nil {
				s.NotifyChange()
				s.NotifyKnowledge("")
			}
		}
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			conn.Close(context.Background())
			l.mu.Lock()
			l.conn = nil
			l.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			continue
		}
		switch n.Channel {
		case commitChannel:
			l.commit(n.Payload)
		case busChannel:
			topic, enc, ok := strings.Cut(n.Payload, "\n")
			if payload, err := base64.StdEncoding.DecodeString(enc); ok && err == nil {
				l.local.Publish(ctx, topic, payload)
			}
		}
	}
}

// commit tells the store about another node's commit.
func (l *listener) commit(payload string) {
	s := l.store.Load()
	var news commitNews
	if s == nil || json.Unmarshal([]byte(payload), &news) != nil || news.Node == l.node {
		return
	}
	if news.Feed {
		s.NotifyChange()
	}
	if news.All {
		s.NotifyKnowledge("")
	}
	for _, b := range news.Bots {
		s.NotifyKnowledge(b)
	}
}

// dialect is Dialect with the NOTIFY of this node's commits. The notification is sent by
// PostgreSQL at commit, and only if the transaction commits: nodes never hear of a write
// that was rolled back.
func (l *listener) dialect() sqlstore.Dialect {
	d := Dialect
	d.BeforeCommit = func(ctx context.Context, tx *sql.Tx, feed bool, bots []string) error {
		if !feed && len(bots) == 0 {
			return nil
		}
		news := commitNews{Node: l.node, Feed: feed}
		seen := map[string]bool{}
		for _, b := range bots {
			if !seen[b] {
				seen[b] = true
				news.Bots = append(news.Bots, b)
			}
		}
		payload, err := json.Marshal(news)
		if err != nil {
			return err
		}
		if len(payload) > maxNotify {
			news.Bots, news.All = nil, true
			payload, _ = json.Marshal(news)
		}
		_, err = tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", commitChannel, string(payload))
		return err
	}
	return d
}

// Publish implements bascule.Bus: the event goes to every node of the database, this one
// included, through NOTIFY. An event is a nudge ("look again"), so it must be small.
func (l *listener) Publish(ctx context.Context, topic string, payload []byte) error {
	if topic == "" || strings.Contains(topic, "\n") {
		return fmt.Errorf("bus topic %q: must be one line, not empty", topic)
	}
	msg := topic + "\n" + base64.StdEncoding.EncodeToString(payload)
	if len(msg) > maxNotify {
		return fmt.Errorf("bus event of %d bytes on %s: at most about %d bytes cross nodes (keep the data in the store, send a nudge)",
			len(payload), topic, (maxNotify-len(topic)-1)*3/4)
	}
	_, err := l.db.ExecContext(ctx, "SELECT pg_notify($1, $2)", busChannel, msg)
	return err
}

// Subscribe implements bascule.Bus.
func (l *listener) Subscribe(topic string) (<-chan []byte, func()) { return l.local.Subscribe(topic) }

// close stops listening and releases the connection (and with it the shared lock).
func (l *listener) close() {
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.conn.Close(context.Background())
		l.conn = nil
	}
}

// Bus returns the node's event bus: what a node publishes reaches the subscribers of every
// node sharing the database, by LISTEN/NOTIFY on the node's listening connection.
func (s *Store) Bus() bascule.Bus { return s.listen }
