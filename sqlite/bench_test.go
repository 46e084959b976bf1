package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/bascule/bascule/sqlite"
	"github.com/bascule/bascule/storetest"
)

// BenchmarkRecordTalk measures durable writes of answered questions from many visitors at
// once (group commit), with the cost of reading a dialog as the baseline of the same run.
func BenchmarkRecordTalk(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, b.TempDir(), sqlite.Options{Sync: benchSync})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.ReplaceKnowledgeBase(ctx, storetest.SmallKnowledgeBase()); err != nil {
		b.Fatal(err)
	}
	b.Run("talk", func(b *testing.B) {
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			d := storetest.NewDialog("c", time.Now())
			first := true
			for pb.Next() {
				nd := d
				if !first {
					nd = nil
				}
				first = false
				if err := s.RecordTalk(ctx, nd, storetest.Talk(d, "where is my parcel", time.Now())); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	d := storetest.NewDialog("c", time.Now())
	if err := s.RecordTalk(ctx, d, storetest.Talk(d, "hello", time.Now())); err != nil {
		b.Fatal(err)
	}
	b.Run("read-dialog", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Dialog(ctx, d.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

var benchSync = "full"
