package sftp_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bascule/bascule/dump"
	"github.com/bascule/bascule/dump/dumptest"
	"github.com/bascule/bascule/dump/sftp"
	"github.com/bascule/bascule/internal/testenv"
	"github.com/bascule/bascule/sqlite"
	"github.com/bascule/bascule/storetest"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "sftp://backup@dumps.example.com/srv/dumps", want: "sftp://backup@dumps.example.com:22/srv/dumps"},
		{in: "sftp://backup@10.0.0.5:2222/srv/dumps/", want: "sftp://backup@10.0.0.5:2222/srv/dumps"},
		{in: "sftp://backup@[::1]:2222/d", want: "sftp://backup@[::1]:2222/d"},
		{in: "sftp://backup@host/~/dumps", want: "sftp://backup@host:22/~/dumps"},
		{in: "sftp://host/dumps", err: "name the user"},
		{in: "sftp://u:secret@host/dumps", err: "no password in the URL"},
		{in: "sftp://u@host", err: "name the directory"},
		{in: "sftp://u@host:99999/d", err: "bad port"},
		{in: "scp://u@host/d", err: "must be sftp://"},
		{in: "sftp://u@host/d?x=1", err: "no query"},
	} {
		l, err := sftp.ParseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || l.String() != tc.want {
			t.Errorf("%s: %v %v, want %s", tc.in, l, err, tc.want)
		}
	}
}

func dial(t *testing.T, s *testenv.SSHD, dir, knownHosts string) (*sftp.Target, error) {
	t.Helper()
	loc, err := sftp.ParseURL(s.URL(dir))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := sftp.Dial(context.Background(), loc, sftp.Options{KeyFile: s.KeyFile, KnownHostsFile: knownHosts})
	if err == nil {
		t.Cleanup(func() { tg.Close() })
	}
	return tg, err
}

// Uploads are atomic and private; a failed one leaves nothing.
func TestTarget(t *testing.T) {
	ctx := context.Background()
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	dir := filepath.Join(s.Dir, "dumps", "main") // created by the first upload
	tg, err := dial(t, s, dir, s.KnownHosts)
	if err != nil {
		t.Fatalf("%v\nsshd log:\n%s", err, s.Log())
	}
	broken := errors.New("the database went away")
	if err := tg.Put(ctx, "a.dump.zst", func(w io.Writer) error { w.Write(make([]byte, 3<<20)); return broken }); !errors.Is(err, broken) {
		t.Fatalf("failed upload: %v", err)
	}
	if names, _ := tg.List(ctx); len(names) != 0 {
		t.Fatalf("a failed upload left %v", names)
	}
	content := strings.Repeat("dump content ", 500_000)
	if err := tg.Put(ctx, "a.dump.zst", func(w io.Writer) error { _, err := io.WriteString(w, content); return err }); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "a.dump.zst"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("uploaded file: %v %v (want mode 0600)", st, err)
	}
	if names, _ := tg.List(ctx); len(names) != 1 || names[0] != "a.dump.zst" {
		t.Fatalf("list: %v", names)
	}
	rc, err := tg.Open(ctx, "a.dump.zst")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != content {
		t.Fatalf("read back %d bytes, want %d", len(b), len(content))
	}
	if err := tg.Remove(ctx, "a.dump.zst"); err != nil {
		t.Fatal(err)
	}
	if err := tg.Put(ctx, "../escape", func(io.Writer) error { return nil }); err == nil {
		t.Fatal("a name with a directory was accepted")
	}
}

// The server must prove itself with the key known_hosts holds for it.
func TestHostKeyIsChecked(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	_, err := dial(t, s, s.Dir, empty)
	if !errors.Is(err, sftp.ErrUnknownHost) || !strings.Contains(err.Error(), "ssh-keyscan -p") || !strings.Contains(err.Error(), ssh.FingerprintSHA256(s.HostKey)) {
		t.Fatalf("unknown host: %v", err)
	}
	_, err = dial(t, s, s.Dir, s.OtherKnownHosts(t))
	if !errors.Is(err, sftp.ErrHostKeyChanged) || !strings.Contains(err.Error(), "Refusing to connect") {
		t.Fatalf("changed host key: %v", err)
	}
	if _, err := dial(t, s, s.Dir, filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "known_hosts") {
		t.Fatalf("missing known_hosts: %v", err)
	}
}

// A server that refuses writes gets a clear error, not a half-written dump.
func TestReadOnlyServer(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{ReadOnly: true})
	tg, err := dial(t, s, s.Dir, s.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	err = tg.Put(context.Background(), "a.dump.zst", func(w io.Writer) error { _, err := w.Write([]byte("x")); return err })
	if err == nil || !strings.Contains(err.Error(), "the server refuses the write (permission denied)") {
		t.Fatalf("read-only server: %v", err)
	}
	t.Log(err)
	if entries, _ := os.ReadDir(s.Dir); len(entries) != 0 {
		t.Fatalf("left %v", entries)
	}
}

// A key with a passphrase cannot be used unattended: the error says how to make one.
func TestKeyWithPassphrase(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "id")
	os.WriteFile(key, pem.EncodeToMemory(block), 0o600)
	loc, _ := sftp.ParseURL("sftp://u@127.0.0.1:1/d")
	_, err = sftp.Dial(context.Background(), loc, sftp.Options{KeyFile: key, KnownHostsFile: key})
	if err == nil || !strings.Contains(err.Error(), "protected by a passphrase") || !strings.Contains(err.Error(), "ssh-keygen -t ed25519 -N ''") {
		t.Fatalf("got %v", err)
	}
}

// Dumps go to the SFTP server, retention keeps the newest ones, and a dump read back from
// there restores the same content.
func TestDumpAndRestoreOverSFTP(t *testing.T) {
	ctx := context.Background()
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	src, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.ReplaceKnowledgeBase(ctx, storetest.SmallKnowledgeBase()); err != nil {
		t.Fatal(err)
	}
	var last *dump.Result
	for i := range 4 {
		d := storetest.NewDialog("c", time.Now())
		if err := src.RecordTalk(ctx, d, storetest.Talk(d, "q", d.StartedAt)); err != nil {
			t.Fatal(err)
		}
		tg, err := dial(t, s, s.Dir, s.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		if last, err = dump.Dump(ctx, src, tg, dump.Options{Keep: 2}); err != nil {
			t.Fatalf("dump %d: %v", i, err)
		}
		tg.Close()
	}
	entries, _ := os.ReadDir(s.Dir)
	if len(entries) != 2 || entries[1].Name() != last.Name {
		t.Fatalf("after 4 dumps with keep 2: %v", entries)
	}
	tg, err := dial(t, s, s.Dir, s.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rep, err := sqlite.BeginReplace(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dump.Restore(ctx, rep, func(ctx context.Context) (io.ReadCloser, error) { return tg.Open(ctx, last.Name) }, dump.RestoreOptions{})
	rep.Close()
	if err != nil {
		t.Fatal(err)
	}
	dst, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	dumptest.Equal(t, "restored from SFTP", dumptest.Digests(t, dst.DB()), dumptest.Digests(t, src.DB()))
}
