package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bascule check -options: every problem of an options.env with its line, exit 1; a good file
// with its settings (never a password), exit 0.
func TestCheckOptions(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir) // ~/.bascule/options.env is the test's own
	defaults := "nonProxyHosts: localhost|127.*|[::1]|0.0.0.0|[::0]"
	tests := []struct {
		name    string
		content string // "" : no file
		code    int
		out     string   // {path} is the file
		errs    []string // the lines on stderr
	}{
		{"a proxy with credentials", "http.proxyHost=proxy.example.com\nhttp.proxyPort=3128\nhttp.proxyUser=bob\nhttp.proxyPassword=s3cret\n",
			0, "{path}: ok (http: bob@proxy.example.com:3128, https: direct, " + defaults + ")\n", nil},
		{"both schemes and a bypass list", "# data centre proxy\nhttps.proxyHost=10.0.0.1\nhttp.proxyHost=10.0.0.1\nhttp.nonProxyHosts=*.internal|localhost\n",
			0, "{path}: ok (http: 10.0.0.1:80, https: 10.0.0.1:443, nonProxyHosts: *.internal|localhost)\n", nil},
		{"comments only", "# no proxy here\n\n", 0, "{path}: ok (http: direct, https: direct, " + defaults + ")\n", nil},
		{"every problem, with its line", "http.proxyHost=proxy\nhttp.proxyPort=99999\n\nhttp.proxyUser = bob\nhttps.nonProxyHosts=localhost\n",
			1, "", []string{
				`{path}:2: http.proxyPort: "99999" is not a port: use a number from 1 to 65535`,
				`{path}:4: http.proxyUser: no spaces around '=' (write http.proxyUser=value)`,
				`{path}:5: https.nonProxyHosts: does not exist: use http.nonProxyHosts, which applies to https:// URLs too`,
			}},
		{"the seeds' example with a wildcard host", "http.proxyHost=*.localdomain.com\nhttp.proxyPort=80\nhttp.proxyUser=login\nhttp.proxyPassword=mdp\n",
			1, "", []string{`{path}:1: http.proxyHost: "*.localdomain.com": wildcards belong in http.nonProxyHosts; http.proxyHost names one proxy`}},
		{"quoted password", "https.proxyHost=p\nhttps.proxyUser=u\nhttps.proxyPassword=\"s3cret\"\n",
			1, "", []string{`{path}:3: https.proxyPassword: values are not quoted: remove the quotes (docker's env_file would keep them in the value)`}},
		{"environment variable syntax", "HTTPS_PROXY=http://proxy:3128\n",
			1, "", []string{"{path}:1: HTTPS_PROXY: options.env takes Java property names: http.proxyHost, http.proxyPort, http.proxyUser, http.proxyPassword, http.nonProxyHosts, https.proxyHost, https.proxyPort, https.proxyUser, https.proxyPassword"}},
		{"not an options file", strings.Repeat("#", 70<<10), 1, "", []string{"{path}:1: larger than 64 KiB: this file holds a few proxy settings; is it the right file?"}},
		{"no such file", "", 1, "", []string{"{path}: no such file"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "options"+string(rune('a'+i))+".env")
			if tt.content != "" {
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errOut := runCLI(t, "check", "-options", path)
			fill := func(s string) string { return strings.ReplaceAll(s, "{path}", path) }
			want := ""
			for _, e := range tt.errs {
				want += fill(e) + "\n"
			}
			if code != tt.code || out != fill(tt.out) || errOut != want {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut, tt.code, fill(tt.out), want)
			}
			if strings.Contains(out+errOut, "s3cret") {
				t.Errorf("a password was printed: %s%s", out, errOut)
			}
		})
	}
}

// bascule check -config also checks the options.env the configuration names, or
// ~/.bascule/options.env.
func TestCheckConfigWithItsOptions(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("plain.yml", "log:\n  level: warn\n")
	home := filepath.Join(dir, ".bascule", "options.env")
	code, out, errOut := runCLI(t, "check", "-config", plain)
	if code != 0 || out != plain+": ok\n"+home+": none; outbound calls go out directly\n" || errOut != "" {
		t.Errorf("no options.env: exit %d %q %q", code, out, errOut)
	}
	write(".bascule/options.env", "http.proxyHost=proxy\n")
	if code, out, _ := runCLI(t, "check", "-config", plain); code != 0 || !strings.Contains(out, home+": ok (http: proxy:80, https: direct") {
		t.Errorf("~/.bascule/options.env: exit %d %q", code, out)
	}
	bad := write("bad.env", "http.proxyPort=3128\n")
	named := write("named.yml", "outbound:\n  options: "+bad+"\n")
	code, out, errOut = runCLI(t, "check", "-config", named)
	if code != 1 || out != named+": ok\n" || errOut != bad+":1: http.proxyPort: set without http.proxyHost\n" {
		t.Errorf("outbound.options naming a bad file: exit %d %q %q", code, out, errOut)
	}
	// A bad configuration and a good options.env given apart: both verdicts, exit 1.
	broken := write("broken.yml", "outbound:\n  option: x\n")
	code, out, errOut = runCLI(t, "check", "-config", broken, "-options", home)
	if code != 1 || !strings.Contains(errOut, broken+":2: outbound.option: unknown key (did you mean options?)") || !strings.Contains(out, home+": ok") {
		t.Errorf("bad configuration, good options: exit %d %q %q", code, out, errOut)
	}
	if code, _, _ := runCLI(t, "check"); code != 2 {
		t.Errorf("check without a file: exit %d, want 2", code)
	}
}
