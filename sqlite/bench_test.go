package sqlite_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/sqlite"
	"github.com/bascule/bascule/storetest"
)

// cpu is the process's CPU time so far: on a shared machine, CPU per operation moves far less
// with the neighbours' load than time per operation does.
func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecordTalk measures durable writes of answered questions from many visitors at
// once (group commit): dialogs of a welcome and five questions, as the chat API writes them.
// read-dialog, reading a dialog the way each question does, is the baseline of the same run.
func BenchmarkRecordTalk(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, b.TempDir(), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.ReplaceKnowledgeBase(ctx, storetest.SmallKnowledgeBase()); err != nil {
		b.Fatal(err)
	}
	var talkCPU float64
	b.Run("talk", func(b *testing.B) {
		b.SetParallelism(32)
		c0 := cpu()
		b.RunParallel(func(pb *testing.PB) {
			var d *bascule.Dialog
			i := 0
			for pb.Next() {
				var nd *bascule.Dialog
				if i%6 == 0 {
					d = storetest.NewDialog("c", time.Now())
					nd = d
				}
				var in *bascule.Interaction
				if i%6 != 0 {
					in = storetest.Talk(d, "where is my parcel", time.Now())
				}
				i++
				if err := s.RecordTalk(ctx, nd, in); err != nil {
					b.Fatal(err)
				}
			}
		})
		talkCPU = float64(cpu()-c0) / float64(b.N)
		b.ReportMetric(talkCPU/1e3, "µs-cpu/op")
	})
	d := storetest.NewDialog("c", time.Now())
	if err := s.RecordTalk(ctx, d, storetest.Talk(d, "hello", time.Now())); err != nil {
		b.Fatal(err)
	}
	b.Run("read-dialog", func(b *testing.B) {
		c0 := cpu()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Dialog(ctx, d.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
		readCPU := float64(cpu()-c0) / float64(b.N)
		b.ReportMetric(readCPU/1e3, "µs-cpu/op")
		if talkCPU > 0 {
			b.ReportMetric(talkCPU/readCPU, "talk/read")
		}
	})
}
