package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/bascule/bascule"
)

// Changes implements bascule.FeedStore. Only this server's own changes are served: what was
// applied from the peer is not in the feed, so nothing ping-pongs between the two.
func (s *Store) Changes(ctx context.Context, class bascule.FeedClass, since int64, limit int) ([]bascule.Change, error) {
	upTo := int64(math.MaxInt64)
	if s.sync != nil {
		upTo = s.durable.Load() // committed but not yet on disk: not shown
	}
	rows, err := s.query(ctx, "SELECT seq, entity, key, op, data, at FROM changes WHERE origin = ? AND class = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
		s.serverID, string(class), since, upTo, limit)
	if err != nil {
		return nil, fmt.Errorf("read feed: %w", err)
	}
	defer rows.Close()
	var out []bascule.Change
	for rows.Next() {
		c := bascule.Change{Origin: s.serverID}
		var data string
		var at int64
		if err := rows.Scan(&c.Seq, &c.Entity, &c.Key, &c.Op, &data, &at); err != nil {
			return nil, err
		}
		if data != "" {
			c.Data = json.RawMessage(data)
		}
		c.At = bascule.FromMillis(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := s.fillReferences(ctx, out); err != nil {
		return nil, err
	}
	return s.fillUploads(ctx, out)
}

// fillReferences reads the rows that dialog and interaction puts refer to. A row that is gone
// was erased (GDPR) since: its change becomes a delete, so the peer drops any copy too and the
// cursor still moves past it.
func (s *Store) fillReferences(ctx context.Context, changes []bascule.Change) error {
	refs := map[string]map[string]*bascule.Change{bascule.EntityDialog: {}, bascule.EntityInteraction: {}}
	for i := range changes {
		c := &changes[i]
		if m, ok := refs[c.Entity]; ok && c.Op == bascule.OpPut && len(c.Data) == 0 {
			m[c.Key] = c
		}
	}
	for entity, m := range refs {
		ids := make([]string, 0, len(m))
		for id := range m {
			ids = append(ids, id)
		}
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), 500)]
			ids = ids[len(chunk):]
			if err := s.loadReferenced(ctx, entity, chunk, m); err != nil {
				return err
			}
		}
		for _, c := range m {
			if len(c.Data) == 0 {
				c.Op = bascule.OpDelete
			}
		}
	}
	return nil
}

func (s *Store) loadReferenced(ctx context.Context, entity string, ids []string, into map[string]*bascule.Change) error {
	marks := marks(len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var rows *sql.Rows
	var err error
	if entity == bascule.EntityDialog {
		rows, err = s.r.QueryContext(ctx, s.q(s.selectDialog()+"WHERE d.id IN ("+marks+")"), args...)
	} else {
		rows, err = s.r.QueryContext(ctx, s.q("SELECT "+interactionColumns+" FROM interactions WHERE id IN ("+marks+")"), args...)
	}
	if err != nil {
		return fmt.Errorf("read %s rows of the feed: %w", entity, err)
	}
	put := func(id string, v any) error {
		b, err := json.Marshal(v)
		if err == nil {
			into[id].Data = b
		}
		return err
	}
	if entity == bascule.EntityDialog {
		ds, err := scanDialogs(rows)
		if err != nil {
			return err
		}
		for i := range ds {
			if err := put(ds[i].ID, &ds[i]); err != nil {
				return err
			}
		}
		return nil
	}
	ins, err := scanInteractions(rows)
	if err != nil {
		return err
	}
	for i := range ins {
		if err := put(ins[i].ID, &ins[i]); err != nil {
			return err
		}
	}
	return nil
}

// LastSeq implements bascule.FeedStore.
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	var v int64
	err := s.queryRow(ctx, "SELECT value FROM counters WHERE name = 'feed'").Scan(&v)
	return v, err
}

