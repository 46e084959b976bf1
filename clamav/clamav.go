// Package clamav scans files with a clamd daemon over its INSTREAM command, before Bascule
// stores an upload. The file is streamed in bounded chunks, never held in memory whole.
//
// Failures are *bascule.Error values whose code tells the caller what to do:
// bascule.CodeInfected (refuse the file; the Result names the signature), bascule.CodeLimit
// (the file exceeds clamd's StreamMaxLength), bascule.CodeUnavailable (clamd is down, too
// slow or broke the connection: the file was not scanned, so it must not be stored either).
package clamav

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/bascule/bascule"
)

// chunkSize bounds the memory of a scan; clamd accepts any chunk up to its StreamMaxLength.
const chunkSize = 64 << 10

// dialTimeout is how long a connection to clamd may take when the context allows more: a
// clamd that does not accept within it is reported unavailable rather than waited for.
const dialTimeout = 5 * time.Second

// maxReply bounds what is read of clamd's answer, a single short line.
const maxReply = 4 << 10

// Client talks to one clamd. It holds no connection: each call opens its own, so a Client is
// safe for concurrent use and survives clamd restarts.
type Client struct {
	addr    string // as given, for messages
	network string // "tcp" or "unix"
	address string
}

// Result is the verdict on one file.
type Result struct {
	Infected  bool
	Signature string // what clamd found, such as "Eicar-Signature"; "" when clean
}

// New returns a client of the clamd at addr: "tcp://host:port", "unix:///run/clamav/clamd.ctl"
// or a bare socket path. Nothing is dialled until the first call.
func New(addr string) (*Client, error) {
	c := &Client{addr: addr}
	switch {
	case strings.HasPrefix(addr, "tcp://"):
		c.network, c.address = "tcp", strings.TrimPrefix(addr, "tcp://")
		if _, port, err := net.SplitHostPort(c.address); err != nil || port == "" {
			return nil, fmt.Errorf("clamd address %q: use tcp://host:port", addr)
		}
	case strings.HasPrefix(addr, "unix://"):
		c.network, c.address = "unix", strings.TrimPrefix(addr, "unix://")
	case strings.HasPrefix(addr, "/"):
		c.network, c.address = "unix", addr
	default:
		return nil, fmt.Errorf("clamd address %q: use tcp://host:port, unix:///path/to/clamd.ctl or a socket path", addr)
	}
	if c.address == "" {
		return nil, fmt.Errorf("clamd address %q: no socket path", addr)
	}
	return c, nil
}

// Ping checks that clamd answers.
func (c *Client) Ping(ctx context.Context) error {
	conn, stop, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer stop()
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return c.unavailable(ctx, "PING", err)
	}
	reply, err := readReply(conn)
	if err != nil {
		return c.unavailable(ctx, "PING", err)
	}
	if reply != "PONG" {
		return c.unavailable(ctx, "PING", fmt.Errorf("unexpected reply %q", reply))
	}
	return nil
}

// Scan streams r to clamd and returns its verdict. An infected file gives both a Result that
// names the signature and a bascule.CodeInfected error, so that a caller checking only the
// error never stores it. The scan stops when ctx is done. An error reading r is returned as is.
func (c *Client) Scan(ctx context.Context, r io.Reader) (Result, error) {
	conn, stop, err := c.dial(ctx)
	if err != nil {
		return Result{}, err
	}
	defer stop()
	// clamd answers as soon as it refuses the stream (size limit) and may then reset the
	// connection; reading concurrently gets the answer before a reset can discard it.
	replies := make(chan reply, 1)
	go func() {
		text, err := readReply(conn)
		replies <- reply{text, err}
	}()
	if err := c.stream(conn, r, replies); err != nil {
		var re *readError
		if errors.As(err, &re) {
			return Result{}, re.err
		}
		// A write failed: clamd may have said why before closing.
		select {
		case rep := <-replies:
			if rep.err == nil {
				return c.verdict(ctx, rep.text)
			}
		case <-time.After(time.Second):
		}
		return Result{}, c.unavailable(ctx, "INSTREAM", err)
	}
	rep := <-replies
	if rep.err != nil {
		return Result{}, c.unavailable(ctx, "INSTREAM", rep.err)
	}
	return c.verdict(ctx, rep.text)
}

type reply struct {
	text string
	err  error
}

// readError marks a failure of the caller's reader, which is not clamd's fault.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }

// stream sends the INSTREAM command and the chunks: each a 4-byte big-endian length and the
// bytes, then a zero length. It stops early when clamd has answered already.
func (c *Client) stream(conn net.Conn, r io.Reader, replies chan reply) error {
	if _, err := conn.Write([]byte("zINSTREAM\x00")); err != nil {
		return err
	}
	buf := make([]byte, 4+chunkSize)
	for {
		n, rerr := io.ReadFull(r, buf[4:])
		if n > 0 {
			binary.BigEndian.PutUint32(buf[:4], uint32(n))
			if _, err := conn.Write(buf[:4+n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return &readError{fmt.Errorf("reading the file to scan: %w", rerr)}
		}
		select {
		case rep := <-replies:
			replies <- rep // clamd refused the stream: let Scan read why
			return errors.New("clamd ended the stream early")
		default:
		}
	}
	_, err := conn.Write([]byte{0, 0, 0, 0})
	return err
}

// verdict interprets clamd's reply to INSTREAM.
func (c *Client) verdict(ctx context.Context, text string) (Result, error) {
	switch {
	case text == "stream: OK":
		return Result{}, nil
	case strings.HasPrefix(text, "stream: ") && strings.HasSuffix(text, " FOUND"):
		sig := strings.TrimSuffix(strings.TrimPrefix(text, "stream: "), " FOUND")
		return Result{Infected: true, Signature: sig}, &bascule.Error{Code: bascule.CodeInfected,
			Message: "the file is infected (" + sig + ")"}
	case strings.Contains(text, "size limit exceeded"):
		return Result{}, &bascule.Error{Code: bascule.CodeLimit,
			Message: "the file is larger than the antivirus accepts (clamd's StreamMaxLength)"}
	}
	return Result{}, c.unavailable(ctx, "INSTREAM", fmt.Errorf("clamd answered %q", text))
}

// dial connects, tying the connection's deadline to ctx: when ctx is done, pending reads and
// writes fail at once. stop closes the connection and unties it.
func (c *Client) dial(ctx context.Context) (net.Conn, func(), error) {
	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, c.network, c.address)
	if err != nil {
		return nil, nil, c.unavailable(ctx, "connect", err)
	}
	untie := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return conn, func() { untie(); conn.Close() }, nil
}

// readReply reads one NUL-terminated reply (the z-prefixed commands' form).
func readReply(conn net.Conn) (string, error) {
	var b strings.Builder
	buf := make([]byte, 256)
	for b.Len() < maxReply {
		n, err := conn.Read(buf)
		b.Write(buf[:n])
		if i := strings.IndexByte(b.String(), 0); i >= 0 {
			return strings.TrimSpace(b.String()[:i]), nil
		}
		if err == io.EOF && b.Len() > 0 {
			return strings.TrimSpace(b.String()), nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("reply longer than %d bytes", maxReply)
}

// unavailable reports a clamd that cannot give a verdict; the context's error wins, as it
// explains why the connection was cut.
func (c *Client) unavailable(ctx context.Context, step string, err error) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return &bascule.Error{Code: bascule.CodeUnavailable,
		Message: fmt.Sprintf("antivirus unavailable: clamd at %s, %s", c.addr, step), Err: err}
}
