package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bascule/bascule"
)

// Knowledge-side rows keep their whole entity as JSON in a data column, beside the key
// columns: they are always read whole, and the change feed carries the same JSON.

// Bots implements bascule.KnowledgeStore.
func (s *Store) Bots(ctx context.Context) ([]bascule.Bot, error) {
	return queryJSON[bascule.Bot](ctx, s, s.r, "SELECT data FROM bots ORDER BY id")
}

// Bot implements bascule.KnowledgeStore.
func (s *Store) Bot(ctx context.Context, id string) (*bascule.Bot, error) {
	return getJSON[bascule.Bot](ctx, s, "SELECT data FROM bots WHERE id = ?", "bot "+id, id)
}

// Knowledge implements bascule.KnowledgeStore.
func (s *Store) Knowledge(ctx context.Context, botID string, id int64) (*bascule.Knowledge, error) {
	return getJSON[bascule.Knowledge](ctx, s, "SELECT data FROM knowledge WHERE bot_id = ? AND id = ?",
		"knowledge "+strconv.FormatInt(id, 10), botID, id)
}

// KnowledgeBase implements bascule.KnowledgeStore. The reads share one transaction so the
// model is consistent even while it is being edited.
func (s *Store) KnowledgeBase(ctx context.Context, botID string) (*bascule.KnowledgeBase, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return s.loadKnowledgeBase(ctx, tx, botID)
}

// queryer is what reads need: a pool or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) loadKnowledgeBase(ctx context.Context, db queryer, botID string) (*bascule.KnowledgeBase, error) {
	kb := &bascule.KnowledgeBase{Format: bascule.KnowledgeFormat}
	var data []byte
	if err := db.QueryRowContext(ctx, s.q("SELECT data FROM bots WHERE id = ?"), botID).Scan(&data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, bascule.NotFoundf("no bot %s", botID)
		}
		return nil, err
	}
	if err := json.Unmarshal(data, &kb.Bot); err != nil {
		return nil, fmt.Errorf("decode bot %s: %w", botID, err)
	}
	var err error
	if kb.Knowledge, err = queryJSON[bascule.Knowledge](ctx, s, db, "SELECT data FROM knowledge WHERE bot_id = ? ORDER BY id", botID); err != nil {
		return nil, err
	}
	if kb.Groups, err = queryJSON[bascule.MatchingGroup](ctx, s, db, "SELECT data FROM matching_groups WHERE bot_id = ? ORDER BY name, language", botID); err != nil {
		return nil, err
	}
	if kb.Sentences, err = queryJSON[bascule.Sentence](ctx, s, db, "SELECT data FROM sentences WHERE bot_id = ? ORDER BY kind, language", botID); err != nil {
		return nil, err
	}
	return kb, nil
}

func queryJSON[T any](ctx context.Context, s *Store, db queryer, query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	return scanJSON[T](rows)
}

// PutBot implements bascule.KnowledgeStore.
func (s *Store) PutBot(ctx context.Context, b *bascule.Bot) error {
	return s.write(ctx, func(t *Tx) error { return t.putBot(b) })
}

func (t *Tx) putBot(b *bascule.Bot) error {
	v, err := t.version("SELECT version FROM bots WHERE id = ?", b.ID)
	if err != nil {
		return err
	}
	b.Version, b.UpdatedAt = v+1, t.now
	if err := t.upsertBot(b, false); err != nil {
		return err
	}
	t.knowledgeChanged(b.ID)
	return t.appendChange(bascule.EntityBot, b.ID, bascule.OpPut, b)
}

// upsertBot writes a bot row; onlyNewer keeps a row whose version is not older (replication).
func (t *Tx) upsertBot(b *bascule.Bot, onlyNewer bool) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return t.exec("INSERT INTO bots (id, data, version, updated_at) VALUES (?, ?, ?, ?) "+
		"ON CONFLICT (id) DO UPDATE SET data = excluded.data, version = excluded.version, updated_at = excluded.updated_at"+
		newerOnly("bots", onlyNewer), b.ID, string(data), b.Version, bascule.Millis(b.UpdatedAt))
}

func newerOnly(table string, on bool) string {
	if !on {
		return ""
	}
	return " WHERE " + table + ".version < excluded.version"
}

