package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/sqlite"
	"github.com/bascule/bascule/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) bascule.Store {
		s, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestReopenKeepsIdentityAndData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := s.ServerID()
	if err := s.ReplaceKnowledgeBase(ctx, storetest.SmallKnowledgeBase()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.ServerID() != id {
		t.Fatalf("server id changed across a restart: %s then %s", id, s.ServerID())
	}
	if _, err := s.KnowledgeBase(ctx, storetest.BotID); err != nil {
		t.Fatalf("data lost across a restart: %v", err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("UPDATE schema_version SET version = 99"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err = sqlite.Open(ctx, dir, sqlite.Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("opening a database from a newer version: got %v", err)
	}
}

func TestBadSyncSetting(t *testing.T) {
	_, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{Sync: "sometimes"})
	if err == nil || !strings.Contains(err.Error(), "full or normal") {
		t.Fatalf("got %v", err)
	}
}
