package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TinyproxyOptions configure StartTinyproxy.
type TinyproxyOptions struct {
	// User and Password, when User is set, make the proxy require Basic authentication.
	User, Password string
}

// Tinyproxy is a running Debian tinyproxy, listening on 127.0.0.1 and accepting only it.
type Tinyproxy struct {
	Host     string // "127.0.0.1"
	Port     int
	User     string
	Password string
	LogPath  string // LogLevel Info: one line per request, and whether it was forwarded
}

// Addr returns "127.0.0.1:PORT".
func (p *Tinyproxy) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// StartTinyproxy starts tinyproxy in the foreground with a configuration of its own in a
// temporary directory, waits until it accepts connections and stops it when the test ends.
// It calls Missing when tinyproxy is not installed.
func StartTinyproxy(t testing.TB, opts TinyproxyOptions) *Tinyproxy {
	t.Helper()
	bin := LookPath(t, "tinyproxy", "tinyproxy")
	dir := t.TempDir()
	p := &Tinyproxy{Host: "127.0.0.1", Port: FreePort(t), User: opts.User, Password: opts.Password,
		LogPath: filepath.Join(dir, "tinyproxy.log")}
	conf := []string{
		"Port " + strconv.Itoa(p.Port),
		"Listen 127.0.0.1",
		"Timeout 30",
		fmt.Sprintf("LogFile %q", p.LogPath),
		"LogLevel Info",
		fmt.Sprintf("PidFile %q", filepath.Join(dir, "tinyproxy.pid")),
		"MaxClients 20",
		"Allow 127.0.0.1",
	}
	if opts.User != "" {
		conf = append(conf, "BasicAuth "+opts.User+" "+opts.Password)
	}
	confPath := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(confPath, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, dir, bin, "-d", "-c", confPath)
	d.waitUntil(t, 10*time.Second, "accept connections on "+p.Addr(), p.LogPath, func() bool {
		c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return p
}

// Log returns what tinyproxy logged so far.
func (p *Tinyproxy) Log(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatalf("tinyproxy log: %v", err)
	}
	return string(b)
}

// ProxiedRequest is one request tinyproxy received, as its log tells it.
type ProxiedRequest struct {
	Method string // GET, POST, CONNECT...
	Target string // the absolute URL, or host:port for CONNECT
	// Forwarded is true when tinyproxy connected to the target: the request passed
	// authentication. tinyproxy 1.11 logs nothing about a refusal (it answers 407 without
	// credentials and 401 to wrong ones), so a refused request is one that was not forwarded.
	Forwarded bool
}

// Requests parses the log into the requests received so far, in order. Forwarded is exact
// for requests made one after the other, which is what tests do: tinyproxy's "Established
// connection" line does not name the client's connection, so it is tied to the request
// logged before it.
func (p *Tinyproxy) Requests(t testing.TB) []ProxiedRequest {
	t.Helper()
	var reqs []ProxiedRequest
	for line := range strings.Lines(p.Log(t)) {
		if _, after, ok := strings.Cut(line, "]: Request (file descriptor "); ok {
			// "5): GET http://127.0.0.2:8080/x HTTP/1.1"
			_, reqLine, _ := strings.Cut(after, "): ")
			f := strings.Fields(reqLine)
			if len(f) >= 2 {
				reqs = append(reqs, ProxiedRequest{Method: f[0], Target: f[1]})
			}
		} else if strings.Contains(line, "]: Established connection to host ") && len(reqs) > 0 {
			reqs[len(reqs)-1].Forwarded = true
		}
	}
	return reqs
}
