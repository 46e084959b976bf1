package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/bascule/bascule"
)

// NewUpload makes a scanned file of a dialog as the engine would.
func NewUpload(d *bascule.Dialog, name string, data []byte, at time.Time) *bascule.Upload {
	sum := sha256.Sum256(data)
	return &bascule.Upload{ID: bascule.NewOrderedID(at), DialogID: d.ID, BotID: d.BotID, Name: name, ContentType: "application/pdf",
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Scan: bascule.ScanClean, At: at.UTC().Truncate(time.Millisecond), Data: data}
}

// testUploads: files are stored with their dialog, listed without their content, replicated
// once however often a batch arrives, and a batch of large files is split.
func testUploads(t *testing.T, open Factory) {
	ctx := context.Background()
	main, backup := newStore(t, open), newStore(t, open)
	now := time.Now()
	orphan := NewDialog("c", now)
	if err := main.SaveUpload(ctx, NewUpload(orphan, "a.pdf", []byte("%PDF"), now)); !errors.Is(err, bascule.ErrNotFound) {
		t.Fatalf("a file of an unknown dialog: got %v, want not found", err)
	}
	d := NewDialog("c", now)
	must(t, main.RecordTalk(ctx, d, nil))
	u := NewUpload(d, "invoice.pdf", []byte("%PDF-1.7 the invoice"), now)
	u.Server = main.ServerID()
	must(t, main.SaveUpload(ctx, u))
	again := *u
	must(t, main.SaveUpload(ctx, &again)) // a retry: stored once
	empty := NewUpload(d, "empty.txt", nil, now.Add(time.Second))
	must(t, main.SaveUpload(ctx, empty))

	for _, s := range []bascule.Store{main, backup} {
		if s == backup {
			Replicate(t, main, backup)
			Replicate(t, main, backup)
		}
		got, err := s.Upload(ctx, u.ID)
		must(t, err)
		if !sameUpload(got, u) {
			t.Fatalf("store %s returned %+v, want %+v", s.ServerID(), got, u)
		}
		list, err := s.Uploads(ctx, d.ID)
		must(t, err)
		if len(list) != 2 || list[0].ID != u.ID || list[0].Data != nil || list[0].Size != u.Size || list[1].ID != empty.ID {
			t.Fatalf("store %s lists %+v", s.ServerID(), list)
		}
		if got, err := s.Upload(ctx, empty.ID); err != nil || len(got.Data) != 0 {
			t.Fatalf("empty file on %s: %+v, %v", s.ServerID(), got, err)
		}
	}
	if _, err := main.Upload(ctx, bascule.NewID()); !errors.Is(err, bascule.ErrNotFound) {
		t.Fatalf("an unknown upload: got %v, want not found", err)
	}
	own, err := backup.Changes(ctx, bascule.ClassDialogs, 0, 10)
	must(t, err)
	if len(own) != 0 {
		t.Fatalf("applied files must not enter the backup's own feed, found %d changes", len(own))
	}

	// Large files: a batch stops early, and replication still copies every file.
	big := NewDialog("big", now)
	must(t, main.RecordTalk(ctx, big, nil))
	var ids []string
	for i := range 4 {
		f := NewUpload(big, "scan.tiff", bytes.Repeat([]byte{byte(i)}, 9<<20), now.Add(time.Duration(i)*time.Millisecond))
		must(t, main.SaveUpload(ctx, f))
		ids = append(ids, f.ID)
	}
	cursor, err := backup.Cursor(ctx, main.ServerID(), bascule.ClassDialogs)
	must(t, err)
	batch, err := main.Changes(ctx, bascule.ClassDialogs, cursor, 1000)
	must(t, err)
	carried := 0
	for _, c := range batch {
		carried += len(c.Data)
	}
	if len(batch) == 0 || carried >= 32<<20 {
		t.Fatalf("one batch of 4 files of 9 MiB: %d changes carrying %d MiB; want a batch of a few tens of MiB at most", len(batch), carried>>20)
	}
	Replicate(t, main, backup)
	for i, id := range ids {
		got, err := backup.Upload(ctx, id)
		must(t, err)
		if len(got.Data) != 9<<20 || got.Data[0] != byte(i) {
			t.Fatalf("file %d on the backup: %d bytes", i, len(got.Data))
		}
	}
}

// testUploadErasure: erasing a client erases their files with their dialogs, on both servers,
// and a file the peer sends afterwards for an erased dialog is refused.
func testUploadErasure(t *testing.T, open Factory) {
	ctx := context.Background()
	main, backup := newStore(t, open), newStore(t, open)
	now := time.Now().UTC()
	d := NewDialog("victim", now.Add(-time.Minute))
	must(t, main.RecordTalk(ctx, d, Talk(d, "here is my passport", d.StartedAt)))
	first := NewUpload(d, "passport.jpg", []byte("a photo"), d.StartedAt)
	must(t, main.SaveUpload(ctx, first))
	Replicate(t, main, backup)
	// The backup, not yet aware of the erasure, receives another file; the main one more that
	// the backup has not pulled yet.
	late := NewUpload(d, "id-card.jpg", []byte("another photo"), now)
	must(t, backup.SaveUpload(ctx, late))
	unpulled := NewUpload(d, "bill.pdf", []byte("a bill"), now)
	must(t, main.SaveUpload(ctx, unpulled))
	keep := NewDialog("someone-else", now)
	must(t, main.RecordTalk(ctx, keep, nil))
	kept := NewUpload(keep, "cv.pdf", []byte("a CV"), now)
	must(t, main.SaveUpload(ctx, kept))

	_, err := main.EraseClient(ctx, &bascule.ClientErasure{BotID: BotID, ClientID: "victim", Before: now.Add(time.Second)})
	must(t, err)
	Replicate(t, backup, main)
	Replicate(t, main, backup)
	for _, s := range []bascule.Store{main, backup} {
		for _, f := range []*bascule.Upload{first, late, unpulled} {
			if _, err := s.Upload(ctx, f.ID); !errors.Is(err, bascule.ErrNotFound) {
				t.Fatalf("store %s still holds %s of the erased client: %v", s.ServerID(), f.Name, err)
			}
		}
		if list, err := s.Uploads(ctx, d.ID); err != nil || len(list) != 0 {
			t.Fatalf("store %s lists %d files of an erased dialog (%v)", s.ServerID(), len(list), err)
		}
		if _, err := s.Upload(ctx, kept.ID); err != nil {
			t.Fatalf("another client's file is gone from %s: %v", s.ServerID(), err)
		}
	}
}

func sameUpload(a, b *bascule.Upload) bool {
	return a.ID == b.ID && a.DialogID == b.DialogID && a.BotID == b.BotID && a.Name == b.Name && a.ContentType == b.ContentType &&
		a.Size == b.Size && a.SHA256 == b.SHA256 && a.Scan == b.Scan && a.At.Equal(b.At) && a.Server == b.Server && bytes.Equal(a.Data, b.Data)
}
