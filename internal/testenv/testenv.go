// Package testenv starts the real components that Bascule's tests use (Chromium, sshd, clamd,
// PostgreSQL, tinyproxy, bascule processes) and decides what happens when one is missing:
// the test skips with a message saying what to install, or fails when BASCULE_REQUIRE_REAL=1
// (CI sets it, so a missing install step cannot hide behind a green run).
package testenv

import (
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// RequireReal reports whether tests must fail instead of skipping when a real component is
// missing.
func RequireReal() bool { return os.Getenv("BASCULE_REQUIRE_REAL") == "1" }

// Missing skips the test (or fails it under BASCULE_REQUIRE_REAL=1) because a real component
// is not available; why says what is missing and how to get it.
func Missing(t testing.TB, why string) {
	t.Helper()
	if RequireReal() {
		t.Fatalf("BASCULE_REQUIRE_REAL=1 and %s", why)
	}
	t.Skipf("skipped: %s (set BASCULE_REQUIRE_REAL=1 to make this a failure)", why)
}

// LookPath finds a program among the usual places (including sbin directories that are not
// on a normal user's PATH), or calls Missing with the Debian package that provides it.
func LookPath(t testing.TB, program, debianPackage string) string {
	t.Helper()
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"} {
		p := dir + "/" + program
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	Missing(t, program+" is not installed (Debian package "+debianPackage+"; .ci/run installs it)")
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. It is drawn at random
// below the kernel's ephemeral range: ports the kernel hands out for port 0 are the ones it
// also gives outgoing connections, and under load (a bench, a browser) one of those can take
// the port between this check and the server's bind.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port between 20000 and 32000")
	return 0
}

// FreeAddr returns "127.0.0.1:PORT" for a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(FreePort(t))
}

// ReplaceFile writes text to path (creating its directory) aside and renames it over the old
// file, as configuration tools do, so that a program watching the file never reads half of it.
func ReplaceFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
