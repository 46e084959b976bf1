package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bascule/bascule"
)

// A dialog's last activity is derived from its interactions rather than updated on every
// answer: one write less per question, and two servers can never disagree on it.
const dialogColumns = "id, bot_id, client_id, language, space, origin, continues, continues_via, started_at, user_url, browser, os"

// selectDialog reads dialogColumns and the derived last activity and host, in scanDialog's
// order.
func (s *Store) selectDialog() string {
	return "SELECT d.id, d.bot_id, d.client_id, d.language, d.space, d.origin, d.continues, d.continues_via, d.started_at, " +
		s.d.Greatest + "(d.started_at, COALESCE((SELECT MAX(i.at) FROM interactions i WHERE i.dialog_seq = d.seq), 0)), " +
		"COALESCE((SELECT i.server FROM interactions i WHERE i.dialog_seq = d.seq ORDER BY i.n DESC, i.at DESC LIMIT 1), d.origin), " +
		"d.user_url, d.browser, d.os FROM dialogs d "
}

func scanDialog(sc interface{ Scan(...any) error }) (*bascule.Dialog, error) {
	var d bascule.Dialog
	var started, last int64
	if err := sc.Scan(&d.ID, &d.BotID, &d.ClientID, &d.Language, &d.Space, &d.Origin, &d.Continues, &d.ContinuesVia,
		&started, &last, &d.Host, &d.UserURL, &d.Browser, &d.OS); err != nil {
		return nil, err
	}
	d.StartedAt, d.LastAt = bascule.FromMillis(started), bascule.FromMillis(last)
	return &d, nil
}

