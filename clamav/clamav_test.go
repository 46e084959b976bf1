package clamav_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/clamav"
	"github.com/bascule/bascule/internal/testenv"
)

// The real clamd: what the product relies on.

func TestScanWithRealClamd(t *testing.T) {
	clamd := testenv.StartClamd(t)
	for _, addr := range []string{clamd.Addr, clamd.Socket} {
		c, err := clamav.New(addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Ping(t.Context()); err != nil {
			t.Fatalf("%s: Ping: %v", addr, err)
		}

		res, err := c.Scan(t.Context(), bytes.NewReader(testenv.EICAR()))
		if !res.Infected || res.Signature != testenv.EICARSignature+".UNOFFICIAL" {
			t.Errorf("%s: EICAR: %+v", addr, res)
		}
		if bascule.ErrorCode(err) != bascule.CodeInfected || err.Error() != "the file is infected (Eicar-Signature.UNOFFICIAL)" {
			t.Errorf("%s: EICAR error %v", addr, err)
		}

		// Clean, and larger than one chunk.
		clean := make([]byte, 300<<10)
		rand.Read(clean)
		if res, err := c.Scan(t.Context(), bytes.NewReader(clean)); err != nil || res.Infected {
			t.Errorf("%s: clean file: %+v, %v", addr, res, err)
		}

		big := io.LimitReader(zeros{}, testenv.ClamdStreamMaxLength+1)
		res, err = c.Scan(t.Context(), big)
		if bascule.ErrorCode(err) != bascule.CodeLimit || res.Infected ||
			err.Error() != "the file is larger than the antivirus accepts (clamd's StreamMaxLength)" {
			t.Errorf("%s: file over the limit: %+v, %v", addr, res, err)
		}
	}
}

func TestConcurrentScansWithRealClamd(t *testing.T) {
	clamd := testenv.StartClamd(t)
	c, err := clamav.New(clamd.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			content := []byte(strings.Repeat("clean ", 1000*(i+1)))
			infected := i%2 == 0
			if infected {
				content = testenv.EICAR()
			}
			res, err := c.Scan(t.Context(), bytes.NewReader(content))
			if res.Infected != infected || (err != nil) != infected {
				t.Errorf("scan %d: %+v, %v", i, res, err)
			}
		})
	}
	wg.Wait()
}

