// Package sftp is the dumps' remote target: a directory on a server reached over SSH,
// authenticated by a private key, where the server must prove itself with a host key listed
// in a known_hosts file. An unknown or changed host key is refused: dumps hold visitors'
// dialogs and must never go to an impostor.
package sftp

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Errors of the host key check.
var (
	ErrUnknownHost    = errors.New("unknown SSH host key")
	ErrHostKeyChanged = errors.New("SSH host key changed")
)

// Location is a parsed sftp://user@host[:port]/path URL.
type Location struct {
	User string
	Host string
	Port int
	// Path is the directory on the server: absolute, or relative to the user's home when the
	// URL's path starts with /~/.
	Path string
}

// ParseURL parses sftp://user@host[:port]/path. The user and the path are required; no
// password is accepted (the key authenticates).
func ParseURL(s string) (*Location, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %v", s, err)
	}
	if u.Scheme != "sftp" {
		return nil, fmt.Errorf("%q: the scheme must be sftp://", s)
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, fmt.Errorf("%q: name the user: sftp://user@host/path", s)
	}
	if _, ok := u.User.Password(); ok {
		return nil, fmt.Errorf("%q: no password in the URL: the SSH key authenticates", s)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%q: no host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: no query or fragment", s)
	}
	l := &Location{User: u.User.Username(), Host: u.Hostname(), Port: 22}
	if p := u.Port(); p != "" {
		if l.Port, err = strconv.Atoi(p); err != nil || l.Port < 1 || l.Port > 65535 {
			return nil, fmt.Errorf("%q: bad port %q", s, p)
		}
	}
	switch {
	case u.Path == "" || u.Path == "/":
		return nil, fmt.Errorf("%q: name the directory: sftp://user@host/path (or /~/path in the user's home)", s)
	case u.Path == "/~" || strings.HasPrefix(u.Path, "/~/"):
		l.Path = strings.TrimPrefix(strings.TrimPrefix(u.Path, "/~"), "/")
		if l.Path == "" {
			l.Path = "."
		}
	default:
		l.Path = path.Clean(u.Path)
	}
	return l, nil
}

// Addr is host:port.
func (l *Location) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

func (l *Location) String() string {
	p := l.Path
	if !strings.HasPrefix(p, "/") {
		p = "/~/" + strings.TrimPrefix(p, ".")
	}
	return "sftp://" + l.User + "@" + l.Addr() + strings.TrimSuffix(p, "/")
}

// Options are the files that authenticate both ends.
type Options struct {
	KeyFile        string        // the client's private key, without passphrase (bascule runs unattended)
	KnownHostsFile string        // the server's host key, in OpenSSH's known_hosts format
	Timeout        time.Duration // connection and handshake; default 20s
}

// Target is a directory on an SFTP server. It implements dump.Target.
type Target struct {
	loc  *Location
	conn *ssh.Client
	c    *sftp.Client
}

// Dial connects to the server and checks its host key.
func Dial(ctx context.Context, loc *Location, o Options) (*Target, error) {
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	signer, err := loadKey(o.KeyFile)
	if err != nil {
		return nil, err
	}
	if o.KnownHostsFile == "" {
		return nil, errors.New("no known_hosts file: the server's host key must be known before dumps are sent to it")
	}
	check, err := knownhosts.New(o.KnownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	d := net.Dialer{Timeout: o.Timeout}
	raw, err := d.DialContext(ctx, "tcp", loc.Addr())
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", loc.Addr(), err)
	}
	cfg := &ssh.ClientConfig{
		User:              loc.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hostKeyCallback(check, loc, o.KnownHostsFile),
		HostKeyAlgorithms: knownAlgorithms(check, loc.Addr(), raw.RemoteAddr()),
		Timeout:           o.Timeout,
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	raw.SetDeadline(time.Now().Add(o.Timeout))
	sc, chans, reqs, err := ssh.NewClientConn(raw, loc.Addr(), cfg)
	if err != nil {
		raw.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("ssh %s@%s: %w", loc.User, loc.Addr(), err)
	}
	raw.SetDeadline(time.Time{})
	conn := ssh.NewClient(sc, chans, reqs)
	// Concurrent writes keep the link busy instead of waiting for each packet's answer; a
	// failed upload is removed whole, so the holes they may leave on error do not matter.
	c, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sftp on %s: %w (is the sftp subsystem enabled?)", loc.Addr(), err)
	}
	return &Target{loc: loc, conn: conn, c: c}, nil
}

