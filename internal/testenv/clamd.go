package testenv

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EICARSignature is the name StartClamd's database gives the EICAR test file. clamd reports
// it with ".UNOFFICIAL" appended, as it does for every signature outside its own databases.
const EICARSignature = "Eicar-Signature"

// ClamdStreamMaxLength is the StreamMaxLength StartClamd configures: INSTREAM refuses more.
const ClamdStreamMaxLength = 1 << 20

// EICAR returns the 68-byte EICAR antivirus test file. It is assembled at run time so that the
// repository itself holds no file an antivirus would flag.
func EICAR() []byte {
	parts := []string{`X5O!P%@AP[4\PZX54(P^)7CC)7}$`, "EICAR-STANDARD-", "ANTIVIRUS-TEST-", "FILE!$H+H*"}
	return []byte(strings.Join(parts, ""))
}

// Clamd is a running Debian clamd whose only signature is the EICAR test file's.
type Clamd struct {
	Addr   string // "tcp://127.0.0.1:PORT"
	Socket string // "unix:///.../clamd.sock"
	stop   func()
}

// StartClamd starts clamd in the foreground with a configuration and a signature database of
// its own in temporary directories (no freshclam: nothing is downloaded), waits until it
// answers PING and stops it when the test ends. It calls Missing when clamd is not installed.
func StartClamd(t testing.TB) *Clamd {
	t.Helper()
	bin := LookPath(t, "clamd", "clamav-daemon")
	dir := t.TempDir()
	// A unix socket path is limited to 108 bytes, which a test's TempDir may exceed.
	sockDir, err := os.MkdirTemp("", "clamd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	// An .hdb line is md5:size:name: a signature matching exactly this content.
	eicar := EICAR()
	sum := md5.Sum(eicar)
	hdb := fmt.Sprintf("%s:%d:%s\n", hex.EncodeToString(sum[:]), len(eicar), EICARSignature)
	if err := os.WriteFile(filepath.Join(db, "bascule-test.hdb"), []byte(hdb), 0o644); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	sock := filepath.Join(sockDir, "clamd.sock")
	logPath := filepath.Join(dir, "clamd.log")
	// clamd runs as whoever starts it when User is not set, root included.
	conf := []string{
		"Foreground yes",
		"TCPSocket " + strconv.Itoa(port),
		"TCPAddr 127.0.0.1",
		"LocalSocket " + sock,
		"DatabaseDirectory " + db,
		"TemporaryDirectory " + dir,
		"LogFile " + logPath,
		"LogTime yes",
		"PidFile " + filepath.Join(dir, "clamd.pid"),
		"StreamMaxLength " + strconv.Itoa(ClamdStreamMaxLength),
		"MaxThreads 4",
		"SelfCheck 0",
	}
	confPath := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(confPath, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, dir, bin, "-c", confPath)
	// Loading even one signature takes clamd a moment; a full database takes many seconds.
	tcp := "127.0.0.1:" + strconv.Itoa(port)
	d.waitUntil(t, 60*time.Second, "answer PING on "+tcp, logPath, func() bool { return ping(tcp) })
	return &Clamd{Addr: "tcp://" + tcp, Socket: "unix://" + sock, stop: d.stop}
}

// Stop stops clamd now, for tests of what happens when it is down.
func (c *Clamd) Stop() { c.stop() }

// ping speaks just enough of clamd's protocol to know it is ready (the clamav package has the
// real client; testenv does not depend on the code under test).
func ping(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return false
	}
	reply := make([]byte, 16)
	n, _ := conn.Read(reply)
	return bytes.Equal(reply[:n], []byte("PONG\x00"))
}
