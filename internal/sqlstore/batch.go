package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bascule/bascule"
)

// Group commit: every write is a function queued to one writer goroutine, which runs the
// functions waiting at that moment in one transaction, each inside its own savepoint, and
// commits once. A visitor's answer is therefore durable (synced) before it is sent, without
// paying one sync per question: under load, many questions share one sync. One failing write
// is rolled back to its savepoint and reported to its caller alone.

type op struct {
	fn   func(*Tx) error // a write, or
	talk *talkOp         // an answered question, written in bulk with the others of the batch
	done chan error
}

// Tx is the transaction a write function runs in.
type Tx struct {
	s       *Store
	tx      *sql.Tx
	ctx     context.Context
	now     time.Time
	changes []bascule.Change
	bots    []string  // bots whose knowledge changed
	talks   []*talkOp // answered questions written, for the dialog cache after commit
	forget  []string  // dialogs changed otherwise (replication, erasure), for the cache
}

// errClosed is returned for writes submitted after Close.
var errClosed = errors.New("store is closed")

// write runs fn in the next group-committed transaction and returns once it is committed
// (or failed). It waits for the outcome even if ctx ends meanwhile: a caller must never think
// a committed write failed, or a retry would store it twice.
func (s *Store) write(ctx context.Context, fn func(*Tx) error) error {
	return s.submit(ctx, &op{fn: fn, done: make(chan error, 1)})
}

func (s *Store) submit(ctx context.Context, o *op) error {
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
		batch = s.gather(batch, maxBatch)
		s.lastBatch = len(batch)
		s.runBatch(batch)
	}
}

// linger is how long the writer waits for more writes once the queue is empty, when the last
// batch shows load (lingerFrom writes or more): a commit has a fixed cost (the log's header,
// the sync), and under load a millisecond gathers many answers into one. With few writers
// there is nobody to wait for, and the writer commits at once.
const (
	linger     = time.Millisecond
	lingerFrom = 4
)

// gather adds to batch the writes that are queued, and under load those that arrive within
// linger.
func (s *Store) gather(batch []*op, maxBatch int) []*op {
	var deadline <-chan time.Time
	for len(batch) < maxBatch {
		select {
		case o := <-s.queue:
			batch = append(batch, o)
			continue
		default:
		}
		if s.lastBatch < lingerFrom {
			return batch
		}
		if deadline == nil {
			t := time.NewTimer(linger)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case o := <-s.queue:
			batch = append(batch, o)
		case <-deadline:
			return batch
		case <-s.stop:
			return batch
		}
	}
	return batch
}

func (s *Store) runBatch(batch []*op) {
	start := time.Now()
	defer func() {
		s.stats.batches.Add(1)
		s.stats.writes.Add(int64(len(batch)))
		s.stats.batchNanos.Add(int64(time.Since(start)))
	}()
	ctx := context.Background()
	results := make([]error, len(batch))
	var c committed
	err := s.runTx(ctx, batch, results, &c)
	if errors.Is(err, errRetryAlone) {
		if len(batch) > 1 {
			// One write failed: the others must not fail with it. Each runs again on its own.
			for i, o := range batch {
				own := make([]error, 1)
				if e := s.runTx(ctx, []*op{o}, own, &c); errors.Is(e, errRetryAlone) {
					results[i] = own[0]
				} else {
					results[i] = e
				}
			}
		}
		err = nil
	}
	for i := range batch {
		if err != nil && results[i] == nil {
			results[i] = err
		}
	}
	s.settle(&settlement{batch: batch, results: results, committed: c})
}

// committed is what a batch's commits make visible once durable: the feed up to lastSeq, and
// the bots whose knowledge changed.
type committed struct {
	lastSeq int64
	bots    []string
}

// settlement is a committed batch waiting to be made durable and answered.
type settlement struct {
	batch     []*op
	results   []error
	committed committed
}

// settle answers a batch's writers once what it committed is durable: at once when commits
// are durable by themselves, else after the syncer's next sync (see syncer).
func (s *Store) settle(st *settlement) {
	if s.sync == nil {
		s.release([]*settlement{st}, nil)
		return
	}
	s.syncQueue <- st
}

