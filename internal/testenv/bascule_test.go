package testenv

import (
	"io"
	"strings"
	"testing"
)

func TestBasculeRestartsOnItsData(t *testing.T) {
	b := StartBascule(t, BasculeOptions{Name: "solo", Config: "log:\n  level: warn\n"})
	get := func() string {
		resp, err := InsecureClient(0).Get(b.URL + "/servlet/api/serverstatus?details=true")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	first := get()
	b.Kill()
	if b.Running() {
		t.Fatal("still running after Kill")
	}
	b.Start()
	second := get()
	id := first[strings.Index(first, `"id":`):][:40]
	if !strings.Contains(second, id) {
		t.Fatalf("server id changed across a restart on the same data:\n%s\n%s", first, second)
	}
}
