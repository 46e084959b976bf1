package dump_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bascule/bascule/dump"
)

// A dump whose writing fails leaves nothing in the directory; one that succeeds is there
// whole under its name, readable by its owner only (dumps hold visitors' dialogs).
func TestDirPutIsAtomic(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "dumps") // created on first use
	d := dump.Dir(dir)
	broken := errors.New("the database went away")
	err := d.Put(ctx, "a.dump.zst", func(w io.Writer) error {
		w.Write([]byte("half a dump"))
		return broken
	})
	if !errors.Is(err, broken) {
		t.Fatalf("got %v", err)
	}
	if names, _ := d.List(ctx); len(names) != 0 {
		t.Fatalf("a failed dump left %v", names)
	}
	if err := d.Put(ctx, "a.dump.zst", func(w io.Writer) error { _, err := w.Write([]byte("whole")); return err }); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "a.dump.zst"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("stored dump: %v %v", st, err)
	}
	rc, err := d.Open(ctx, "a.dump.zst")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "whole" {
		t.Fatalf("read back %q", b)
	}
	for _, bad := range []string{"../x", "a/b", "", ".."} {
		if err := d.Put(ctx, bad, func(io.Writer) error { return nil }); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}

// Retention keeps the newest dumps of the server and touches nothing else.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := dump.Dir(dir)
	const me, other = "5e4e4", "07e4"
	start := time.Date(2025, 1, 1, 2, 0, 0, 0, time.UTC)
	var mine []string
	for i := range 6 {
		name := dump.FileName(me, start.Add(time.Duration(i)*24*time.Hour))
		mine = append(mine, name)
		os.WriteFile(filepath.Join(dir, name), nil, 0o600)
	}
	others := []string{dump.FileName(other, start), "notes.txt", "." + mine[0] + ".tmp-1"}
	for _, n := range others {
		os.WriteFile(filepath.Join(dir, n), nil, 0o600)
	}
	removed, err := dump.Prune(ctx, d, me, 4)
	if err != nil || !slices.Equal(removed, mine[:2]) {
		t.Fatalf("removed %v (%v), want the two oldest", removed, err)
	}
	kept, _ := dump.Dumps(ctx, d, me)
	if !slices.Equal(kept, mine[2:]) {
		t.Fatalf("kept %v", kept)
	}
	for _, n := range others {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("retention touched %s", n)
		}
	}
	if removed, _ := dump.Prune(ctx, d, me, 0); removed != nil {
		t.Fatal("keep 0 keeps everything")
	}
}

func TestFileNames(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 891e6, time.UTC)
	name := dump.FileName("ab12", at)
	if name != "bascule-20250304T050607.891Z-ab12.dump.zst" {
		t.Fatal(name)
	}
	id, got, ok := dump.ParseFileName(name)
	if !ok || id != "ab12" || !got.Equal(at) {
		t.Fatalf("%s: %v %v %v", name, id, got, ok)
	}
	for _, bad := range []string{"bascule.db", "." + name + ".tmp-1", "bascule-2025-ab12.dump.zst", strings.TrimSuffix(name, ".zst")} {
		if _, _, ok := dump.ParseFileName(bad); ok {
			t.Errorf("%s taken for a dump", bad)
		}
	}
}
