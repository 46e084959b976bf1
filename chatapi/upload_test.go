package chatapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/clamav"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/internal/testenv"
)

// upload sends a file the way the dydu chatbox does: multipart/form-data to the servlet, with
// the file in the part field. It returns the recorder and the answer's params, read as the
// chatbox reads them: the JSON between the first { and the last }.
func (e *env) upload(target, field, name string, content []byte) (*httptest.ResponseRecorder, map[string]string) {
	e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, name))
	h.Set("Content-Type", "application/pdf")
	part, err := mw.CreatePart(h)
	if err != nil {
		e.t.Fatal(err)
	}
	part.Write(content)
	mw.Close()
	r := httptest.NewRequest("POST", target, &body)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r.Header.Set("Origin", "https://shop.example")
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, r)
	text := w.Body.String()
	i, j := strings.Index(text, "{"), strings.LastIndex(text, "}")
	var answer struct {
		API    string            `json:"api"`
		Params map[string]string `json:"params"`
	}
	if i < 0 || j < i || json.Unmarshal([]byte(text[i:j+1]), &answer) != nil || answer.API == "" {
		e.t.Fatalf("%s: the chatbox cannot read the answer %d %q", target, w.Code, text)
	}
	return w, answer.Params
}

// uploadURL is the servlet address the dydu chatbox posts a file of context ctx to.
func uploadURL(ctx string) string {
	return "/servlet/fileupload?" + url.Values{"ctx": {ctx}, "fin": {"dydu-upload-file"}, "cb": {"dyduUploadCallBack_0PW"},
		"origin": {"https://shop.example"}}.Encode()
}