// syncer makes committed batches durable, many at a time, while the writer goes on with the
// next ones: the commit itself does not wait for the disk (SQLite's synchronous=NORMAL), and a
// writer is answered, and its changes shown to the peer, only after the log holding them was
// synced. One sync serves every batch committed meanwhile, so the disk's latency does not cap
// the number of answers per second.
func (s *Store) syncer() {
	defer close(s.synced)
	for {
		first, ok := <-s.syncQueue
		if !ok {
			return
		}
		pending := []*settlement{first}
	drain:
		for {
			select {
			case st, ok := <-s.syncQueue:
				if !ok {
					break drain
				}
				pending = append(pending, st)
			default:
				break drain
			}
		}
		start := time.Now()
		err := s.sync(context.Background())
		s.stats.syncs.Add(1)
		s.stats.syncNanos.Add(int64(time.Since(start)))
		if err != nil {
			err = fmt.Errorf("sync to disk: %w", err)
		}
		s.release(pending, err)
	}
}

// release answers the writers of durable batches and makes their changes visible.
func (s *Store) release(done []*settlement, syncErr error) {
	var last int64
	var bots []string
	for _, st := range done {
		last = max(last, st.committed.lastSeq)
		bots = append(bots, st.committed.bots...)
	}
	if syncErr == nil && last > 0 {
		s.durable.Store(max(s.durable.Load(), last))
		s.NotifyChange()
	}
	for _, b := range uniq(bots) {
		s.NotifyKnowledge(b)
	}
	for _, st := range done {
		for i, o := range st.batch {
			if syncErr != nil && st.results[i] == nil {
				st.results[i] = syncErr
			}
			o.done <- st.results[i]
		}
	}
}

// errRetryAlone says a write of a batch failed and the batch was rolled back.
var errRetryAlone = errors.New("a write of the batch failed")

// runTx runs the writes of a batch in one transaction. Writes almost never fail, so there is
// no savepoint per write: if one fails, the whole batch rolls back and runBatch runs each
// write alone (errRetryAlone); a write that fails alone has its error in results.
func (s *Store) runTx(ctx context.Context, batch []*op, results []error, c *committed) (err error) {
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
	var talks []*talkOp
	for _, o := range batch {
		if o.talk != nil {
			talks = append(talks, o.talk)
		}
	}
	if len(talks) > 0 {
		if err := t.recordTalks(talks); err != nil {
			if len(batch) > 1 {
				return errRetryAlone
			}
			results[0] = err
			return errRetryAlone
		}
	}
	for i, o := range batch {
		if o.fn == nil {
			continue
		}
		if results[i] = o.fn(t); results[i] != nil {
			if len(batch) > 1 {
				results[i] = nil // it runs again alone and reports its own error then
			}
			return errRetryAlone
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
	var last int64
	if n := len(t.changes); n > 0 {
		last = t.changes[n-1].Seq
		// Known before the commit shows it: the poll for other processes' writes must never
		// take this server's own for one of theirs.
		s.seen.Store(max(s.seen.Load(), last))
	}
	committing := time.Now()
	err = tx.Commit()
	s.stats.commitNanos.Add(int64(time.Since(committing)))
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.dialogs.talked(t.talks)
	s.dialogs.forget(t.forget...)
	c.lastSeq = max(c.lastSeq, last)
	c.bots = append(c.bots, t.bots...)
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

// stmt returns query prepared on the writer, bound to this transaction.
func (t *Tx) stmt(query string) (*sql.Stmt, error) {
	st, err := t.s.prepared(t.ctx, t.s.w, query)
	if err != nil {
		return nil, err
	}
	return t.tx.StmtContext(t.ctx, st), nil
}

func (t *Tx) exec(query string, args ...any) error {
	_, err := t.execN(query, args...)
	return err
}

func (t *Tx) execN(query string, args ...any) (int64, error) {
	st, err := t.stmt(query)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(t.ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *Tx) queryRow(query string, args ...any) *sql.Row {
	st, err := t.stmt(query)
	if err != nil {
		return t.tx.QueryRowContext(t.ctx, t.s.q(query), args...) // reports the same error on Scan
	}
	return st.QueryRowContext(t.ctx, args...)
}

func (t *Tx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}

// appendChange queues a change of this server's feed; its Seq is assigned at commit. Puts of
// dialogs and interactions pass no data: the feed refers to the row, and Changes reads it when
// the peer asks. The hot path (an answered question) then writes each byte once.
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
	for start := 0; start < n; start += maxRows {
		chunk := t.changes[start:min(start+maxRows, n)]
		args := make([]any, 0, 8*len(chunk))
		for i := range chunk {
			c := &chunk[i]
			c.Seq = first + int64(start+i)
			args = append(args, c.Origin, string(bascule.ClassOf(c.Entity)), c.Seq, c.Entity, c.Key, c.Op, string(c.Data), bascule.Millis(c.At))
		}
		if err := t.exec("INSERT INTO changes (origin, class, seq, entity, key, op, data, at) VALUES "+rowMarks(8, len(chunk)), args...); err != nil {
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
