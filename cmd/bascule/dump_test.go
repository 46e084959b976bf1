package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/dump"
	"github.com/bascule/bascule/dump/dumptest"
	"github.com/bascule/bascule/internal/loadgen"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/samplebot"
	"github.com/bascule/bascule/sqlite"
)

func heldOut() []loadgen.Question {
	var qs []loadgen.Question
	for _, h := range samplebot.HeldOut() {
		qs = append(qs, loadgen.Question{Text: h.Question, Language: h.Language})
	}
	return qs
}

// readManifest reads the manifest of a dump file, verifying it.
func readManifest(t *testing.T, path string) *dump.Manifest {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := dump.Read(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func dumpsOf(t *testing.T, dir, serverID string) []string {
	t.Helper()
	names, err := dump.Dumps(context.Background(), dump.Dir(dir), serverID)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// A dump taken by "bascule dump" while a real server answers a load is shipped over SFTP,
// restores into an empty data directory, and holds exactly the server's state at the dump's
// commit; the schedule's retention keeps dumps.keep dumps; a restore refuses the directory of
// the running server.
func TestDumpUnderLoadOverSFTP(t *testing.T) {
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{})
	dumps := filepath.Join(sshd.Dir, "dumps")
	srv := testenv.StartBascule(t, testenv.BasculeOptions{Name: "main", Config: fmt.Sprintf(
		"log:\n  level: warn\nlimits:\n  per_client:\n    rate: 0\n"+
			"dumps:\n  to: %s\n  keep: 3\n  ssh_key: %s\n  known_hosts: %s\n", sshd.URL(dumps), sshd.KeyFile, sshd.KnownHosts)})

	var answered atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load := make(chan loadgen.Result)
	go func() {
		load <- loadgen.Dialogs(ctx, loadgen.Options{Target: srv.URL, Bot: bascule.SampleBotID, Concurrency: 16, Duration: time.Minute,
			Questions: heldOut(), OnAnswer: func(string, string) { answered.Add(1) }})
	}()
	waitUntil(t, func() bool { return answered.Load() >= 300 })
	code, out, errOut := runCLI(t, "dump", "-config", srv.Config, "-data", srv.DataDir)
	if code != 0 {
		t.Fatalf("dump under load: exit %d\n%s%s", code, out, errOut)
	}
	t.Log(strings.TrimSpace(out))
	before := answered.Load()
	waitUntil(t, func() bool { return answered.Load() >= before+300 }) // the server kept answering, and after the dump
	entries, _ := os.ReadDir(dumps)
	code, _, errOut = runCLI(t, "restore", "-data", srv.DataDir, filepath.Join(dumps, entries[0].Name()))
	if code != 1 || !strings.Contains(errOut, "stop it first") {
		t.Fatalf("restore into the running server's directory: exit %d %s", code, errOut)
	}
	cancel()
	res := <-load
	if res.Errors > 0 {
		t.Fatalf("%d errors under load while dumping: %v", res.Errors, res)
	}
	srv.Stop()

	// The schedule dumped at start, the command under load: two dumps on the target.
	src := dumptest.Open(t, filepath.Join(srv.DataDir, sqlite.FileName))
	var serverID string
	src.QueryRow("SELECT value FROM meta WHERE key = 'server_id'").Scan(&serverID)
	names := dumpsOf(t, dumps, serverID)
	if len(names) != 2 {
		t.Fatalf("dumps on the target: %v", names)
	}
	underLoad := names[1]
	m := readManifest(t, filepath.Join(dumps, underLoad))
	var last int64
	src.QueryRow("SELECT value FROM counters WHERE name = 'feed'").Scan(&last)
	if m.Role != "standalone" || m.Feed >= last || m.Rows("interactions") < 300 {
		t.Fatalf("manifest %+v; the server's feed went on to %d", m, last)
	}

	restored := filepath.Join(t.TempDir(), "data")
	code, out, errOut = runCLI(t, "restore", "-data", restored, "-ssh-key", sshd.KeyFile, "-known-hosts", sshd.KnownHosts,
		sshd.URL(filepath.Join(dumps, underLoad)))
	if code != 0 || !strings.Contains(out, "new server id") {
		t.Fatalf("restore over SFTP: exit %d\n%s%s", code, out, errOut)
	}
	t.Log(strings.TrimSpace(out))
	got := dumptest.Open(t, filepath.Join(restored, sqlite.FileName))
	// Exactly the server's state at the dump's commit, computed from the server's own
	// database: the rows of every change up to the dump's feed counter, no more, no less.
	upTo := func(entity string) string {
		return fmt.Sprintf("SELECT key FROM changes WHERE origin = '%s' AND entity = '%s' AND seq <= %d", serverID, entity, m.Feed)
	}
	for table, entity := range map[string]string{"dialogs": "dialog", "interactions": "interaction"} {
		want := dumptest.TableDigest(t, src, "SELECT * FROM "+table+" WHERE id IN ("+upTo(entity)+")")
		if g := dumptest.TableDigest(t, got, table); g != want || g.Rows != m.Rows(table) {
			t.Fatalf("%s: restored %v, the server at change %d %v, the manifest %d rows", table, g, m.Feed, want, m.Rows(table))
		}
	}
	if g, w := dumptest.TableDigest(t, got, "changes", "origin"), dumptest.TableDigest(t, src, fmt.Sprintf("SELECT * FROM changes WHERE seq <= %d", m.Feed), "origin"); g != w {
		t.Fatalf("changes: restored %v, the server up to %d %v", g, m.Feed, w)
	}
	for _, table := range []string{"bots", "knowledge", "matching_groups", "sentences"} {
		if g, w := dumptest.TableDigest(t, got, table), dumptest.TableDigest(t, src, table); g != w {
			t.Fatalf("%s: restored %v, the server %v", table, g, w)
		}
	}

	// Stopped, the server dumps to the same content exactly; retention keeps dumps.keep.
	for range 3 {
		time.Sleep(5 * time.Millisecond)
		if code, out, errOut := runCLI(t, "dump", "-config", srv.Config, "-data", srv.DataDir); code != 0 {
			t.Fatalf("dump: exit %d\n%s%s", code, out, errOut)
		}
	}
	names = dumpsOf(t, dumps, serverID)
	if len(names) != 3 {
		t.Fatalf("with dumps.keep 3, the target holds %v", names)
	}
	quiet := filepath.Join(t.TempDir(), "data")
	if code, out, errOut := runCLI(t, "restore", "-data", quiet, filepath.Join(dumps, names[2])); code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	dumptest.Equal(t, "a dump of the stopped server, restored", dumptest.Digests(t, dumptest.Open(t, filepath.Join(quiet, sqlite.FileName))),
		dumptest.Digests(t, src))
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A target that refuses writes fails the dumps with a clear error in the status API, the
// metrics and the command's output, while the server goes on answering; a host whose key is
// unknown or changed is refused.
func TestDumpRefused(t *testing.T) {
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{ReadOnly: true})
	srv := testenv.StartBascule(t, testenv.BasculeOptions{Name: "main", Config: fmt.Sprintf(
		"log:\n  level: error\ndumps:\n  to: %s\n  ssh_key: %s\n  known_hosts: %s\n", sshd.URL(sshd.Dir), sshd.KeyFile, sshd.KnownHosts)})
	client := testenv.InsecureClient(5 * time.Second)
	get := func(path string) (int, string) {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var status string
	waitUntil(t, func() bool {
		_, status = get("/servlet/api/serverstatus?details=true")
		return strings.Contains(status, `"lastError"`)
	})
	for _, want := range []string{`"status":"Ok"`, `{"name":"dumps","status":"Warning"`, "the server refuses the write (permission denied)"} {
		if !strings.Contains(status, want) {
			t.Fatalf("status lacks %s:\n%s", want, status)
		}
	}
	if _, metrics := get("/metrics"); !strings.Contains(metrics, `bascule_dumps_total{result="error"} 1`) {
		t.Fatalf("metrics:\n%s", metrics)
	}
	res := loadgen.Dialogs(context.Background(), loadgen.Options{Target: srv.URL, Bot: bascule.SampleBotID, Concurrency: 2,
		Duration: time.Second, Questions: heldOut()})
	if res.Requests == 0 || res.Errors > 0 {
		t.Fatalf("the server must go on answering: %v", res)
	}
	if code, ready := get("/readyz"); code != http.StatusOK {
		t.Fatalf("a failing dump must not make the server unready: %d %s", code, ready)
	}

	code, _, errOut := runCLI(t, "dump", "-config", srv.Config, "-data", srv.DataDir)
	if code != 1 || !strings.Contains(errOut, "refuses the write") {
		t.Fatalf("dump to a read-only server: exit %d %s", code, errOut)
	}
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	for known, want := range map[string]string{empty: "unknown SSH host key", sshd.OtherKnownHosts(t): "SSH host key changed"} {
		code, _, errOut := runCLI(t, "dump", "-config", srv.Config, "-data", srv.DataDir, "-known-hosts", known)
		if code != 1 || !strings.Contains(errOut, want) {
			t.Fatalf("dump with known_hosts %s: exit %d %s", known, code, errOut)
		}
	}
}

func TestDumpAndRestoreUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"dump", "-data", dir}, 2, "dump needs a target"},
		{[]string{"dump", "-data", filepath.Join(dir, "nothing"), "-to", dir}, 1, "no database in"},
		{[]string{"dump", "-data", dir, "-to", "sftp://host/x"}, 2, "name the user"},
		{[]string{"dump", "-data", dir, "-to", "sftp://u@host/x"}, 2, "dumps.ssh_key: is required"},
		{[]string{"restore", "-data", dir}, 2, "restore needs one DUMP"},
		{[]string{"restore", "-data", dir, filepath.Join(dir, "missing.dump.zst")}, 1, "no such file"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d %q, want %d %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}