// Files sent to the fileupload servlet are scanned by a real clamd before they are stored:
// the EICAR test file is refused, audited and never stored; a clean file is stored; clamd
// down means refused; the answers are what the dydu chatbox parses.
func TestUploadsScannedByClamd(t *testing.T) {
	clamd := testenv.StartClamd(t)
	av, err := clamav.New(clamd.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	e := newEnv(t, withEngine(&logs, engine.Options{Uploads: engine.UploadOptions{Antivirus: av, MaxSize: 64 << 10, SpoolDir: t.TempDir()}}))
	if _, ok := e.talk("", "#welcome#", "en")["uploads"]; ok {
		t.Fatal("the chatbox is told the bot takes files before its settings allow them")
	}
	ctx := e.talk("", "#welcome#", "en")["contextId"].(string)
	w, p := e.upload(uploadURL(ctx), "dydu-upload-file", "cv.pdf", []byte("%PDF-1.7"))
	if w.Code != 200 || p["status"] != "fail" || p["message"] != "This assistant does not accept files." {
		t.Fatalf("a bot without uploads: %d %v", w.Code, p)
	}

	e.setBot(func(s *bascule.BotSettings) { s.Uploads = true })
	welcome := e.talk("", "#welcome#", "en")
	if welcome["uploads"] != true {
		t.Fatalf("the welcome does not tell the chatbox that the bot takes files: %v", welcome)
	}
	ctx = welcome["contextId"].(string)
	stored := func(n int) {
		t.Helper()
		list, err := e.store.Uploads(context.Background(), ctx)
		if err != nil || len(list) != n {
			t.Fatalf("%d files stored (%v), want %d", len(list), err, n)
		}
	}

	// EICAR: refused, said so, audited, not stored. The answer is dydu's callback, as text.
	w, p = e.upload(uploadURL(ctx), "dydu-upload-file", "invoice.pdf.exe", testenv.EICAR())
	sig := testenv.EICARSignature + ".UNOFFICIAL"
	if w.Code != 200 || p["status"] != "fail" || p["message"] != "Our antivirus found a virus in this file ("+sig+"). It was not accepted." {
		t.Fatalf("EICAR: %d %v", w.Code, p)
	}
	body := w.Body.String()
	if !strings.HasPrefix(body, "<script>dyduUploadCallBack_0PW({") || !strings.HasSuffix(body, "})</script>") ||
		!strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") || w.Header().Get("X-Content-Type-Options") != "nosniff" ||
		w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("EICAR answer %q, headers %v", body, w.Header())
	}
	stored(0)
	audit := ""
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "upload refused: the antivirus found a virus") {
			audit = line
		}
	}
	for _, want := range []string{"level=WARN", "signature=" + sig, "dialog=" + ctx, "client=192.0.2.1", "bot=" + bot, "file=invoice.pdf.exe", "bytes=68"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit line lacks %s: %q", want, audit)
		}
	}
	if strings.Contains(logs.String(), "EICAR-STANDARD") {
		t.Error("the file's content was logged")
	}

	// A clean file, larger than one chunk of INSTREAM, on the servlet path without prefix and
	// without a callback: stored as sent.
	clean := make([]byte, 64<<10)
	rand.Read(clean)
	w, p = e.upload("/fileupload?ctx="+ctx, "dydu-upload-file", `C:\Users\Ann\scan.pdf`, clean)
	if w.Code != 200 || p["status"] != "ok" || p["message"] != "File received: scan.pdf." || !bascule.IsID(p["id"]) || w.Body.String()[0] != '{' {
		t.Fatalf("clean file: %d %v %q", w.Code, p, w.Body)
	}
	stored(1)
	u, err := e.store.Upload(context.Background(), p["id"])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(clean)
	if !bytes.Equal(u.Data, clean) || u.Name != "scan.pdf" || u.ContentType != "application/pdf" || u.Scan != bascule.ScanClean ||
		u.SHA256 != hex.EncodeToString(sum[:]) || u.BotID != bot || u.Server != e.store.ServerID() {
		t.Fatalf("stored %+v", u)
	}

	// Refusals before and after the scan.
	french := e.talk("", "#welcome#", "fr")["contextId"].(string)
	for _, tt := range []struct {
		name, target, field string
		content             []byte
		want                string
	}{
		{"too large", uploadURL(ctx), "dydu-upload-file", make([]byte, 64<<10+1), "This file is too large: the limit is 64 KiB."},
		{"too large, in French", uploadURL(french), "dydu-upload-file", make([]byte, 100<<10), "Ce fichier est trop volumineux : la limite est de 64 KiB."},
		{"empty", uploadURL(ctx), "dydu-upload-file", nil, "This file is empty."},
		{"unknown dialog", uploadURL(bascule.NewID()), "dydu-upload-file", []byte("x"), "This conversation has ended: start a new one to send a file."},
		{"not a context", uploadURL("../../etc"), "dydu-upload-file", []byte("x"), "This conversation has ended: start a new one to send a file."},
		{"no file part", uploadURL(ctx), "other", []byte("x"), "no file in the request"},
	} {
		w, p := e.upload(tt.target, tt.field, "f.pdf", tt.content)
		if w.Code != 200 || p["status"] != "fail" || p["message"] != tt.want {
			t.Errorf("%s: %d %v, want %q", tt.name, w.Code, p, tt.want)
		}
	}
	stored(1)

	// clamd down: refused (503, so that a chatbox may try the other server), not stored.
	clamd.Stop()
	w, p = e.upload(uploadURL(ctx), "dydu-upload-file", "late.pdf", []byte("%PDF-1.7 late"))
	if w.Code != http.StatusServiceUnavailable || p["status"] != "fail" ||
		p["message"] != "Files cannot be checked for viruses at the moment, so none are accepted. Please try again later." {
		t.Fatalf("clamd down: %d %v", w.Code, p)
	}
	stored(1)
	if !strings.Contains(logs.String(), `level=ERROR msg="upload refused: the antivirus gave no verdict (antivirus.fail_open is false)"`) {
		t.Errorf("no error logged for a refusal with clamd down:\n%s", logs.String())
	}

	// GDPR: the visitor's data names the file; erasing it erases the file.
	get := values(t, e.do("POST", "/servlet/api/chat/gdpr/"+bot, "clientId=c05fa63649d04a4&object=Get"))
	if data := get["data"].(string); !strings.Contains(data, `"name":"scan.pdf"`) || strings.Contains(data, `"data"`) {
		t.Fatalf("GDPR Get: %s", data)
	}
	values(t, e.do("POST", "/servlet/api/chat/gdpr/"+bot, "clientId=c05fa63649d04a4&object=Delete"))
	if _, err := e.store.Upload(context.Background(), u.ID); !errors.Is(err, bascule.ErrNotFound) {
		t.Fatalf("the file outlived the GDPR erasure of its dialog: %v", err)
	}
}