// DeleteBot implements bascule.KnowledgeStore.
func (s *Store) DeleteBot(ctx context.Context, id string) error {
	return s.write(ctx, func(t *Tx) error {
		n, err := t.deleteBot(id)
		if err != nil {
			return err
		}
		if n == 0 {
			return bascule.NotFoundf("no bot %s", id)
		}
		return t.appendChange(bascule.EntityBot, id, bascule.OpDelete, nil)
	})
}

func (t *Tx) deleteBot(id string) (int64, error) {
	for _, table := range []string{"knowledge", "matching_groups", "sentences"} {
		if err := t.exec("DELETE FROM "+table+" WHERE bot_id = ?", id); err != nil {
			return 0, err
		}
	}
	t.knowledgeChanged(id)
	return t.execN("DELETE FROM bots WHERE id = ?", id)
}

// PutKnowledge implements bascule.KnowledgeStore.
func (s *Store) PutKnowledge(ctx context.Context, botID string, k *bascule.Knowledge) error {
	return s.write(ctx, func(t *Tx) error { return t.putKnowledge(botID, k) })
}

func (t *Tx) putKnowledge(botID string, k *bascule.Knowledge) error {
	if err := t.requireBot(botID); err != nil {
		return err
	}
	counter := "knowledge:" + botID
	if k.ID == 0 {
		id, err := t.nextCounter(counter)
		if err != nil {
			return fmt.Errorf("allocate knowledge id: %w", err)
		}
		k.ID = id
	} else if err := t.raiseCounter(counter, k.ID); err != nil {
		return err
	}
	v, err := t.version("SELECT version FROM knowledge WHERE bot_id = ? AND id = ?", botID, k.ID)
	if err != nil {
		return err
	}
	k.Version, k.UpdatedAt = v+1, t.now
	if err := t.upsertKnowledge(botID, k, false); err != nil {
		return err
	}
	t.knowledgeChanged(botID)
	return t.appendChange(bascule.EntityKnowledge, botID+"/"+strconv.FormatInt(k.ID, 10), bascule.OpPut,
		bascule.BotItem[*bascule.Knowledge]{BotID: botID, Item: k})
}

func (t *Tx) upsertKnowledge(botID string, k *bascule.Knowledge, onlyNewer bool) error {
	data, err := json.Marshal(k)
	if err != nil {
		return err
	}
	return t.exec("INSERT INTO knowledge (bot_id, id, data, version, updated_at) VALUES (?, ?, ?, ?, ?) "+
		"ON CONFLICT (bot_id, id) DO UPDATE SET data = excluded.data, version = excluded.version, updated_at = excluded.updated_at"+
		newerOnly("knowledge", onlyNewer), botID, k.ID, string(data), k.Version, bascule.Millis(k.UpdatedAt))
}

// DeleteKnowledge implements bascule.KnowledgeStore.
func (s *Store) DeleteKnowledge(ctx context.Context, botID string, id int64) error {
	return s.write(ctx, func(t *Tx) error { return t.deleteKnowledge(botID, id) })
}

func (t *Tx) deleteKnowledge(botID string, id int64) error {
	n, err := t.execN("DELETE FROM knowledge WHERE bot_id = ? AND id = ?", botID, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return bascule.NotFoundf("no knowledge %d in bot %s", id, botID)
	}
	t.knowledgeChanged(botID)
	return t.appendChange(bascule.EntityKnowledge, botID+"/"+strconv.FormatInt(id, 10), bascule.OpDelete,
		bascule.BotItem[int64]{BotID: botID, Item: id})
}

// PutGroup implements bascule.KnowledgeStore.
func (s *Store) PutGroup(ctx context.Context, botID string, g *bascule.MatchingGroup) error {
	return s.write(ctx, func(t *Tx) error { return t.putGroup(botID, g) })
}

