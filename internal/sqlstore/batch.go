package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bascule/bascule"
)

// Group commit: every write is a function queued to one writer goroutine, which runs the
// functions waiting at that moment in one transaction, each inside its own savepoint, and
// commits once. A visitor's answer is therefore durable (synced) before it is sent, without
// paying one sync per question: under load, many questions share one sync. One failing write
// is rolled back to its savepoint and reported to its caller alone.

type op struct {
	fn   func(*Tx) error
	done chan error
}

// Tx is the transaction a write function runs in.
type Tx struct {
	s       *Store
	tx      *sql.Tx
	ctx     context.Context
	now     time.Time
	changes []bascule.Change
	bots    []string // bots whose knowledge changed
}

// errClosed is returned for writes submitted after Close.
var errClosed = errors.New("store is closed")

// write runs fn in the next group-committed transaction and returns once it is committed
// (or failed). It waits for the outcome even if ctx ends meanwhile: a caller must never think
// a committed write failed, or a retry would store it twice.
func (s *Store) write(ctx context.Context, fn func(*Tx) error) error {
	o := &op{fn: fn, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return errClosed
	}
	select {
	case s.queue <- o:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctx.Err()
	}
	s.closeMu.RUnlock()
	return <-o.done
}

func (s *Store) writer(maxBatch int) {
	defer close(s.stopped)
	for {
		var batch []*op
		select {
		case o := <-s.queue:
			batch = append(batch, o)
		case <-s.stop:
			// Close holds closeMu, so nothing is enqueued any more: finish what is queued.
			for {
				select {
				case o := <-s.queue:
					s.runBatch([]*op{o})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case o := <-s.queue:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.runBatch(batch)
	}
}

func (s *Store) runBatch(batch []*op) {
	ctx := context.Background()
	results := make([]error, len(batch))
	err := s.runTx(ctx, batch, results)
	for i, o := range batch {
		if err != nil && results[i] == nil {
			results[i] = err
		}
		o.done <- results[i]
	}
}

func (s *Store) runTx(ctx context.Context, batch []*op, results []error) (err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	t := &Tx{s: s, tx: tx, ctx: ctx, now: s.now().UTC().Truncate(time.Millisecond)}
	single := len(batch) == 1
	for i, o := range batch {
		if single {
			if results[i] = o.fn(t); results[i] != nil {
				_ = tx.Rollback() // nothing else in this transaction; fn's error is reported
				return nil
			}
			continue
		}
		mark, botsMark := len(t.changes), len(t.bots)
		if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		if results[i] = o.fn(t); results[i] != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT w"); err != nil {
				return fmt.Errorf("rollback to savepoint: %w", err)
			}
			t.changes, t.bots = t.changes[:mark], t.bots[:botsMark]
		}
		if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT w"); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
	}
	if err := t.flushChanges(); err != nil {
		return err
	}
	if s.d.BeforeCommit != nil {
		if err := s.d.BeforeCommit(ctx, tx, len(t.changes) > 0, t.bots); err != nil {
			return fmt.Errorf("before commit: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if len(t.changes) > 0 {
		s.NotifyChange()
	}
	for _, b := range uniq(t.bots) {
		s.NotifyKnowledge(b)
	}
	return nil
}

func uniq(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func (t *Tx) exec(query string, args ...any) error {
	_, err := t.tx.ExecContext(t.ctx, t.s.q(query), args...)
	return err
}

func (t *Tx) execN(query string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(t.ctx, t.s.q(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *Tx) queryRow(query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, t.s.q(query), args...)
}

func (t *Tx) query(query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(t.ctx, t.s.q(query), args...)
}

// appendChange queues a change of this server's feed; its Seq is assigned at commit.
func (t *Tx) appendChange(entity, key, op string, data any) error {
	var raw json.RawMessage
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("encode %s change: %w", entity, err)
		}
		raw = b
	}
	t.changes = append(t.changes, bascule.Change{Origin: t.s.serverID, Entity: entity, Key: key, Op: op, Data: raw, At: t.now})
	return nil
}

// knowledgeChanged records that a bot's knowledge changed, for the callbacks after commit.
func (t *Tx) knowledgeChanged(botID string) { t.bots = append(t.bots, botID) }

// flushChanges numbers the queued changes from the feed counter and inserts them. The counter
// row is updated last in the transaction: on PostgreSQL its row lock makes concurrent writers
// of several nodes commit in Seq order, so a peer reading "Seq > cursor" never skips a change
// that commits late; on SQLite the single writer gives the same guarantee.
func (t *Tx) flushChanges() error {
	n := len(t.changes)
	if n == 0 {
		return nil
	}
	var last int64
	if err := t.queryRow("UPDATE counters SET value = value + ? WHERE name = 'feed' RETURNING value", n).Scan(&last); err != nil {
		return fmt.Errorf("allocate feed sequence: %w", err)
	}
	first := last - int64(n) + 1
	const perInsert = 100
	for start := 0; start < n; start += perInsert {
		end := min(start+perInsert, n)
		var b strings.Builder
		b.WriteString("INSERT INTO changes (origin, seq, entity, key, op, data, at) VALUES ")
		args := make([]any, 0, 7*(end-start))
		for i := start; i < end; i++ {
			c := &t.changes[i]
			c.Seq = first + int64(i)
			if i > start {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
			args = append(args, c.Origin, c.Seq, c.Entity, c.Key, c.Op, string(c.Data), bascule.Millis(c.At))
		}
		if err := t.exec(b.String(), args...); err != nil {
			return fmt.Errorf("append to feed: %w", err)
		}
	}
	return nil
}

// nextCounter increments a named counter and returns its new value. Knowledge ids come from
// one counter per bot, so a deleted item's id is never given to another item.
func (t *Tx) nextCounter(name string) (int64, error) {
	if err := t.raiseCounter(name, 0); err != nil {
		return 0, err
	}
	var v int64
	err := t.queryRow("UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value", name).Scan(&v)
	return v, err
}

// raiseCounter makes a named counter at least v (ids given explicitly by an import).
func (t *Tx) raiseCounter(name string, v int64) error {
	return t.exec("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = "+
		t.s.d.Greatest+"(counters.value, excluded.value)", name, v)
}
