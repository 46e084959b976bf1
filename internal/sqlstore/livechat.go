package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bascule/bascule"
)

// Accounts implements bascule.LivechatStore.
func (s *Store) Accounts(ctx context.Context) ([]bascule.Account, error) {
	return queryJSON[bascule.Account](ctx, s, s.r, "SELECT data FROM accounts ORDER BY login")
}

// Account implements bascule.LivechatStore.
func (s *Store) Account(ctx context.Context, login string) (*bascule.Account, error) {
	return getJSON[bascule.Account](ctx, s, "SELECT data FROM accounts WHERE login = ?", "account "+login, login)
}

// PutAccount implements bascule.LivechatStore. The clear password is never stored, whatever
// the caller left in it.
func (s *Store) PutAccount(ctx context.Context, a *bascule.Account) error {
	a.Password = ""
	return s.write(ctx, func(t *Tx) error {
		v, err := t.version("SELECT version FROM accounts WHERE login = ?", a.Login)
		if err != nil {
			return err
		}
		a.Version, a.UpdatedAt = v+1, t.now
		if err := t.upsertAccount(a, false); err != nil {
			return err
		}
		return t.appendChange(bascule.EntityAccount, a.Login, bascule.OpPut, a)
	})
}

func (t *Tx) upsertAccount(a *bascule.Account, onlyNewer bool) error {
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return t.exec("INSERT INTO accounts (login, data, version, updated_at) VALUES (?, ?, ?, ?) "+
		"ON CONFLICT (login) DO UPDATE SET data = excluded.data, version = excluded.version, updated_at = excluded.updated_at"+
		newerOnly("accounts", onlyNewer), a.Login, string(data), a.Version, bascule.Millis(a.UpdatedAt))
}

// DeleteAccount implements bascule.LivechatStore.
func (s *Store) DeleteAccount(ctx context.Context, login string) error {
	return s.write(ctx, func(t *Tx) error {
		n, err := t.execN("DELETE FROM accounts WHERE login = ?", login)
		if err != nil {
			return err
		}
		if n == 0 {
			return bascule.NotFoundf("no account %s", login)
		}
		return t.appendChange(bascule.EntityAccount, login, bascule.OpDelete, nil)
	})
}

// LivechatState implements bascule.LivechatStore.
// Every question asks for its dialog's state: a dialog in the dialog cache keeps it there (the
// writer and replication drop the dialog when its state changes).
func (s *Store) LivechatState(ctx context.Context, dialogID string) (*bascule.LivechatState, error) {
	if e, ok := s.dialogs.get(dialogID); ok && e.liveKnown {
		if e.live == nil {
			return nil, neverHandedOver(dialogID)
		}
		return e.live, nil
	}
	gen := s.dialogs.generation()
	var data []byte
	if err := s.queryRow(ctx, "SELECT data FROM livechat WHERE dialog_id = ?", dialogID).Scan(&data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			s.dialogs.livechatLoaded(dialogID, nil, gen)
			return nil, neverHandedOver(dialogID)
		}
		return nil, fmt.Errorf("read livechat state: %w", err)
	}
	st := new(bascule.LivechatState)
	if err := json.Unmarshal(data, st); err != nil {
		return nil, err
	}
	cp := *st
	s.dialogs.livechatLoaded(dialogID, &cp, gen)
	return st, nil
}

func neverHandedOver(dialogID string) error {
	return bascule.NotFoundf("dialog %s was never handed over", dialogID)
}

// LivechatStates implements bascule.LivechatStore.
func (s *Store) LivechatStates(ctx context.Context, f bascule.LivechatFilter) ([]bascule.LivechatState, error) {
	query := "SELECT data FROM livechat WHERE (? = '' OR bot_id = ?) AND (? = '' OR operator = ?)"
	args := []any{f.BotID, f.BotID, f.Operator, f.Operator}
	if f.Open {
		query += " AND (status IN ('queued', 'assigned') OR (status = 'closed' AND closed_at >= ?))"
		args = append(args, bascule.Millis(f.ClosedSince))
		if f.ClosedSince.IsZero() {
			args[len(args)-1] = int64(1) << 62 // no closed dialog
		}
	}
	rows, err := s.query(ctx, query+" ORDER BY dialog_id", args...)
	if err != nil {
		return nil, fmt.Errorf("list livechat states: %w", err)
	}
	return scanJSON[bascule.LivechatState](rows)
}