func (t *Tx) putGroup(botID string, g *bascule.MatchingGroup) error {
	if err := t.requireBot(botID); err != nil {
		return err
	}
	v, err := t.version("SELECT version FROM matching_groups WHERE bot_id = ? AND name = ? AND language = ?", botID, g.Name, g.Language)
	if err != nil {
		return err
	}
	g.Version, g.UpdatedAt = v+1, t.now
	if err := t.upsertGroup(botID, g, false); err != nil {
		return err
	}
	t.knowledgeChanged(botID)
	return t.appendChange(bascule.EntityGroup, groupKey(botID, g.Name, g.Language), bascule.OpPut,
		bascule.BotItem[*bascule.MatchingGroup]{BotID: botID, Item: g})
}

func groupKey(botID, name, lang string) string { return botID + "/" + name + "/" + lang }

func (t *Tx) upsertGroup(botID string, g *bascule.MatchingGroup, onlyNewer bool) error {
	data, err := json.Marshal(g)
	if err != nil {
		return err
	}
	return t.exec("INSERT INTO matching_groups (bot_id, name, language, data, version, updated_at) VALUES (?, ?, ?, ?, ?, ?) "+
		"ON CONFLICT (bot_id, name, language) DO UPDATE SET data = excluded.data, version = excluded.version, updated_at = excluded.updated_at"+
		newerOnly("matching_groups", onlyNewer), botID, g.Name, g.Language, string(data), g.Version, bascule.Millis(g.UpdatedAt))
}

// DeleteGroup implements bascule.KnowledgeStore.
func (s *Store) DeleteGroup(ctx context.Context, botID, name, language string) error {
	return s.write(ctx, func(t *Tx) error { return t.deleteGroup(botID, name, language) })
}

func (t *Tx) deleteGroup(botID, name, language string) error {
	n, err := t.execN("DELETE FROM matching_groups WHERE bot_id = ? AND name = ? AND language = ?", botID, name, language)
	if err != nil {
		return err
	}
	if n == 0 {
		return bascule.NotFoundf("no matching group %q (language %q) in bot %s", name, language, botID)
	}
	t.knowledgeChanged(botID)
	return t.appendChange(bascule.EntityGroup, groupKey(botID, name, language), bascule.OpDelete,
		bascule.BotItem[bascule.MatchingGroup]{BotID: botID, Item: bascule.MatchingGroup{Name: name, Language: language}})
}

// PutSentence implements bascule.KnowledgeStore.
func (s *Store) PutSentence(ctx context.Context, botID string, se *bascule.Sentence) error {
	return s.write(ctx, func(t *Tx) error { return t.putSentence(botID, se) })
}

func (t *Tx) putSentence(botID string, se *bascule.Sentence) error {
	if err := t.requireBot(botID); err != nil {
		return err
	}
	v, err := t.version("SELECT version FROM sentences WHERE bot_id = ? AND kind = ? AND language = ?", botID, se.Kind, se.Language)
	if err != nil {
		return err
	}
	se.Version, se.UpdatedAt = v+1, t.now
	if err := t.upsertSentence(botID, se, false); err != nil {
		return err
	}
	t.knowledgeChanged(botID)
	return t.appendChange(bascule.EntitySentence, botID+"/"+se.Kind+"/"+se.Language, bascule.OpPut,
		bascule.BotItem[*bascule.Sentence]{BotID: botID, Item: se})
}

func (t *Tx) upsertSentence(botID string, se *bascule.Sentence, onlyNewer bool) error {
	data, err := json.Marshal(se)
	if err != nil {
		return err
	}
	return t.exec("INSERT INTO sentences (bot_id, kind, language, data, version, updated_at) VALUES (?, ?, ?, ?, ?, ?) "+
		"ON CONFLICT (bot_id, kind, language) DO UPDATE SET data = excluded.data, version = excluded.version, updated_at = excluded.updated_at"+
		newerOnly("sentences", onlyNewer), botID, se.Kind, se.Language, string(data), se.Version, bascule.Millis(se.UpdatedAt))
}

