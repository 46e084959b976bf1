package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bascule/bascule"
)

// The columns of an upload without its content, which listings leave out.
const uploadColumns = "id, dialog_id, bot_id, name, content_type, size, sha256, scan, at, server"

// maxFeedUploadBytes bounds the file content in one answer of Changes: a batch is read,
// encoded and sent to the peer whole, and a full batch of files of several MiB each would not
// fit in memory. Past the bound the batch ends before the next file (always after the first),
// and the peer pulls the rest next.
const maxFeedUploadBytes = 16 << 20

// SaveUpload implements bascule.UploadStore.
func (s *Store) SaveUpload(ctx context.Context, u *bascule.Upload) error {
	return s.write(ctx, func(t *Tx) error {
		var one int
		if err := t.queryRow("SELECT 1 FROM dialogs WHERE id = ?", u.DialogID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return bascule.NotFoundf("no dialog %s", u.DialogID)
			}
			return err
		}
		stored, err := t.insertUpload(u)
		if err != nil || !stored {
			return err
		}
		// The content is not copied into the feed: Changes reads it when the peer asks.
		return t.appendChange(bascule.EntityUpload, u.ID, bascule.OpPut, nil)
	})
}

func (t *Tx) insertUpload(u *bascule.Upload) (bool, error) {
	data := u.Data
	if data == nil {
		data = []byte{} // an empty file is an empty blob, not a missing one
	}
	n, err := t.execN("INSERT INTO uploads ("+uploadColumns+", data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
		u.ID, u.DialogID, u.BotID, u.Name, u.ContentType, u.Size, u.SHA256, u.Scan, bascule.Millis(u.At), u.Server, data)
	return n > 0, err
}

func scanUpload(sc interface{ Scan(...any) error }, withData bool) (*bascule.Upload, error) {
	var u bascule.Upload
	var at int64
	dest := []any{&u.ID, &u.DialogID, &u.BotID, &u.Name, &u.ContentType, &u.Size, &u.SHA256, &u.Scan, &at, &u.Server}
	if withData {
		dest = append(dest, &u.Data)
	}
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	u.At = bascule.FromMillis(at)
	return &u, nil
}

// Upload implements bascule.UploadStore.
func (s *Store) Upload(ctx context.Context, id string) (*bascule.Upload, error) {
	u, err := scanUpload(s.queryRow(ctx, "SELECT "+uploadColumns+", data FROM uploads WHERE id = ?", id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bascule.NotFoundf("no upload %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	return u, nil
}

// Uploads implements bascule.UploadStore.
func (s *Store) Uploads(ctx context.Context, dialogID string) ([]bascule.Upload, error) {
	rows, err := s.query(ctx, "SELECT "+uploadColumns+" FROM uploads WHERE dialog_id = ? ORDER BY at, id", dialogID)
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	defer rows.Close()
	var out []bascule.Upload
	for rows.Next() {
		u, err := scanUpload(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// fillUploads reads the files that upload puts of a batch refer to, within
// maxFeedUploadBytes, and returns the batch, cut before the first file over the bound. A file
// that is gone was erased since: its change becomes a delete, so the peer drops any copy too.
func (s *Store) fillUploads(ctx context.Context, changes []bascule.Change) ([]bascule.Change, error) {
	total := 0
	for i := range changes {
		c := &changes[i]
		if c.Entity != bascule.EntityUpload || c.Op != bascule.OpPut {
			continue
		}
		if total >= maxFeedUploadBytes {
			return changes[:i], nil
		}
		u, err := s.Upload(ctx, c.Key)
		if errors.Is(err, bascule.ErrNotFound) {
			c.Op = bascule.OpDelete
			continue
		}
		if err != nil {
			return nil, err
		}
		if c.Data, err = json.Marshal(u); err != nil {
			return nil, err
		}
		total += len(u.Data)
	}
	return changes, nil
}

// applyUpload stores a peer's file, unless its dialog was erased here.
func (t *Tx) applyUpload(c *bascule.Change) error {
	u, err := decode[bascule.Upload](c)
	if err != nil {
		return err
	}
	if gone, err := t.erased(&bascule.Dialog{ID: u.DialogID}); err != nil || gone {
		return err
	}
	// As for interactions: a dialog unknown here (a database restored from an older dump) is
	// made minimal, so that the file is kept and an erasure of the dialog still removes it.
	t.forget = append(t.forget, u.DialogID)
	if _, err := t.insertDialog(&bascule.Dialog{ID: u.DialogID, BotID: u.BotID, StartedAt: u.At}); err != nil {
		return err
	}
	_, err = t.insertUpload(u)
	return err
}