// With antivirus.fail_open, a file that cannot be scanned is stored all the same, marked
// unscanned, and each one is logged as an error.
func TestUploadsFailOpen(t *testing.T) {
	var logs logBuffer
	down, err := clamav.New("tcp://" + testenv.FreeAddr(t)) // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withEngine(&logs, engine.Options{Uploads: engine.UploadOptions{Antivirus: down, FailOpen: true, SpoolDir: t.TempDir()}}))
	e.setBot(func(s *bascule.BotSettings) { s.Uploads = true })
	ctx := e.talk("", "#welcome#", "en")["contextId"].(string)
	content := []byte(strings.Repeat("unscanned ", 10000))
	w, p := e.upload(uploadURL(ctx), "dydu-upload-file", "notes.txt", content)
	if w.Code != 200 || p["status"] != "ok" {
		t.Fatalf("fail open: %d %v", w.Code, p)
	}
	u, err := e.store.Upload(context.Background(), p["id"])
	if err != nil || u.Scan != bascule.ScanSkipped || !bytes.Equal(u.Data, content) {
		t.Fatalf("stored %+v, %v", u, err)
	}
	if !strings.Contains(logs.String(), `level=ERROR msg="UPLOAD NOT SCANNED, stored all the same because antivirus.fail_open is true"`) {
		t.Errorf("a file stored unscanned was not logged as an error:\n%s", logs.String())
	}

	// One dialog holds 20 files at most.
	for i := 2; i <= 21; i++ {
		w, p := e.upload(uploadURL(ctx), "dydu-upload-file", fmt.Sprintf("page%d.txt", i), []byte("a page"))
		if full := i > 20; w.Code != 200 || (p["status"] == "fail") != full {
			t.Fatalf("file %d: %d %v", i, w.Code, p)
		} else if full && p["message"] != "This conversation already holds 20 files, as many as it can." {
			t.Fatalf("file %d: %v", i, p)
		}
	}
}

// Without an antivirus and without fail_open, the chatbox is not offered uploads, and a file
// sent anyway is refused.
func TestUploadsNeedAnAntivirus(t *testing.T) {
	var logs logBuffer
	e := newEnv(t, withEngine(&logs, engine.Options{}))
	e.setBot(func(s *bascule.BotSettings) { s.Uploads = true })
	v := e.talk("", "#welcome#", "en")
	if _, ok := v["uploads"]; ok {
		t.Fatalf("uploads offered without an antivirus: %v", v)
	}
	w, p := e.upload(uploadURL(v["contextId"].(string)), "dydu-upload-file", "a.pdf", []byte("%PDF"))
	if w.Code != http.StatusServiceUnavailable || p["status"] != "fail" {
		t.Fatalf("no antivirus: %d %v", w.Code, p)
	}
}

// FuzzUpload sends arbitrary bodies to the upload servlet: the answer is always one the
// chatbox can read, with a status it documents.
func FuzzUpload(f *testing.F) {
	f.Add("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"dydu-upload-file\"; filename=\"a.pdf\"\r\n\r\n%PDF\r\n--x--\r\n", "cb")
	f.Add("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--x--", "dyduUploadCallBack_0PW")
	f.Add("multipart/form-data", "", "alert(1)//")
	f.Add("text/plain", "hello", "")
	var logs logBuffer
	e := newEnv(&testing.T{}, withEngine(&logs, engine.Options{Uploads: engine.UploadOptions{FailOpen: true, SpoolDir: f.TempDir()}}))
	e.setBot(func(s *bascule.BotSettings) { s.Uploads = true })
	ctx := e.talk("", "#welcome#", "en")["contextId"].(string)
	f.Fuzz(func(t *testing.T, contentType, body, cb string) {
		e.t = t
		r := httptest.NewRequest("POST", "/servlet/fileupload?"+url.Values{"ctx": {ctx}, "cb": {cb}}.Encode(), strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		e.api.ServeHTTP(w, r)
		text := w.Body.String()
		i, j := strings.Index(text, "{"), strings.LastIndex(text, "}")
		if w.Code != 200 || i < 0 || j < i || !json.Valid([]byte(text[i:j+1])) {
			t.Fatalf("status %d, answer %q", w.Code, text)
		}
		if strings.Contains(text, "<script>") && !strings.HasPrefix(text, "<script>"+cb+"({") {
			t.Fatalf("the callback %q is not an identifier yet made it into %q", cb, text)
		}
	})
}