// loadKey reads the client's private key.
func loadKey(file string) (ssh.Signer, error) {
	if file == "" {
		return nil, errors.New("no SSH key: set the private key file")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ssh key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	var pm *ssh.PassphraseMissingError
	if errors.As(err, &pm) {
		return nil, fmt.Errorf("ssh key %s is protected by a passphrase: bascule runs unattended and needs a key without one "+
			"(make one for dumps only: ssh-keygen -t ed25519 -N '' -f %s)", file, file)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh key %s: %w", file, err)
	}
	return signer, nil
}

// hostKeyCallback checks the server's key against known_hosts and says plainly what to do
// when it is not there or differs.
func hostKeyCallback(check ssh.HostKeyCallback, loc *Location, file string) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &ke) && len(ke.Want) == 0:
			return fmt.Errorf("%w: %s is not in %s (it presents %s %s). Check that fingerprint with the server's administrator, then add "+
				"the key: ssh-keyscan -p %d %s >> %s", ErrUnknownHost, loc.Addr(), file, key.Type(), ssh.FingerprintSHA256(key),
				loc.Port, loc.Host, file)
		case errors.As(err, &ke):
			return fmt.Errorf("%w: %s presents %s %s, but line %d of %s holds another key for it. Refusing to connect: someone may be "+
				"intercepting the connection. If the server was reinstalled, replace that line after checking the new fingerprint",
				ErrHostKeyChanged, loc.Addr(), key.Type(), ssh.FingerprintSHA256(key), ke.Want[0].Line, file)
		case errors.As(err, &re):
			return fmt.Errorf("%w: the host key of %s is revoked in %s", ErrHostKeyChanged, loc.Addr(), file)
		}
		return err
	}
}

// knownAlgorithms lists the host key algorithms known_hosts holds for the server. Without
// it the server may present a key of another type than the one listed (an ECDSA key when
// known_hosts has its Ed25519 one), which would look like a changed key.
func knownAlgorithms(check ssh.HostKeyCallback, addr string, remote net.Addr) []string {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(check(addr, remote, probe.PublicKey()), &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}

// path returns the server path of a file of the target.
func (t *Target) path(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", fmt.Errorf("bad dump name %q", name)
	}
	return path.Join(t.loc.Path, name), nil
}

// guard closes the connection when ctx ends, so that no call blocks past it.
func (t *Target) guard(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() { t.conn.Close() })
}

// refused makes a permission error say what to check.
func (t *Target) refused(what string, err error) error {
	if errors.Is(err, os.ErrPermission) || errors.Is(err, sftp.ErrSSHFxPermissionDenied) {
		return fmt.Errorf("%s: the server refuses the write (permission denied): check that %s may write in %s and that the SFTP "+
			"server is not read-only", what, t.loc.User, t.loc.Path)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Put implements dump.Target: the file is written under a temporary name, made readable by
// its owner only, and renamed once complete.
func (t *Target) Put(ctx context.Context, name string, write func(io.Writer) error) error {
	final, err := t.path(name)
	if err != nil {
		return err
	}
	defer t.guard(ctx)()
	if err := t.c.MkdirAll(t.loc.Path); err != nil {
		return t.refused("create directory "+t.loc.Path, err)
	}
	tmp := path.Join(t.loc.Path, "."+name+".tmp")
	f, err := t.c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return t.refused("create "+tmp, err)
	}
	err = f.Chmod(0o600)
	if err == nil {
		bw := bufio.NewWriterSize(f, 1<<20)
		if err = write(bw); err == nil {
			err = bw.Flush()
		}
		if err != nil && ctx.Err() == nil {
			err = t.refused("write "+tmp, err)
		}
	} else {
		err = t.refused("chmod "+tmp, err)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = t.refused("close "+tmp, cerr)
	}
	if err == nil {
		err = t.rename(tmp, final)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the connection is closed: the temporary file stays, under its hidden name
		}
		t.c.Remove(tmp)
	}
	return err
}

// rename replaces atomically where the server can (OpenSSH's posix-rename extension).
func (t *Target) rename(from, to string) error {
	var err error
	if _, ok := t.c.HasExtension("posix-rename@openssh.com"); ok {
		err = t.c.PosixRename(from, to)
	} else {
		err = t.c.Rename(from, to)
	}
	if err != nil {
		return t.refused("rename "+from+" to "+to, err)
	}
	return nil
}

// List implements dump.Target.
func (t *Target) List(ctx context.Context) ([]string, error) {
	defer t.guard(ctx)()
	infos, err := t.c.ReadDir(t.loc.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", t.loc.Path, err)
	}
	var names []string
	for _, fi := range infos {
		if fi.Mode().IsRegular() {
			names = append(names, fi.Name())
		}
	}
	return names, nil
}

// Open implements dump.Target. The connection stays open until the file is closed.
func (t *Target) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := t.path(name)
	if err != nil {
		return nil, err
	}
	stop := t.guard(ctx)
	f, err := t.c.Open(p)
	if err != nil {
		stop()
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	return &remoteFile{Reader: bufio.NewReaderSize(f, 1<<20), f: f, stop: stop}, nil
}

type remoteFile struct {
	*bufio.Reader
	f    *sftp.File
	stop func() bool
}

func (r *remoteFile) Close() error {
	r.stop()
	return r.f.Close()
}

// Remove implements dump.Target.
func (t *Target) Remove(ctx context.Context, name string) error {
	p, err := t.path(name)
	if err != nil {
		return err
	}
	defer t.guard(ctx)()
	if err := t.c.Remove(p); err != nil {
		return t.refused("remove "+p, err)
	}
	return nil
}

func (t *Target) String() string { return t.loc.String() }

// Close ends the connection.
func (t *Target) Close() error {
	t.c.Close()
	return t.conn.Close()
}
