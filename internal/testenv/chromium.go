package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium starts Debian's Chromium headless for a test (or calls Missing) and returns a
// chromedp context on its first tab. The browser has a fresh profile in t.TempDir() and is
// closed when the test ends. Child contexts made with chromedp.NewContext open more tabs of the
// same browser.
func Chromium(t testing.TB) context.Context {
	t.Helper()
	bin := LookPath(t, "chromium", "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		// Containers and CI runners have no user namespaces for the sandbox, no GPU and a
		// small /dev/shm; the rest keeps the browser from talking to Google during a test,
		// which would only add noise and time to the network events tests read.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the browser to exit, before t.TempDir() is removed
	})
	// Start the browser now, without a deadline: its life is the test's.
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Logf("chromium started in %v", time.Since(start).Round(time.Millisecond))
	return ctx
}