// ReplaceKnowledgeBase implements bascule.KnowledgeStore. Items equal to the stored ones are
// left alone, so re-importing the same file sends nothing to the peer.
func (s *Store) ReplaceKnowledgeBase(ctx context.Context, kb *bascule.KnowledgeBase) error {
	return s.write(ctx, func(t *Tx) error {
		old, err := s.loadKnowledgeBase(t.ctx, t.tx, kb.Bot.ID)
		if errors.Is(err, bascule.ErrNotFound) {
			old, err = &bascule.KnowledgeBase{}, nil
		}
		if err != nil {
			return err
		}
		if old.Bot.ID != "" && sameContent(&old.Bot, &kb.Bot, func(b *bascule.Bot) { b.Version, b.UpdatedAt = 0, zeroTime }) {
			kb.Bot = old.Bot
		} else if err := t.putBot(&kb.Bot); err != nil {
			return err
		}
		keep := map[int64]bool{}
		for i := range kb.Knowledge {
			keep[kb.Knowledge[i].ID] = true
		}
		oldK := map[int64]*bascule.Knowledge{}
		for i := range old.Knowledge {
			k := &old.Knowledge[i]
			oldK[k.ID] = k
			if !keep[k.ID] {
				if err := t.deleteKnowledge(kb.Bot.ID, k.ID); err != nil {
					return err
				}
			}
		}
		for i := range kb.Knowledge {
			k := &kb.Knowledge[i]
			if prev := oldK[k.ID]; prev != nil && sameContent(prev, k, func(k *bascule.Knowledge) { k.Version, k.UpdatedAt = 0, zeroTime }) {
				*k = *prev
				continue
			}
			if err := t.putKnowledge(kb.Bot.ID, k); err != nil {
				return err
			}
		}
		keepG := map[string]bool{}
		for _, g := range kb.Groups {
			keepG[g.Name+"/"+g.Language] = true
		}
		oldG := map[string]*bascule.MatchingGroup{}
		for i := range old.Groups {
			g := &old.Groups[i]
			oldG[g.Name+"/"+g.Language] = g
			if !keepG[g.Name+"/"+g.Language] {
				if err := t.deleteGroup(kb.Bot.ID, g.Name, g.Language); err != nil {
					return err
				}
			}
		}
		for i := range kb.Groups {
			g := &kb.Groups[i]
			if prev := oldG[g.Name+"/"+g.Language]; prev != nil && sameContent(prev, g, func(g *bascule.MatchingGroup) { g.Version, g.UpdatedAt = 0, zeroTime }) {
				*g = *prev
				continue
			}
			if err := t.putGroup(kb.Bot.ID, g); err != nil {
				return err
			}
		}
		oldS := map[string]*bascule.Sentence{}
		for i := range old.Sentences {
			oldS[old.Sentences[i].Kind+"/"+old.Sentences[i].Language] = &old.Sentences[i]
		}
		for i := range kb.Sentences {
			se := &kb.Sentences[i]
			if prev := oldS[se.Kind+"/"+se.Language]; prev != nil && sameContent(prev, se, func(s *bascule.Sentence) { s.Version, s.UpdatedAt = 0, zeroTime }) {
				*se = *prev
				continue
			}
			if err := t.putSentence(kb.Bot.ID, se); err != nil {
				return err
			}
		}
		return nil
	})
}

// sameContent compares two entities after clearing what the store assigns (version, time).
func sameContent[T any](a, b *T, clear func(*T)) bool {
	ca, cb := *a, *b
	clear(&ca)
	clear(&cb)
	ja, err1 := json.Marshal(ca)
	jb, err2 := json.Marshal(cb)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

var zeroTime time.Time

func (t *Tx) requireBot(botID string) error {
	var one int
	err := t.queryRow("SELECT 1 FROM bots WHERE id = ?", botID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return bascule.NotFoundf("no bot %s", botID)
	}
	return err
}

// version returns the current version of a row, 0 when it does not exist.
func (t *Tx) version(query string, args ...any) (int64, error) {
	var v int64
	err := t.queryRow(query, args...).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

func getJSON[T any](ctx context.Context, s *Store, query, what string, args ...any) (*T, error) {
	var data []byte
	if err := s.r.QueryRowContext(ctx, s.q(query), args...).Scan(&data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, bascule.NotFoundf("no %s", what)
		}
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", what, err)
	}
	return v, nil
}

// ScanStrings reads a query of one text column, closing its rows; it takes the query's
// results as they come: ScanStrings(tx.QueryContext(...)).
func ScanStrings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanJSON[T any](rows *sql.Rows) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
