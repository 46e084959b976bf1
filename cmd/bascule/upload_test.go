package main

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/testenv"
)

// sendFile posts a file to a server's fileupload servlet as the dydu chatbox does and returns
// the HTTP status and the answer's params (the JSON between the first { and the last }).
func sendFile(t *testing.T, srv *testenv.Bascule, ctx, name string, content []byte) (int, map[string]string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("dydu-upload-file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	q := url.Values{"ctx": {ctx}, "fin": {"dydu-upload-file"}, "cb": {"dyduUploadCallBack_1"}, "origin": {"https://shop.example"}}
	resp, err := http.Post(srv.URL+"/servlet/fileupload?"+q.Encode(), mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	text := string(raw)
	var answer struct{ Params map[string]string }
	if i, j := strings.Index(text, "{"), strings.LastIndex(text, "}"); i < 0 || j < i || json.Unmarshal(raw[i:j+1], &answer) != nil {
		t.Fatalf("unreadable answer %d %q", resp.StatusCode, text)
	}
	return resp.StatusCode, answer.Params
}

// download fetches a stored file through the admin API (nil when there is none).
func download(t *testing.T, srv *testenv.Bascule, id string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/api/admin/v1/uploads/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download %s: %d %s", id, resp.StatusCode, b)
	}
	return b
}

// A real server with a real clamd: the EICAR file is refused and audited, a clean file is
// stored, survives a restart, and goes with its dialog when the visitor's data is erased.
func TestServeScansUploadsWithClamd(t *testing.T) {
	clamd := testenv.StartClamd(t)
	srv := testenv.StartBascule(t, testenv.BasculeOptions{Name: "main", Config: testConfig("antivirus:\n  addr: " + clamd.Socket + "\nuploads:\n  max_size: 1MiB\n")})
	configureSampleBot(t, srv, func(s *bascule.BotSettings) { s.Uploads = true })
	welcome := chatPost(t, srv, "chat/talk/"+bascule.SampleBotID, url.Values{"userInput": {"#welcome#"}, "language": {"en"}, "clientId": {"c05fa63649d04a4"}})
	ctx := welcome["contextId"]
	if welcome["uploads"] != "true" {
		t.Fatalf("the welcome does not offer uploads: %v", welcome)
	}

	status, p := sendFile(t, srv, ctx, "eicar.com", testenv.EICAR())
	if status != 200 || p["status"] != "fail" || !strings.Contains(p["message"], "virus") {
		t.Fatalf("EICAR: %d %v", status, p)
	}
	logLine(t, srv, `msg="upload refused: the antivirus found a virus"`, "signature="+testenv.EICARSignature+".UNOFFICIAL",
		"dialog="+ctx, "client=127.0.0.1")
	clean := bytes.Repeat([]byte("a clean file. "), 20000) // 280 KB: several INSTREAM chunks
	status, p = sendFile(t, srv, ctx, "notes.txt", clean)
	if status != 200 || p["status"] != "ok" {
		t.Fatalf("clean file: %d %v", status, p)
	}
	var dialog struct{ Uploads []bascule.Upload }
	adminCall(t, srv, "GET", "dialogs/"+ctx, nil, &dialog)
	if len(dialog.Uploads) != 1 || dialog.Uploads[0].ID != p["id"] || dialog.Uploads[0].Size != int64(len(clean)) || dialog.Uploads[0].Scan != bascule.ScanClean {
		t.Fatalf("the dialog's files: %+v", dialog.Uploads)
	}
	var health struct {
		Applications []struct{ Name, Status string }
	}
	resp, err := http.Get(srv.URL + "/servlet/api/serverstatus?details=true")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if !strings.Contains(fmtApps(health.Applications), "antivirus:Ok") {
		t.Errorf("serverstatus applications %v", health.Applications)
	}

	srv.Stop()
	srv.Start()
	if got := download(t, srv, p["id"]); !bytes.Equal(got, clean) {
		t.Fatalf("after a restart the file is %d bytes, want %d", len(got), len(clean))
	}
	chatPost(t, srv, "chat/gdpr/"+bascule.SampleBotID, url.Values{"clientId": {"c05fa63649d04a4"}, "object": {"Delete"}})
	if got := download(t, srv, p["id"]); got != nil {
		t.Fatalf("the file outlived the erasure of its dialog")
	}
}

func fmtApps(apps []struct{ Name, Status string }) string {
	var b strings.Builder
	for _, a := range apps {
		b.WriteString(a.Name + ":" + a.Status + " ")
	}
	return b.String()
}
