package kb

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/sqlite"
	"github.com/bascule/bascule/storetest"
)

func newService(t *testing.T) *Service {
	t.Helper()
	s, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &Service{Store: s}
}

func TestJSONRoundTrip(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	if _, err := svc.Import(ctx, storetest.SmallKnowledgeBase()); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Export(ctx, storetest.BotID)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := EncodeJSON(&buf, got); err != nil {
		t.Fatal(err)
	}
	back, err := DecodeJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Knowledge) != 3 || back.Knowledge[2].Enabled || back.Groups[0].Name != "parcel" {
		t.Fatalf("round trip lost data: %+v", back)
	}
}

// Every bad import is refused with the item and field named, and nothing is written.
func TestBadImports(t *testing.T) {
	for _, tc := range []struct {
		name, json, want string
	}{
		{"empty file", ``, "file: is empty"},
		{"syntax", `{"format":1,`, "line 1: invalid JSON: the file ends too early"},
		{"bad token", "{\n\"format\": x}", "line 2: invalid JSON"},
		{"unknown field", `{"format":1,"bott":{}}`, `bott: unknown field`},
		{"wrong type", "{\n\"format\":\"one\"}", "format: line 2: int cannot hold a JSON string"},
		{"bad bot id", `{"format":1,"bot":{"id":"x","name":"n","languages":["en"]},"knowledge":[]}`, `bot.id: must be a UUID`},
		{"empty answer", `{"format":1,"bot":{"id":"` + storetest.BotID + `","name":"n","languages":["en"]},"knowledge":[{"id":1,"question":"q","answer":"  ","language":"en"}]}`, "knowledge[0].answer: must not be empty"},
		{"answer only script", `{"format":1,"bot":{"id":"` + storetest.BotID + `","name":"n","languages":["en"]},"knowledge":[{"id":1,"question":"q","answer":"<script>x()</script>","language":"en"}]}`, "knowledge[0].answer: must not be empty"},
		{"unknown language", `{"format":1,"bot":{"id":"` + storetest.BotID + `","name":"n","languages":["en"]},"knowledge":[{"id":1,"question":"q","answer":"a","language":"de"}]}`, `knowledge[0].language: "de" is not a language of the bot`},
		{"duplicate id", `{"format":1,"bot":{"id":"` + storetest.BotID + `","name":"n","languages":["en"]},"knowledge":[{"id":1,"question":"q","answer":"a","language":"en"},{"id":1,"question":"r","answer":"b","language":"en"}]}`, "knowledge[1].id: id 1 is used twice"},
		{"unknown group", `{"format":1,"bot":{"id":"` + storetest.BotID + `","name":"n","languages":["en"]},"knowledge":[{"id":1,"question":"q","formulations":["my {thing}"],"answer":"a","language":"en"}]}`, "knowledge[0].formulations[0]: refers to unknown matching group {thing}"},
		{"group cycle", `{"format":1,"bot":{"id":"` + storetest.BotID + `","name":"n","languages":["en"]},"knowledge":[],"groups":[{"name":"a","terms":["{b}"]},{"name":"b","terms":["{a}"]}]}`, "refers to itself"},
		{"unknown knowledge field", `{"format":1,"bot":{"id":"` + storetest.BotID + `","name":"n","languages":["en"]},"knowledge":[{"id":1,"question":"q","answr":"a","language":"en"}]}`, `answr: unknown field`},
		{"wrong format", `{"format":2,"bot":{"id":"` + storetest.BotID + `","name":"n","languages":["en"]},"knowledge":[]}`, "format: must be 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			svc := newService(t)
			kb, err := DecodeJSON(strings.NewReader(tc.json))
			if err == nil {
				_, err = svc.Import(ctx, kb)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if !errors.Is(err, bascule.ErrInvalid) {
				t.Fatalf("error %v is not an invalid-input error", err)
			}
			if bots, _ := svc.Store.Bots(ctx); len(bots) != 0 {
				t.Fatal("a refused import wrote a bot")
			}
		})
	}
}

func TestImportSanitises(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	kb := storetest.SmallKnowledgeBase()
	kb.Knowledge[0].Answer = `<p onclick="steal()">Track <a href="javascript:x()">it</a></p><script>x()</script>`
	rep, err := svc.Import(ctx, kb)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sanitized) != 1 || rep.Sanitized[0] != "knowledge[0].answer" {
		t.Fatalf("report: %+v", rep)
	}
	k, err := svc.Store.Knowledge(ctx, storetest.BotID, kb.Knowledge[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"onclick", "javascript", "script"} {
		if strings.Contains(k.Answer, bad) {
			t.Fatalf("stored answer %q still holds %s", k.Answer, bad)
		}
	}
}

func TestCSV(t *testing.T) {
	bot := &storetest.SmallKnowledgeBase().Bot
	items, err := ReadCSV(strings.NewReader("\ufeffquestion,answer,formulations,language\nWhere is it?,<p>Here</p>,where|location,en\nOù ?,<p>Ici</p>,,fr\n"), bot)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Formulations[1] != "location" || items[1].Language != "fr" || !items[0].Enabled {
		t.Fatalf("items: %+v", items)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, &bascule.KnowledgeBase{Knowledge: items}); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCSV(&buf, bot)
	if err != nil || len(back) != 2 || back[0].Question != "Where is it?" {
		t.Fatalf("CSV round trip: %v %+v", err, back)
	}
	for _, tc := range []struct{ csv, want string }{
		{"", "file: is empty"},
		{"question\nq\n", `column "answer" is required`},
		{"question,answer,colour\n", `unknown column "colour"`},
		{"question,answer\nq,\n", "line 2: knowledge[0].answer: must not be empty"},
		{"question,answer,language\nq,a,xx\n", `line 2: knowledge[0].language: "xx" is not a language of the bot`},
		{"id,question,answer\nabc,q,a\n", `line 2: knowledge[0].id: "abc" is not a positive number`},
		{"question,answer,enabled\nq,a,maybe\n", `knowledge[0].enabled: "maybe" is not true or false`},
		{"question,answer\n\"unterminated,a\n", "line"},
	} {
		if _, err := ReadCSV(strings.NewReader(tc.csv), bot); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadCSV(%q): got %v, want %q", tc.csv, err, tc.want)
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add(`{"format":1,"bot":{"id":"` + storetest.BotID + `","name":"n","languages":["en"]},"knowledge":[]}`)
	f.Add(`{"format":1,"knowledge":[{"id":-1}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		kb, err := DecodeJSON(strings.NewReader(in))
		if err == nil {
			_ = kb.Validate()
		}
	})
}

func FuzzReadCSV(f *testing.F) {
	f.Add("question,answer\nq,a\n")
	f.Add("id,question,answer,enabled\n1,q,a,false\n")
	bot := &storetest.SmallKnowledgeBase().Bot
	f.Fuzz(func(t *testing.T, in string) {
		_, _ = ReadCSV(strings.NewReader(in), bot)
	})
}