func TestRealClamdDown(t *testing.T) {
	clamd := testenv.StartClamd(t)
	c, err := clamav.New(clamd.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Scan(t.Context(), strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	clamd.Stop()
	_, err = c.Scan(t.Context(), strings.NewReader("hello"))
	if bascule.ErrorCode(err) != bascule.CodeUnavailable ||
		!strings.HasPrefix(err.Error(), "antivirus unavailable: clamd at "+clamd.Addr+", connect: ") {
		t.Errorf("clamd down: %v", err)
	}
	if err := c.Ping(t.Context()); bascule.ErrorCode(err) != bascule.CodeUnavailable {
		t.Errorf("Ping with clamd down: %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// A fake clamd, for what a real one will not do on demand.

// fakeClamd listens on 127.0.0.1 (or a unix socket) and runs serve for each connection.
func fakeClamd(t *testing.T, network string, serve func(conn net.Conn)) string {
	t.Helper()
	var l net.Listener
	var err error
	addr := ""
	if network == "unix" {
		dir, derr := os.MkdirTemp("", "fakeclamd")
		if derr != nil {
			t.Fatal(derr)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		addr = filepath.Join(dir, "clamd.ctl")
		l, err = net.Listen("unix", addr)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			addr = "tcp://" + l.Addr().String()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				serve(conn)
			}()
		}
	}()
	return addr
}

// readStream reads a command and, for INSTREAM, the chunks up to the zero length.
func readStream(conn net.Conn) (cmd string, chunks [][]byte) {
	cmd, _ = readUntilNUL(conn)
	for cmd == "zINSTREAM" {
		var n uint32
		if binary.Read(conn, binary.BigEndian, &n) != nil || n == 0 {
			break
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(conn, chunk); err != nil {
			break
		}
		chunks = append(chunks, chunk)
	}
	return cmd, chunks
}

func readUntilNUL(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for {
		if _, err := r.Read(one); err != nil {
			return string(b), err
		}
		if one[0] == 0 {
			return string(b), nil
		}
		b = append(b, one[0])
	}
}

func TestScanProtocol(t *testing.T) {
	var got [][]byte
	var mu sync.Mutex
	addr := fakeClamd(t, "unix", func(conn net.Conn) {
		_, chunks := readStream(conn)
		mu.Lock()
		got = chunks
		mu.Unlock()
		conn.Write([]byte("stream: OK\x00"))
	})
	c, err := clamav.New("unix://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	content := make([]byte, 200<<10+7)
	rand.Read(content)
	// A reader that returns one byte at a time must still give full chunks.
	if _, err := c.Scan(t.Context(), iotest.OneByteReader(bytes.NewReader(content))); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 4 || len(got[0]) != 64<<10 || !bytes.Equal(bytes.Join(got, nil), content) {
		t.Errorf("clamd got %d chunks, %d bytes", len(got), len(bytes.Join(got, nil)))
	}
}

func TestScanReplies(t *testing.T) {
	tests := []struct {
		name  string
		reply func(conn net.Conn)
		code  bascule.Code
		res   clamav.Result
		msg   string
	}{
		{"found", func(c net.Conn) { c.Write([]byte("stream: Win.Test.EICAR_HDB-1 FOUND\x00")) },
			bascule.CodeInfected, clamav.Result{Infected: true, Signature: "Win.Test.EICAR_HDB-1"}, "the file is infected (Win.Test.EICAR_HDB-1)"},
		{"reply without NUL, then close", func(c net.Conn) { c.Write([]byte("stream: OK")) }, "", clamav.Result{}, ""},
		{"size limit", func(c net.Conn) { c.Write([]byte("INSTREAM size limit exceeded. ERROR\x00")) },
			bascule.CodeLimit, clamav.Result{}, "the file is larger than the antivirus accepts (clamd's StreamMaxLength)"},
		{"other error", func(c net.Conn) { c.Write([]byte("stream: Can't allocate memory ERROR\x00")) },
			bascule.CodeUnavailable, clamav.Result{}, `antivirus unavailable: clamd at {addr}, INSTREAM: clamd answered "stream: Can't allocate memory ERROR"`},
		{"closed without a reply", func(c net.Conn) {},
			bascule.CodeUnavailable, clamav.Result{}, "antivirus unavailable: clamd at {addr}, INSTREAM: EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeClamd(t, "tcp", func(conn net.Conn) { readStream(conn); tt.reply(conn) })
			c, _ := clamav.New(addr)
			res, err := c.Scan(t.Context(), strings.NewReader("some file"))
			if res != tt.res || bascule.ErrorCode(err) != tt.code && err != nil || (err == nil) != (tt.code == "") {
				t.Fatalf("Scan = %+v, %v", res, err)
			}
			if err != nil && err.Error() != strings.ReplaceAll(tt.msg, "{addr}", addr) {
				t.Errorf("error %q, want %q", err, tt.msg)
			}
		})
	}
}

// clamd refuses a stream over StreamMaxLength as soon as it passes it, then closes the
// connection while the client may still be writing: the reason must not be lost.
func TestScanRefusedMidStream(t *testing.T) {
	addr := fakeClamd(t, "tcp", func(conn net.Conn) {
		readUntilNUL(conn)
		var n uint32
		binary.Read(conn, binary.BigEndian, &n)
		io.CopyN(io.Discard, conn, int64(n))
		conn.Write([]byte("INSTREAM size limit exceeded. ERROR\x00"))
	})
	c, _ := clamav.New(addr)
	_, err := c.Scan(t.Context(), io.LimitReader(zeros{}, 64<<20))
	if bascule.ErrorCode(err) != bascule.CodeLimit {
		t.Fatalf("Scan = %v, want the size limit", err)
	}
}

func TestScanHonoursTheContext(t *testing.T) {
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	addr := fakeClamd(t, "tcp", func(conn net.Conn) { readStream(conn); <-stuck })
	c, _ := clamav.New(addr)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Scan(ctx, strings.NewReader("slow verdict"))
	if bascule.ErrorCode(err) != bascule.CodeUnavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Scan = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Scan returned after %v", d)
	}
}

func TestScanReaderError(t *testing.T) {
	addr := fakeClamd(t, "tcp", func(conn net.Conn) { readStream(conn); conn.Write([]byte("stream: OK\x00")) })
	c, _ := clamav.New(addr)
	broken := errors.New("upload interrupted")
	_, err := c.Scan(t.Context(), io.MultiReader(strings.NewReader("part"), iotest.ErrReader(broken)))
	if !errors.Is(err, broken) || bascule.ErrorCode(err) == bascule.CodeUnavailable {
		t.Errorf("Scan = %v; want the reader's error, not clamd's", err)
	}
}

func TestPingFake(t *testing.T) {
	addr := fakeClamd(t, "tcp", func(conn net.Conn) {
		if cmd, _ := readStream(conn); cmd == "zPING" {
			conn.Write([]byte("PONG\x00"))
		} else {
			conn.Write([]byte("UNKNOWN COMMAND\x00"))
		}
	})
	c, _ := clamav.New(addr)
	if err := c.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestNew(t *testing.T) {
	for addr, want := range map[string]string{
		"tcp://127.0.0.1:3310":         "",
		"unix:///run/clamav/clamd.ctl": "",
		"/run/clamav/clamd.ctl":        "",
		"127.0.0.1:3310":               `clamd address "127.0.0.1:3310": use tcp://host:port, unix:///path/to/clamd.ctl or a socket path`,
		"tcp://clamd":                  `clamd address "tcp://clamd": use tcp://host:port`,
		"unix://":                      `clamd address "unix://": no socket path`,
	} {
		got := ""
		if _, err := clamav.New(addr); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("New(%q): error %q, want %q", addr, got, want)
		}
	}
}
