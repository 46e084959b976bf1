package testenv

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHDOptions configure StartSSHD.
type SSHDOptions struct {
	// ReadOnly makes the SFTP server refuse every write (internal-sftp -R): a target that
	// refuses dumps, whoever the user is (root ignores file permissions).
	ReadOnly bool
}

// SSHD is a running OpenSSH server on 127.0.0.1 that accepts one user with one key and
// serves SFTP, as a dumps server would.
type SSHD struct {
	Host string // "127.0.0.1"
	Port int
	User string // the user running the tests (root in CI)
	// KeyFile is the user's private key (OpenSSH format, no passphrase).
	KeyFile string
	// KnownHosts is a known_hosts file holding the server's host key.
	KnownHosts string
	HostKey    ssh.PublicKey
	// Dir is an empty directory the user may write in, for dumps.
	Dir     string
	LogPath string
}

// Addr returns "127.0.0.1:PORT".
func (s *SSHD) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// URL returns the sftp:// URL of a directory on the server.
func (s *SSHD) URL(dir string) string {
	return "sftp://" + s.User + "@" + s.Addr() + "/" + strings.TrimPrefix(dir, "/")
}

// Log returns what sshd logged so far.
func (s *SSHD) Log() string { return readFile(s.LogPath) }

// StartSSHD starts Debian's sshd in the foreground on a free port, with a host key and a user
// key made for the test and a configuration of its own in a temporary directory; it waits
// until the server greets, and stops it when the test ends. It calls Missing when sshd is not
// installed (Debian package openssh-server).
func StartSSHD(t testing.TB, o SSHDOptions) *SSHD {
	t.Helper()
	bin := LookPath(t, "sshd", "openssh-server")
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &SSHD{Host: "127.0.0.1", Port: FreePort(t), User: me.Username, Dir: t.TempDir(),
		KeyFile: filepath.Join(dir, "id_ed25519"), KnownHosts: filepath.Join(dir, "known_hosts"), LogPath: filepath.Join(dir, "sshd.log")}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	s.HostKey = writeKey(t, hostKey)
	userKey := writeKey(t, s.KeyFile)
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, ssh.MarshalAuthorizedKey(userKey), 0o600); err != nil {
		t.Fatal(err)
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, s.HostKey)
	if err := os.WriteFile(s.KnownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sftp := "internal-sftp"
	if o.ReadOnly {
		sftp += " -R"
	}
	conf := []string{
		"Port " + strconv.Itoa(s.Port),
		"ListenAddress " + s.Host,
		"HostKey " + hostKey,
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile " + authorized,
		"AllowUsers " + s.User,
		"StrictModes no", // the temporary directories are not laid out as a home would be
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"PermitRootLogin prohibit-password",
		"UsePAM no",
		"Subsystem sftp " + sftp,
		"LogLevel VERBOSE",
	}
	confPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(confPath, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd refuses to start as root without its privilege separation directory, which only
	// the service's unit creates; as another user it is not needed (and cannot be made).
	_ = os.MkdirAll("/run/sshd", 0o755)
	d := startDaemon(t, dir, bin, "-D", "-e", "-f", confPath, "-E", s.LogPath)
	d.waitUntil(t, 10*time.Second, "greet on "+s.Addr(), s.LogPath, func() bool {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		banner, _ := bufio.NewReader(c).ReadString('\n')
		return strings.HasPrefix(banner, "SSH-2.0-")
	})
	return s
}

// writeKey makes an Ed25519 key, writes its private half in OpenSSH format and returns its
// public half.
func writeKey(t testing.TB, path string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "bascule test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// OtherKnownHosts writes a known_hosts file that gives the server another key than its own
// (as after a reinstall, or for an impostor) and returns its path.
func (s *SSHD) OtherKnownHosts(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	other := writeKey(t, filepath.Join(dir, "other_key"))
	path := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(path, []byte(knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, other)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
