package admin_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/bascule/bascule/admin"
	"github.com/bascule/bascule/storetest"
)

// A dialog lists its files; each downloads as an attachment that cannot open as a page.
func TestUploadsOfADialog(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	now := time.Now()
	d := storetest.NewDialog("client", now)
	if err := e.store.RecordTalk(ctx, d, nil); err != nil {
		t.Fatal(err)
	}
	u := storetest.NewUpload(d, `facture "mars".html`, []byte("<script>alert(1)</script>"), now)
	u.ContentType = "text/html"
	if err := e.store.SaveUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	one := e.call("GET", "dialogs/"+d.ID, "", 200)
	files := one["uploads"].([]any)
	if len(files) != 1 || files[0].(map[string]any)["name"] != u.Name || files[0].(map[string]any)["data"] != nil {
		t.Fatalf("the dialog's files: %v", files)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+admin.Prefix+"uploads/"+u.ID, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	h := resp.Header
	if resp.StatusCode != 200 || string(body) != string(u.Data) || h.Get("Content-Type") != "application/octet-stream" ||
		h.Get("Content-Disposition") != `attachment; filename="facture \"mars\".html"` || h.Get("X-Content-Type-Options") != "nosniff" ||
		h.Get("X-Bascule-Scan") != "clean" || h.Get("ETag") != `"`+u.SHA256+`"` {
		t.Fatalf("download: %d %v %q", resp.StatusCode, h, body)
	}
	e.call("GET", "uploads/"+storetest.NewDialog("x", now).ID, "", 404)
	e.call("GET", "dialogs/"+storetest.NewDialog("x", now).ID, "", 404)
}