func scanDialogs(rows *sql.Rows) ([]bascule.Dialog, error) {
	defer rows.Close()
	var out []bascule.Dialog
	for rows.Next() {
		d, err := scanDialog(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

// Dialog implements bascule.DialogStore.
func (s *Store) Dialog(ctx context.Context, id string) (*bascule.Dialog, error) {
	if e, ok := s.dialogs.get(id); ok {
		return &e.d, nil
	}
	gen := s.dialogs.generation()
	d, err := scanDialog(s.queryRow(ctx, s.selectDialog()+"WHERE d.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bascule.NotFoundf("no dialog %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read dialog: %w", err)
	}
	s.dialogs.loaded(d, gen)
	return d, nil
}

// RecentTypes implements bascule.DialogStore.
func (s *Store) RecentTypes(ctx context.Context, dialogID string, n int) ([]string, error) {
	if e, ok := s.dialogs.get(dialogID); ok && e.recent != nil && (len(e.recent) >= n || len(e.recent) == e.lastN) {
		return e.recent[max(0, len(e.recent)-n):], nil
	}
	types, err := ScanStrings(s.query(ctx, "SELECT type FROM interactions WHERE dialog_seq = (SELECT seq FROM dialogs WHERE id = ?) ORDER BY n DESC, at DESC, id DESC LIMIT ?", dialogID, n))
	slices.Reverse(types)
	return types, err
}

// Variables implements bascule.DialogStore.
func (s *Store) Variables(ctx context.Context, dialogID string) (map[string]string, error) {
	rows, err := s.query(ctx, "SELECT name, value FROM variables WHERE dialog_id = ?", dialogID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	vars := map[string]string{}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			return nil, err
		}
		vars[n] = v
	}
	return vars, rows.Err()
}

// LatestDialog implements bascule.DialogStore.
func (s *Store) LatestDialog(ctx context.Context, botID, clientID string) (*bascule.Dialog, error) {
	d, err := scanDialog(s.queryRow(ctx, s.selectDialog()+
		"WHERE d.bot_id = ? AND d.client_id = ? ORDER BY d.started_at DESC, d.id DESC LIMIT 1", botID, clientID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bascule.NotFoundf("no dialog for client %s", clientID)
	}
	return d, err
}

// RecordTalk implements bascule.DialogStore. Answered questions are the one write made for
// every request, so the writer stores those of a batch together (recordTalks).
func (s *Store) RecordTalk(ctx context.Context, newDialog *bascule.Dialog, in *bascule.Interaction) error {
	return s.submit(ctx, &op{talk: &talkOp{dialog: newDialog, in: in}, done: make(chan error, 1)})
}

type talkOp struct {
	dialog *bascule.Dialog
	in     *bascule.Interaction
}

// maxRows bounds the rows of one multi-row statement; statements are prepared once per size.
const maxRows = 64

// recordTalks stores the new dialogs and answered questions of a batch with a few multi-row
// statements: create the dialogs, read the dialogs' last positions, insert the interactions
// numbered after them. Rows that exist already (a retried question) are left as they are.
func (t *Tx) recordTalks(talks []*talkOp) error {
	// Alone, a talk learns exactly which rows existed (RETURNING). In a batch, rows are
	// inserted in bulk and a conflict (a retried question) sends every talk back alone.
	alone := len(talks) == 1
	var dialogs []*bascule.Dialog
	var ins []*bascule.Interaction
	for _, op := range talks {
		if op.dialog != nil {
			dialogs = append(dialogs, op.dialog)
		}
		if op.in != nil {
			ins = append(ins, op.in)
		}
	}
	for start := 0; start < len(dialogs); start += maxRows {
		chunk := dialogs[start:min(start+maxRows, len(dialogs))]
		args := make([]any, 0, len(chunk)*12)
		for _, d := range chunk {
			args = append(args, d.ID, d.BotID, d.ClientID, d.Language, d.Space, d.Origin, d.Continues, d.ContinuesVia,
				bascule.Millis(d.StartedAt), d.UserURL, d.Browser, d.OS)
		}
		created, err := t.insertRows("INSERT INTO dialogs ("+dialogColumns+") VALUES "+rowMarks(12, len(chunk))+
			" ON CONFLICT (id) DO NOTHING", args, len(chunk), alone)
		if err != nil {
			return err
		}
		for _, d := range chunk {
			if created == nil || created[d.ID] {
				if err := t.appendChange(bascule.EntityDialog, d.ID, bascule.OpPut, nil); err != nil {
					return err
				}
			}
		}
	}
	if len(ins) == 0 {
		t.talks = append(t.talks, talks...)
		return nil
	}
	if err := t.number(ins); err != nil {
		return err
	}
	for start := 0; start < len(ins); start += maxRows {
		chunk := ins[start:min(start+maxRows, len(ins))]
		args := make([]any, 0, len(chunk)*14)
		for _, in := range chunk {
			args = append(args, in.ID, in.DialogID, in.BotID, in.N, bascule.Millis(in.At), in.Server, in.Question, in.Answer,
				in.Type, in.KnowledgeID, in.Score, in.Language, in.Space, in.From, in.DialogID)
		}
		stored, err := t.insertRows("INSERT INTO interactions ("+interactionColumns+", dialog_seq) VALUES "+interactionRows(len(chunk))+
			" ON CONFLICT (id) DO NOTHING", args, len(chunk), alone)
		if err != nil {
			return err
		}
		for _, in := range chunk {
			if stored != nil && !stored[in.ID] {
				// Already stored: a retry of the same question. Report where it was stored.
				if err := t.queryRow("SELECT n FROM interactions WHERE id = ?", in.ID).Scan(&in.N); err != nil {
					return err
				}
				continue
			}
			if err := t.appendChange(bascule.EntityInteraction, in.ID, bascule.OpPut, nil); err != nil {
				return err
			}
		}
	}
	t.talks = append(t.talks, talks...)
	return nil
}

// number gives each interaction the position after its dialog's last one: from the dialog
// cache when it knows, from the database otherwise.
func (t *Tx) number(ins []*bascule.Interaction) error {
	last := map[string]int{}
	var unknown []any
	for _, in := range ins {
		if _, seen := last[in.DialogID]; seen {
			continue
		}
		if e, ok := t.s.dialogs.get(in.DialogID); ok && e.lastN >= 0 {
			last[in.DialogID] = e.lastN
			continue
		}
		last[in.DialogID] = 0
		unknown = append(unknown, in.DialogID)
	}
	for start := 0; start < len(unknown); start += maxRows {
		chunk := unknown[start:min(start+maxRows, len(unknown))]
		// The correlated MAX is answered from the end of the (dialog_id, n) index; a GROUP BY
		// would read every interaction of the dialogs.
		rows, err := t.query("SELECT d.id, COALESCE((SELECT MAX(i.n) FROM interactions i WHERE i.dialog_seq = d.seq), 0) "+
			"FROM dialogs d WHERE d.id IN ("+marks(len(chunk))+")", chunk...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return err
			}
			last[id] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for _, in := range ins {
		last[in.DialogID]++
		in.N = last[in.DialogID]
	}
	return nil
}

// errExisting sends a batch back to run its talks alone: a row of it existed already.
var errExisting = errors.New("a row of the batch exists already")

// insertRows runs a multi-row INSERT ... ON CONFLICT DO NOTHING. Alone, it also returns which
// ids were inserted; in bulk it returns nil and fails with errExisting if any row existed.
func (t *Tx) insertRows(query string, args []any, rows int, alone bool) (map[string]bool, error) {
	if alone {
		return t.returningIDs(query+" RETURNING id", args)
	}
	n, err := t.execN(query, args...)
	if err != nil {
		return nil, err
	}
	if n != int64(rows) {
		return nil, errExisting
	}
	return nil, nil
}

// returningIDs runs a statement that returns ids and collects them.
func (t *Tx) returningIDs(query string, args []any) (map[string]bool, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, rows.Err()
}

// interactionRows returns the VALUES rows of an interaction insert: interactionColumns, then
// the local dialog number, found from the dialog id (the dialog is created first in the same
// transaction when it is new).
func interactionRows(rows int) string {
	row := "(" + marks(14) + ", (SELECT seq FROM dialogs WHERE id = ?))"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

// marks returns "?, ?, ?" for n values.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// rowMarks returns "(?, ?), (?, ?)" for rows of cols values.
func rowMarks(cols, rows int) string {
	row := "(" + marks(cols) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

// insertDialog stores a dialog unless it exists; it reports whether it was created.
func (t *Tx) insertDialog(d *bascule.Dialog) (bool, error) {
	n, err := t.execN("INSERT INTO dialogs ("+dialogColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
		d.ID, d.BotID, d.ClientID, d.Language, d.Space, d.Origin, d.Continues, d.ContinuesVia,
		bascule.Millis(d.StartedAt), d.UserURL, d.Browser, d.OS)
	return n > 0, err
}

// insertInteraction stores an interaction of the peer as it is (its N included) unless its id
// exists.
func (t *Tx) insertInteraction(in *bascule.Interaction) (bool, error) {
	n, err := t.execN("INSERT INTO interactions ("+interactionColumns+", dialog_seq) VALUES "+interactionRows(1)+" ON CONFLICT (id) DO NOTHING",
		in.ID, in.DialogID, in.BotID, in.N, bascule.Millis(in.At), in.Server, in.Question, in.Answer, in.Type,
		in.KnowledgeID, in.Score, in.Language, in.Space, in.From, in.DialogID)
	return n > 0, err
}

const interactionColumns = "id, dialog_id, bot_id, n, at, server, question, answer, type, knowledge_id, score, language, space, author"

func scanInteractions(rows *sql.Rows) ([]bascule.Interaction, error) {
	defer rows.Close()
	var out []bascule.Interaction
	for rows.Next() {
		var in bascule.Interaction
		var at int64
		if err := rows.Scan(&in.ID, &in.DialogID, &in.BotID, &in.N, &at, &in.Server, &in.Question, &in.Answer,
			&in.Type, &in.KnowledgeID, &in.Score, &in.Language, &in.Space, &in.From); err != nil {
			return nil, err
		}
		in.At = bascule.FromMillis(at)
		out = append(out, in)
	}
	return out, rows.Err()
}

// Interactions implements bascule.DialogStore. Order is by N, then time, then id: two servers
// that both appended while cut off from each other end up with the same order.
func (s *Store) Interactions(ctx context.Context, dialogID string, last int) ([]bascule.Interaction, error) {
	var rows *sql.Rows
	var err error
	if last > 0 {
		rows, err = s.query(ctx, "SELECT "+interactionColumns+" FROM interactions WHERE dialog_seq = (SELECT seq FROM dialogs WHERE id = ?) ORDER BY n DESC, at DESC, id DESC LIMIT ?", dialogID, last)
	} else {
		rows, err = s.query(ctx, "SELECT "+interactionColumns+" FROM interactions WHERE dialog_seq = (SELECT seq FROM dialogs WHERE id = ?) ORDER BY n, at, id", dialogID)
	}
	if err != nil {
		return nil, fmt.Errorf("read interactions: %w", err)
	}
	out, err := scanInteractions(rows)
	if last > 0 {
		slices.Reverse(out)
	}
	return out, err
}

// Dialogs implements bascule.DialogStore: by start time, then id, after f.After.
func (s *Store) Dialogs(ctx context.Context, f bascule.DialogFilter) ([]bascule.Dialog, error) {
	to := f.To
	if to.IsZero() {
		to = s.now().Add(time.Hour)
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	query := s.selectDialog() + "WHERE d.bot_id = ? AND d.started_at >= ? AND d.started_at < ?"
	args := []any{f.BotID, bascule.Millis(f.From), bascule.Millis(to)}
	if f.After != "" {
		var after int64
		if err := s.r.QueryRowContext(ctx, s.q("SELECT started_at FROM dialogs WHERE id = ?"), f.After).Scan(&after); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, bascule.FieldErrorf("after", "no dialog %s", f.After)
			}
			return nil, err
		}
		query += " AND (d.started_at > ? OR (d.started_at = ? AND d.id > ?))"
		args = append(args, after, after, f.After)
	}
	rows, err := s.r.QueryContext(ctx, s.q(query+" ORDER BY d.started_at, d.id LIMIT ?"), append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list dialogs: %w", err)
	}
	return scanDialogs(rows)
}

// CountDialogs implements bascule.DialogStore. Dialogs linked by continues form one
// conversation, named by its first dialog (the root); a conversation counts once, in the
// period of any of its dialogs that holds an interaction. A dialog opened but never asked
// anything (a welcome, a request lost in a switch-over) is not a conversation.
func (s *Store) CountDialogs(ctx context.Context, botID string, from, to time.Time) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, s.q(`WITH RECURSIVE chain(id, root) AS (
		SELECT d.id, d.id FROM dialogs d WHERE d.bot_id = ?
			AND (d.continues = '' OR NOT EXISTS (SELECT 1 FROM dialogs p WHERE p.id = d.continues))
		UNION ALL
		SELECT d.id, c.root FROM dialogs d JOIN chain c ON d.continues = c.id WHERE d.bot_id = ?)
	SELECT COUNT(DISTINCT c.root) FROM chain c JOIN dialogs d ON d.id = c.id
	WHERE d.started_at >= ? AND d.started_at < ? AND EXISTS (SELECT 1 FROM interactions i WHERE i.dialog_seq = d.seq)`),
		botID, botID, bascule.Millis(from), bascule.Millis(to)).Scan(&n)
	return n, err
}

// SetVariable implements bascule.DialogStore.
func (s *Store) SetVariable(ctx context.Context, v *bascule.Variable) error {
	return s.write(ctx, func(t *Tx) error {
		var one int
		if err := t.queryRow("SELECT 1 FROM dialogs WHERE id = ?", v.DialogID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return bascule.NotFoundf("no dialog %s", v.DialogID)
			}
			return err
		}
		if err := t.upsertVariable(v); err != nil {
			return err
		}
		return t.appendChange(bascule.EntityVariable, v.DialogID+"/"+v.Name, bascule.OpPut, v)
	})
}

func (t *Tx) upsertVariable(v *bascule.Variable) error {
	return t.exec("INSERT INTO variables (dialog_id, name, value) VALUES (?, ?, ?) ON CONFLICT (dialog_id, name) DO UPDATE SET value = excluded.value",
		v.DialogID, v.Name, v.Value)
}

// RecordFeedback implements bascule.DialogStore.
func (s *Store) RecordFeedback(ctx context.Context, f *bascule.Feedback) error {
	return s.write(ctx, func(t *Tx) error {
		ok, err := t.insertFeedback(f)
		if err != nil || !ok {
			return err
		}
		return t.appendChange(bascule.EntityFeedback, f.ID, bascule.OpPut, f)
	})
}

func (t *Tx) insertFeedback(f *bascule.Feedback) (bool, error) {
	n, err := t.execN("INSERT INTO feedback (id, dialog_id, interaction_id, kind, value, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
		f.ID, f.DialogID, f.InteractionID, f.Kind, f.Value, bascule.Millis(f.At))
	return n > 0, err
}

// RecordVisit implements bascule.DialogStore.
func (s *Store) RecordVisit(ctx context.Context, v *bascule.Visit) error {
	return s.write(ctx, func(t *Tx) error {
		ok, err := t.insertVisit(v)
		if err != nil || !ok {
			return err
		}
		return t.appendChange(bascule.EntityVisit, v.ID, bascule.OpPut, v)
	})
}

func (t *Tx) insertVisit(v *bascule.Visit) (bool, error) {
	n, err := t.execN("INSERT INTO visits (id, bot_id, client_id, language, space, at, server) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
		v.ID, v.BotID, v.ClientID, v.Language, v.Space, bascule.Millis(v.At), v.Server)
	return n > 0, err
}

// TopKnowledge implements bascule.DialogStore.
func (s *Store) TopKnowledge(ctx context.Context, botID, language string, since time.Time, n int) ([]bascule.KnowledgeCount, error) {
	rows, err := s.r.QueryContext(ctx, s.q("SELECT knowledge_id, COUNT(*) AS c FROM interactions "+
		"WHERE bot_id = ? AND at >= ? AND language = ? AND type = ? AND knowledge_id > 0 "+
		"GROUP BY knowledge_id ORDER BY c DESC, knowledge_id LIMIT ?"),
		botID, bascule.Millis(since), language, bascule.TypeUnderstood, n)
	if err != nil {
		return nil, fmt.Errorf("top knowledge: %w", err)
	}
	defer rows.Close()
	var out []bascule.KnowledgeCount
	for rows.Next() {
		var kc bascule.KnowledgeCount
		if err := rows.Scan(&kc.KnowledgeID, &kc.Count); err != nil {
			return nil, err
		}
		out = append(out, kc)
	}
	return out, rows.Err()
}

// ClientDialogs implements bascule.DialogStore.
func (s *Store) ClientDialogs(ctx context.Context, botID, clientID string) ([]bascule.Dialog, error) {
	rows, err := s.query(ctx, s.selectDialog()+"WHERE d.bot_id = ? AND d.client_id = ? ORDER BY d.started_at, d.id", botID, clientID)
	if err != nil {
		return nil, err
	}
	return scanDialogs(rows)
}

// EraseClient implements bascule.DialogStore.
func (s *Store) EraseClient(ctx context.Context, e *bascule.ClientErasure) (int, error) {
	var n int
	err := s.write(ctx, func(t *Tx) (err error) {
		if n, err = t.eraseClient(e); err != nil {
			return err
		}
		return t.appendChange(bascule.EntityClient, e.BotID+"/"+e.ClientID, bascule.OpDelete, e)
	})
	return n, err
}

// eraseClient deletes a client's dialogs and everything attached to them, and remembers the
// erasure (the client and the dialog ids, which are random and carry no personal data) so
// that copies still travelling from the peer are refused when they arrive.
func (t *Tx) eraseClient(e *bascule.ClientErasure) (int, error) {
	ids, err := ScanStrings(t.query("SELECT id FROM dialogs WHERE bot_id = ? AND client_id = ? AND started_at < ?", e.BotID, e.ClientID, bascule.Millis(e.Before)))
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := t.eraseDialog(id); err != nil {
			return 0, err
		}
	}
	if err := t.exec("DELETE FROM visits WHERE bot_id = ? AND client_id = ? AND at < ?", e.BotID, e.ClientID, bascule.Millis(e.Before)); err != nil {
		return 0, err
	}
	err = t.exec("INSERT INTO erased_clients (bot_id, client_id, before) VALUES (?, ?, ?) ON CONFLICT (bot_id, client_id) DO UPDATE SET before = "+
		t.s.d.Greatest+"(erased_clients.before, excluded.before)", e.BotID, e.ClientID, bascule.Millis(e.Before))
	return len(ids), err
}

func (t *Tx) eraseDialog(id string) error {
	t.forget = append(t.forget, id)
	if err := t.exec("DELETE FROM interactions WHERE dialog_seq = (SELECT seq FROM dialogs WHERE id = ?)", id); err != nil {
		return err
	}
	for _, table := range []string{"variables", "feedback"} {
		if err := t.exec("DELETE FROM "+table+" WHERE dialog_id = ?", id); err != nil {
			return err
		}
	}
	if err := t.exec("DELETE FROM dialogs WHERE id = ?", id); err != nil {
		return err
	}
	return t.exec("INSERT INTO erased_dialogs (id) VALUES (?) ON CONFLICT (id) DO NOTHING", id)
}

// erased reports whether a dialog was erased, or belongs to an erased client and started
// before the erasure.
func (t *Tx) erased(d *bascule.Dialog) (bool, error) {
	var one int
	err := t.queryRow("SELECT 1 FROM erased_dialogs WHERE id = ?", d.ID).Scan(&one)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	if d.ClientID == "" {
		return false, nil
	}
	err = t.queryRow("SELECT 1 FROM erased_clients WHERE bot_id = ? AND client_id = ? AND before > ?", d.BotID, d.ClientID, bascule.Millis(d.StartedAt)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
