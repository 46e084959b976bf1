package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultsAreValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := Parse("empty.yml", nil)
	if err != nil || c.Server.Listen != "127.0.0.1:8080" {
		t.Fatalf("an empty file must give the defaults: %v", err)
	}
}

func TestParseOverridesDefaults(t *testing.T) {
	c, err := Parse("b.yml", []byte(`
server:
  listen: 0.0.0.0:9000
  role: main
peer:
  url: https://app2.example.com:8443
  listen: 0.0.0.0:8443
  tls: {cert: node.pem, key: node-key.pem, ca: ca.pem}
  every: {dialogs: 1h}
dialogs:
  idle: 15m
limits:
  max_body: 1MiB
admin:
  tokens:
    - name: ops
      token: 0123456789abcdef0123456789abcdef
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Peer.Every.Dialogs.D().Hours() != 1 || c.Peer.TLS.CA != "ca.pem" || !c.Paired() {
		t.Fatalf("peer: %+v", c.Peer)
	}
	if c.Server.Listen != "0.0.0.0:9000" || c.Server.Role != RoleMain || c.Dialogs.Idle.D().Minutes() != 15 ||
		c.Limits.MaxBody != 1<<20 || c.Data.Dir != "./data" || len(c.Admin.Tokens) != 1 {
		t.Fatalf("parsed %+v", c)
	}
}

// Every bad input gets FILE:LINE: key: message.
func TestBadConfigs(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"unknown key with suggestion", "server:\n  lisen: x\n", "b.yml:2: server.lisen: unknown key (did you mean listen?)"},
		{"unknown section", "nothing:\n  a: 1\n", "b.yml:1: nothing: unknown key (known keys: admin, antivirus, bots, data, dialogs, dumps, limits, livechat, log, outbound, peer, server, uploads)"},
		{"backup without peer", "server:\n  role: backup\n", "b.yml: peer.url: a backup needs its peer's https:// URL"},
		{"plain http peer", "server:\n  role: main\npeer:\n  url: http://app2:8443\n", "b.yml:4: peer.url: a main needs its peer's https:// URL (the peer API is HTTPS only)"},
		{"peer without auth", "server:\n  role: main\npeer:\n  url: https://app2:8443\n  listen: :8443\n  tls:\n    cert: c\n    key: k\n", "peer.tls.ca: set the CA that signed the peer's certificate (mutual TLS), or peer.secret"},
		{"short secret", "server:\n  role: main\npeer:\n  secret: abc\n", "b.yml:4: peer.secret: must be at least 32 characters"},
		{"same listener", "server:\n  role: main\n  listen: 127.0.0.1:8080\npeer:\n  listen: 127.0.0.1:8080\n", "peer.listen: must differ from server.listen"},
		{"bad listen", "server:\n  listen: nope\n", `b.yml:2: server.listen: "nope" is not host:port`},
		{"bad role", "server:\n  role: primary\n", `b.yml:2: server.role: "primary" is not one of standalone, main, backup`},
		{"bad duration", "dialogs:\n  idle: ten minutes\n", `b.yml:2: dialogs.idle: "ten minutes" is not a duration`},
		{"short idle", "dialogs:\n  idle: 10s\n", "b.yml:2: dialogs.idle: must be at least 1m"},
		{"type mismatch", "dialogs:\n  max_input: [1, 2]\n", "b.yml:2: dialogs.max_input: cannot unmarshal !!seq into int"},
		{"bad size", "limits:\n  max_body: lots\n", `b.yml:2: limits.max_body: "lots" is not a size`},
		{"short token", "admin:\n  tokens:\n    - name: a\n      token: short\n", "b.yml:4: admin.tokens[0].token: must be at least 32 characters"},
		{"postgres without dsn", "data:\n  driver: postgres\n", "b.yml: data.dsn: is required with data.driver: postgres"},
		{"no postgres connection", "data:\n  driver: postgres\n  dsn: postgres://db/b\n  max_conns: 0\n", "b.yml:4: data.max_conns: must be at least 1"},
		{"more idle than open", "data:\n  driver: postgres\n  dsn: postgres://db/b\n  max_conns: 4\n  max_idle_conns: 8\n",
			"b.yml:5: data.max_idle_conns: must be between 1 and data.max_conns (4)"},
		{"bad driver", "data:\n  driver: mysql\n", `b.yml:2: data.driver: "mysql" is not sqlite or postgres`},
		{"bad proxy prefix", "server:\n  trusted_proxies: [10.0.0.0/99]\n", `server.trusted_proxies[0]: "10.0.0.0/99" is not an address or a CIDR prefix`},
		{"syntax error", "server:\n  listen: [\n", "b.yml:2: did not find expected node content"},
		{"not a mapping", "- a\n- b\n", "b.yml:1: the file must be a mapping"},
		{"burst missing", "limits:\n  per_bot:\n    rate: 5\n", "limits.per_bot.burst: must be at least 1"},
		{"dumps too often", "dumps:\n  every: 30s\n", "b.yml:2: dumps.every: must be at least 1m"},
		{"no dump kept", "dumps:\n  keep: 0\n", "b.yml:2: dumps.keep: must be at least 1"},
		{"dumps by another protocol", "dumps:\n  to: s3://bucket/x\n", `b.yml:2: dumps.to: "s3://bucket/x" is not a directory or sftp://`},
		{"sftp without user", "dumps:\n  to: sftp://host/x\n", "b.yml:2: dumps.to: \"sftp://host/x\": name the user"},
		{"sftp without key", "dumps:\n  to: sftp://u@host/x\n  known_hosts: k\n", "b.yml: dumps.ssh_key: is required with an sftp:// target"},
		{"sftp without known_hosts", "dumps:\n  to: sftp://u@host/x\n  ssh_key: k\n", "b.yml: dumps.known_hosts: is required with an sftp:// target"},
		{"antivirus without scheme", "antivirus:\n  addr: 127.0.0.1:3310\n", `b.yml:2: antivirus.addr: clamd address "127.0.0.1:3310": use tcp://host:port, unix:///path/to/clamd.ctl or a socket path`},
		{"antivirus without port", "antivirus:\n  addr: tcp://127.0.0.1\n", `b.yml:2: antivirus.addr: clamd address "tcp://127.0.0.1": use tcp://host:port`},
		{"antivirus timeout", "antivirus:\n  timeout: 10ms\n", "b.yml:2: antivirus.timeout: must be at least 1s"},
		{"uploads too large", "uploads:\n  max_size: 1GiB\n", "b.yml:2: uploads.max_size: must be between 1B and 64MiB"},
		{"uploads zero", "uploads:\n  max_size: 0\n", "b.yml:2: uploads.max_size: must be between 1B and 64MiB"},
		{"fail_open not a boolean", "antivirus:\n  fail_open: sometimes\n", "b.yml:2: antivirus.fail_open: cannot unmarshal !!str `sometimes` into bool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("b.yml", []byte(tc.text))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got  %q\nwant %q", err, tc.want)
			}
		})
	}
}