// RecordLivechat implements bascule.LivechatStore. Its interactions are numbered from the
// database, inside the transaction, and their dialogs leave the dialog cache: a question
// recorded in the same batch is counted, and the next question is numbered after them.
func (s *Store) RecordLivechat(ctx context.Context, st *bascule.LivechatState, ins ...*bascule.Interaction) error {
	return s.write(ctx, func(t *Tx) error {
		if st != nil {
			cur, err := t.livechatState(st.DialogID)
			if err != nil {
				return err
			}
			if cur != nil && st.Version <= cur.Version {
				return bascule.Errorf(bascule.CodeConflict, "the livechat state of dialog %s changed meanwhile (version %d)", st.DialogID, cur.Version)
			}
			if err := t.upsertLivechat(st); err != nil {
				return err
			}
			if err := t.appendChange(bascule.EntityLivechat, st.DialogID, bascule.OpPut, st); err != nil {
				return err
			}
		}
		for _, in := range ins {
			if err := t.recordLivechatInteraction(in); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *Tx) recordLivechatInteraction(in *bascule.Interaction) error {
	t.forget = append(t.forget, in.DialogID)
	if err := t.queryRow("SELECT n FROM interactions WHERE id = ?", in.ID).Scan(&in.N); err == nil {
		return nil // stored already: a retry
	} else if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if err := t.queryRow("SELECT COALESCE(MAX(n), 0) + 1 FROM interactions WHERE dialog_seq = (SELECT seq FROM dialogs WHERE id = ?)", in.DialogID).Scan(&in.N); err != nil {
		return err
	}
	if _, err := t.insertInteraction(in); err != nil {
		return err
	}
	return t.appendChange(bascule.EntityInteraction, in.ID, bascule.OpPut, nil)
}

// livechatState reads the stored state of a dialog inside the transaction (nil if none).
func (t *Tx) livechatState(dialogID string) (*bascule.LivechatState, error) {
	var data []byte
	err := t.queryRow("SELECT data FROM livechat WHERE dialog_id = ?", dialogID).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	st := new(bascule.LivechatState)
	return st, json.Unmarshal(data, st)
}

func (t *Tx) upsertLivechat(st *bascule.LivechatState) error {
	t.forget = append(t.forget, st.DialogID) // the cached state is stale from this commit on
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return t.exec("INSERT INTO livechat (dialog_id, bot_id, status, operator, version, server, closed_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "+
		"ON CONFLICT (dialog_id) DO UPDATE SET bot_id = excluded.bot_id, status = excluded.status, operator = excluded.operator, "+
		"version = excluded.version, server = excluded.server, closed_at = excluded.closed_at, data = excluded.data",
		st.DialogID, st.BotID, st.Status, st.Operator, st.Version, st.Server, bascule.Millis(st.ClosedAt), string(data))
}

// applyLivechat makes a peer's account or livechat change true here: the newer version wins,
// so versions arriving late or twice change nothing.
func (t *Tx) applyLivechat(c *bascule.Change) error {
	switch c.Entity + " " + c.Op {
	case bascule.EntityAccount + " " + bascule.OpPut:
		a, err := decode[bascule.Account](c)
		if err != nil {
			return err
		}
		return t.upsertAccount(a, true)
	case bascule.EntityAccount + " " + bascule.OpDelete:
		return t.exec("DELETE FROM accounts WHERE login = ?", c.Key)
	case bascule.EntityLivechat + " " + bascule.OpPut:
		st, err := decode[bascule.LivechatState](c)
		if err != nil {
			return err
		}
		if gone, err := t.erased(&bascule.Dialog{ID: st.DialogID}); err != nil || gone {
			return err
		}
		cur, err := t.livechatState(st.DialogID)
		if err != nil || !st.Newer(cur) {
			return err
		}
		return t.upsertLivechat(st)
	}
	return fmt.Errorf("unknown change %s %s", c.Op, c.Entity)
}
