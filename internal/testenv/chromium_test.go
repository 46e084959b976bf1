package testenv

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestChromium(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<!doctype html><title>t</title><p id="p">from the page</p><script>document.getElementById('p').textContent += ' and its script'</script>`)
	}))
	defer site.Close()
	ctx := Chromium(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(site.URL)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("p")))
	if err != nil || text != "from the page and its script" {
		t.Fatalf("text %q, %v", text, err)
	}
}