func TestEveryProblemIsReported(t *testing.T) {
	_, err := Parse("b.yml", []byte("server:\n  role: x\n  listen: y\nlog:\n  level: loud\n"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"server.role", "server.listen", "log.level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from %q", want, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("server:\n  listen: 127.0.0.1:8080\n"))
	f.Add([]byte("admin:\n  tokens:\n    - name: a\n"))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := Parse("f.yml", text)
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
	})
}

// etc/bascule.yml documents every setting and is valid as it is.
func TestSampleFileDocumentsEverySetting(t *testing.T) {
	text, err := os.ReadFile("../etc/bascule.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("etc/bascule.yml", text)
	if err != nil {
		t.Fatalf("the sample configuration is not valid: %v", err)
	}
	for _, key := range keyPaths(reflect.TypeOf(Config{}), "") {
		if _, ok := c.lines[key]; !ok {
			t.Errorf("etc/bascule.yml does not document %s", key)
		}
	}
}

// keyPaths lists the configuration's keys (leaves and sections), as dotted paths.
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		path := join(prefix, tag)
		out = append(out, path)
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
			out = append(out, keyPaths(f.Type, path)...)
		}
	}
	return out
}

// The pair's sample configurations are valid as they are.
func TestPairSamplesAreValid(t *testing.T) {
	for _, name := range []string{"main.yml", "backup.yml"} {
		text, err := os.ReadFile("../etc/" + name)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Parse(name, text)
		if err != nil {
			t.Fatalf("etc/%s: %v", name, err)
		}
		if !c.Paired() {
			t.Fatalf("etc/%s is not a pair's server", name)
		}
	}
}