// ClassSeq implements bascule.FeedStore.
func (s *Store) ClassSeq(ctx context.Context, class bascule.FeedClass) (int64, error) {
	upTo := int64(math.MaxInt64)
	if s.sync != nil {
		upTo = s.durable.Load() // as Changes: what the peer can have
	}
	var v int64
	err := s.queryRow(ctx, "SELECT COALESCE(MAX(seq), 0) FROM changes WHERE origin = ? AND class = ? AND seq <= ?", s.serverID, string(class), upTo).Scan(&v)
	return v, err
}

// Cursor implements bascule.FeedStore.
func (s *Store) Cursor(ctx context.Context, origin string, class bascule.FeedClass) (int64, error) {
	var v int64
	err := s.queryRow(ctx, "SELECT seq FROM cursors WHERE origin = ? AND class = ?", origin, string(class)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// Apply implements bascule.FeedStore. The changes and the cursor commit together: after a
// crash the batch is either fully applied with its cursor, or not at all.
func (s *Store) Apply(ctx context.Context, origin string, class bascule.FeedClass, changes []bascule.Change, cursor int64) error {
	if origin == s.serverID {
		return bascule.Errorf(bascule.CodeInvalid, "refusing to apply changes of this server (%s) to itself", origin)
	}
	return s.write(ctx, func(t *Tx) error {
		for i := range changes {
			c := &changes[i]
			if got := bascule.ClassOf(c.Entity); got != class {
				return fmt.Errorf("change %d (%s) belongs to the %s stream, not %s", c.Seq, c.Entity, got, class)
			}
			if err := t.apply(c); err != nil {
				return fmt.Errorf("apply change %d (%s %s %s) from %s: %w", c.Seq, c.Op, c.Entity, c.Key, origin, err)
			}
		}
		return t.exec("INSERT INTO cursors (origin, class, seq) VALUES (?, ?, ?) ON CONFLICT (origin, class) DO UPDATE SET seq = "+
			t.s.d.Greatest+"(cursors.seq, excluded.seq)", origin, string(class), cursor)
	})
}

// apply makes one change of the peer true here, idempotently.
func (t *Tx) apply(c *bascule.Change) error {
	switch c.Entity + " " + c.Op {
	case bascule.EntityBot + " " + bascule.OpPut:
		b, err := decode[bascule.Bot](c)
		if err != nil {
			return err
		}
		t.knowledgeChanged(b.ID)
		return t.upsertBot(b, true)
	case bascule.EntityBot + " " + bascule.OpDelete:
		_, err := t.deleteBot(c.Key)
		return err
	case bascule.EntityKnowledge + " " + bascule.OpPut:
		it, err := decode[bascule.BotItem[*bascule.Knowledge]](c)
		if err != nil || it.Item == nil {
			return errors.Join(err, errNoItem)
		}
		if err := t.raiseCounter("knowledge:"+it.BotID, it.Item.ID); err != nil {
			return err
		}
		t.knowledgeChanged(it.BotID)
		return t.upsertKnowledge(it.BotID, it.Item, true)
	case bascule.EntityKnowledge + " " + bascule.OpDelete:
		it, err := decode[bascule.BotItem[int64]](c)
		if err != nil {
			return err
		}
		t.knowledgeChanged(it.BotID)
		return t.exec("DELETE FROM knowledge WHERE bot_id = ? AND id = ?", it.BotID, it.Item)
	case bascule.EntityGroup + " " + bascule.OpPut:
		it, err := decode[bascule.BotItem[*bascule.MatchingGroup]](c)
		if err != nil || it.Item == nil {
			return errors.Join(err, errNoItem)
		}
		t.knowledgeChanged(it.BotID)
		return t.upsertGroup(it.BotID, it.Item, true)
	case bascule.EntityGroup + " " + bascule.OpDelete:
		it, err := decode[bascule.BotItem[bascule.MatchingGroup]](c)
		if err != nil {
			return err
		}
		t.knowledgeChanged(it.BotID)
		return t.exec("DELETE FROM matching_groups WHERE bot_id = ? AND name = ? AND language = ?", it.BotID, it.Item.Name, it.Item.Language)
	case bascule.EntitySentence + " " + bascule.OpPut:
		it, err := decode[bascule.BotItem[*bascule.Sentence]](c)
		if err != nil || it.Item == nil {
			return errors.Join(err, errNoItem)
		}
		t.knowledgeChanged(it.BotID)
		return t.upsertSentence(it.BotID, it.Item, true)
	case bascule.EntityDialog + " " + bascule.OpPut:
		d, err := decode[bascule.Dialog](c)
		if err != nil {
			return err
		}
		return t.applyDialog(d)
	case bascule.EntityInteraction + " " + bascule.OpPut:
		in, err := decode[bascule.Interaction](c)
		if err != nil {
			return err
		}
		return t.applyInteraction(in)
	case bascule.EntityInteraction + " " + bascule.OpDelete:
		return t.exec("DELETE FROM interactions WHERE id = ?", c.Key)
	case bascule.EntityDialog + " " + bascule.OpDelete:
		return t.eraseDialog(c.Key)
	case bascule.EntityVariable + " " + bascule.OpPut:
		v, err := decode[bascule.Variable](c)
		if err != nil {
			return err
		}
		if gone, err := t.erased(&bascule.Dialog{ID: v.DialogID}); err != nil || gone {
			return err
		}
		return t.upsertVariable(v)
	case bascule.EntityFeedback + " " + bascule.OpPut:
		f, err := decode[bascule.Feedback](c)
		if err != nil {
			return err
		}
		if gone, err := t.erased(&bascule.Dialog{ID: f.DialogID}); err != nil || gone {
			return err
		}
		_, err = t.insertFeedback(f)
		return err
	case bascule.EntityVisit + " " + bascule.OpPut:
		v, err := decode[bascule.Visit](c)
		if err != nil {
			return err
		}
		_, err = t.insertVisit(v)
		return err
	case bascule.EntityUpload + " " + bascule.OpPut:
		return t.applyUpload(c)
	case bascule.EntityUpload + " " + bascule.OpDelete:
		return t.exec("DELETE FROM uploads WHERE id = ?", c.Key)
	case bascule.EntityAccount + " " + bascule.OpPut, bascule.EntityAccount + " " + bascule.OpDelete,
		bascule.EntityLivechat + " " + bascule.OpPut:
		return t.applyLivechat(c)
	case bascule.EntityClient + " " + bascule.OpDelete:
		e, err := decode[bascule.ClientErasure](c)
		if err != nil {
			return err
		}
		_, err = t.eraseClient(e)
		return err
	}
	return fmt.Errorf("unknown change %s %s: the peer runs a newer version; upgrade this server", c.Op, c.Entity)
}

var errNoItem = errors.New("change carries no item")

func decode[T any](c *bascule.Change) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(c.Data, v); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return v, nil
}

func (t *Tx) applyDialog(d *bascule.Dialog) error {
	t.forget = append(t.forget, d.ID)
	gone, err := t.erased(d)
	if err != nil {
		return err
	}
	if gone {
		return t.exec("INSERT INTO erased_dialogs (id) VALUES (?) ON CONFLICT (id) DO NOTHING", d.ID)
	}
	_, err = t.insertDialog(d)
	return err
}

// applyInteraction stores a peer's interaction. If its dialog is unknown here (this database
// was restored from an older dump, say) a minimal dialog is made so the interaction is kept.
func (t *Tx) applyInteraction(in *bascule.Interaction) error {
	t.forget = append(t.forget, in.DialogID)
	if gone, err := t.erased(&bascule.Dialog{ID: in.DialogID}); err != nil || gone {
		return err
	}
	if _, err := t.insertDialog(&bascule.Dialog{ID: in.DialogID, BotID: in.BotID, Language: in.Language, Space: in.Space,
		StartedAt: in.At}); err != nil {
		return err
	}
	_, err := t.insertInteraction(in)
	return err
}
