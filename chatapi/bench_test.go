package chatapi_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bascule/bascule/samplebot"
)

// BenchmarkTalk answers held-out questions through the whole chat API in process (form
// parsing, the rules, the durable write, the envelope), beside serverstatus, the cheapest
// endpoint of the same API, as the baseline of the same run.
func BenchmarkTalk(b *testing.B) {
	e := newEnv(&testing.T{}, nil)
	defer e.store.Close()
	var forms []string
	for _, h := range samplebot.HeldOut() {
		forms = append(forms, talkForm(h.Question, h.Language))
	}
	var talk float64
	b.Run("talk", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(32) // many visitors at once, each in a dialog of its own
		b.RunParallel(func(pb *testing.PB) {
			path := "/servlet/api/chat/talk/" + bot + "/" + e.talk("", "#welcome#", "en")["contextId"].(string)
			i := 0
			for pb.Next() {
				r := httptest.NewRequest("POST", path, strings.NewReader(forms[i%len(forms)]))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				w := httptest.NewRecorder()
				e.api.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
				i++
			}
		})
		talk = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("serverstatus", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w := httptest.NewRecorder()
				e.api.ServeHTTP(w, httptest.NewRequest("GET", "/servlet/api/serverstatus", nil))
			}
		})
		if base := float64(b.Elapsed().Nanoseconds()) / float64(b.N); talk > 0 {
			b.ReportMetric(talk/base, "talk/status")
		}
	})
}
