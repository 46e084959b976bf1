// Package config reads bascule.yml: one YAML file, defaults in code, and a Validate that names
// the file, the line and the key of every problem (FILE:LINE: key: what is wrong).
package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bascule/bascule/internal/typo"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/dump/sftp"
)

// Roles of a server.
const (
	RoleStandalone = "standalone" // no backup (pre-production)
	RoleMain       = "main"
	RoleBackup     = "backup"
)

// Config is the whole configuration. Every field is documented in etc/bascule.yml.
type Config struct {
	Server  Server  `yaml:"server"`
	Peer    Peer    `yaml:"peer"`
	Data    Data    `yaml:"data"`
	Dialogs Dialogs `yaml:"dialogs"`
	Limits  Limits  `yaml:"limits"`
	Admin   Admin   `yaml:"admin"`
	Bots    Bots    `yaml:"bots"`
	Dumps   Dumps   `yaml:"dumps"`
	Log     Log     `yaml:"log"`

	Outbound  Outbound  `yaml:"outbound"`
	Antivirus Antivirus `yaml:"antivirus"`
	Uploads   Uploads   `yaml:"uploads"`
	Livechat  Livechat  `yaml:"livechat"`

	file  string
	lines map[string]int // key path -> line, for messages
}

// Server is how this server listens and what it is in the pair.
type Server struct {
	Listen string `yaml:"listen"`
	// PublicURL is how visitors and operators reach this server (https://app1.example.com):
	// the peer learns it, so that an operator's desk can move to this server when the other
	// fails.
	PublicURL       string           `yaml:"public_url"`
	Role            string           `yaml:"role"`
	TLS             TLSFiles         `yaml:"tls"`
	TrustedProxies  []string         `yaml:"trusted_proxies"`
	ShutdownTimeout bascule.Duration `yaml:"shutdown_timeout"`
}

// Peer is the other server of the pair and how the two talk: HTTPS only, on a listener of its
// own, authenticated by mutual TLS (both present a certificate signed by CA) or, more simply,
// by a shared secret over TLS.
type Peer struct {
	URL    string `yaml:"url"`    // the other server's peer listener, https://host:port
	Listen string `yaml:"listen"` // this server's peer listener
	TLS    struct {
		Cert string `yaml:"cert"` // this server's certificate (server and client)
		Key  string `yaml:"key"`
		CA   string `yaml:"ca"` // the authority that signed the peer's certificate
	} `yaml:"tls"`
	Secret string `yaml:"secret"` // instead of client certificates (TLS is still required)
	// Wait is how long a pull waits for new changes before answering empty (long poll).
	Wait bascule.Duration `yaml:"wait"`
	// Every is how often each stream is pulled: 0 is continuously (a change reaches the peer
	// within a second or two). The seeds' schedule is knowledge: 168h, dialogs: 1h.
	Every struct {
		Knowledge bascule.Duration `yaml:"knowledge"`
		Dialogs   bascule.Duration `yaml:"dialogs"`
	} `yaml:"every"`
	// Timeout bounds a forwarded question (a dialog that lives on the peer is answered there).
	Timeout bascule.Duration `yaml:"timeout"`
}

// Paired reports whether the server has a peer (main or backup).
func (c *Config) Paired() bool { return c.Server.Role == RoleMain || c.Server.Role == RoleBackup }

// TLSFiles names a certificate and its key (PEM files).
type TLSFiles struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Enabled reports whether TLS is configured.
func (t TLSFiles) Enabled() bool { return t.Cert != "" || t.Key != "" }

// Data is where and how data is stored.
type Data struct {
	Dir    string `yaml:"dir"`
	Driver string `yaml:"driver"`
	DSN    string `yaml:"dsn"`
	Sync   string `yaml:"sync"`
	// The PostgreSQL connection pool of each node (data.driver: postgres).
	MaxConns        int              `yaml:"max_conns"`      // reading connections at most
	MaxIdleConns    int              `yaml:"max_idle_conns"` // kept open while idle
	ConnMaxLifetime bascule.Duration `yaml:"conn_max_lifetime"`
	ConnMaxIdleTime bascule.Duration `yaml:"conn_max_idle_time"`
	ConnectTimeout  bascule.Duration `yaml:"connect_timeout"` // for the first connection, at start
}

// Dialogs are the dialog rules that are not per bot.
type Dialogs struct {
	Idle     bascule.Duration `yaml:"idle"`      // a dialog is archived after this long without activity
	MaxInput int              `yaml:"max_input"` // characters of a question that are used
}

// Limits protect the server from floods.
type Limits struct {
	MaxBody   ByteSize `yaml:"max_body"`
	PerClient Rate     `yaml:"per_client"`
	PerBot    Rate     `yaml:"per_bot"`
}

// Rate is a token bucket: Rate requests per second on average, bursts up to Burst. A zero rate
// means no limit.
type Rate struct {
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
}

// Admin is the admin API's access: no token, no admin API.
type Admin struct {
	Tokens []Token `yaml:"tokens"`
}

// Token grants access to the admin API.
type Token struct {
	Name  string `yaml:"name"`
	Token string `yaml:"token"`
}

// Bots says which bots a server starts with.
type Bots struct {
	// Sample loads the bundled sample bot at start when the database does not hold it yet
	// (main and standalone servers only; a backup receives bots from its main).
	Sample bool `yaml:"sample"`
}

// Dumps are the full copies of the database a server takes while it serves.
type Dumps struct {
	// To is where dumps go: a directory, or sftp://user@host[:port]/path. Empty: no dumps.
	To    string           `yaml:"to"`
	Every bascule.Duration `yaml:"every"`
	// Keep is how many dumps of this server the target keeps; older ones are removed.
	Keep int `yaml:"keep"`
	// SSHKey and KnownHosts authenticate both ends of an sftp:// target.
	SSHKey     string `yaml:"ssh_key"`
	KnownHosts string `yaml:"known_hosts"`
}

// SFTP reports whether dumps go to an SFTP server.
func (d Dumps) SFTP() bool { return strings.HasPrefix(d.To, "sftp://") }

// Livechat tunes the hand-over to human operators and their desk. What belongs to a bot
// (competencies, opening hours, inactivity transfers) is in the bot's settings; operators
// are accounts of the admin API.
type Livechat struct {
	// OperatorGrace is how long an operator's desk may be gone (a reload, a move to the other
	// server) before their dialogs go to other operators.
	OperatorGrace bascule.Duration `yaml:"operator_grace"`
	// VisitorGrace is how long a visitor's chatbox may stop following a livechat before the
	// visitor has left and the hand-over ends.
	VisitorGrace bascule.Duration `yaml:"visitor_grace"`
	// SessionIdle ends a desk session that was not used this long; SessionMaxAge ends any.
	SessionIdle   bascule.Duration `yaml:"session_idle"`
	SessionMaxAge bascule.Duration `yaml:"session_max_age"`
	// Logins limits login attempts per operator login and per address (wrong passwords).
	Logins Rate `yaml:"logins"`
}

// Log is the logging setup.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// ByteSize is a size in bytes, written 65536, 64KiB or 1MiB.
type ByteSize int64

// UnmarshalText reads a byte size.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000_000}, {"GB", 1000_000_000}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size such as 65536, 64KiB or 1MiB", text)
	}
	*b = ByteSize(n * mult)
	return nil
}

// Default returns the configuration used when no file is given: a standalone server on
// 127.0.0.1:8080 with its data in ./data, serving the sample bot.
func Default() *Config {
	return &Config{
		Server: Server{Listen: "127.0.0.1:8080", Role: RoleStandalone, ShutdownTimeout: bascule.Duration(15 * time.Second),
			TrustedProxies: []string{"127.0.0.0/8", "::1/128"}},
		Peer: Peer{Wait: bascule.Duration(20 * time.Second), Timeout: bascule.Duration(time.Second)},
		Data: Data{Dir: "./data", Driver: "sqlite", Sync: "full", MaxConns: 16, MaxIdleConns: 16,
			ConnMaxLifetime: bascule.Duration(30 * time.Minute), ConnMaxIdleTime: bascule.Duration(5 * time.Minute),
			ConnectTimeout: bascule.Duration(10 * time.Second)},
		Dialogs: Dialogs{Idle: bascule.Duration(10 * time.Minute), MaxInput: 600},
		Limits:  Limits{MaxBody: 64 << 10, PerClient: Rate{Rate: 10, Burst: 30}},
		Bots:    Bots{Sample: true},
		Dumps:   Dumps{Every: bascule.Duration(24 * time.Hour), Keep: 7},
		Log:     Log{Level: "info", Format: "text"},

		Antivirus: defaultAntivirus(),
		Uploads:   defaultUploads(),
		Livechat: Livechat{OperatorGrace: bascule.Duration(time.Minute), VisitorGrace: bascule.Duration(90 * time.Second),
			SessionIdle: bascule.Duration(30 * time.Minute), SessionMaxAge: bascule.Duration(12 * time.Hour),
			Logins: Rate{Rate: 0.05, Burst: 5}},
	}
}

// Load reads a configuration file over the defaults and validates it.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse reads configuration text; name is used in messages. It returns every problem found.
func Parse(name string, text []byte) (*Config, error) {
	c := Default()
	c.file = name
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(text))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return c, c.Validate()
		}
		return nil, fmt.Errorf("%s:%s", name, strings.TrimPrefix(yamlLine(err.Error()), "yaml: "))
	}
	c.lines = map[string]int{}
	var errs []error
	if len(root.Content) > 0 {
		doc := root.Content[0]
		if doc.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d: the file must be a mapping of sections (server:, data:, ...)", name, doc.Line)
		}
		errs = append(errs, c.decode(doc, reflect.ValueOf(c).Elem(), "")...)
	}
	// Values are checked even when some keys were wrong, so that one run reports everything.
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

var lineRe = regexp.MustCompile(`^line (\d+): (.*)$`)

// yamlLine turns "yaml: line 3: did not find..." into "3: did not find...".
func yamlLine(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		return m[1] + ": " + m[2]
	}
	return " " + msg
}

// decode walks the document beside the configuration struct: it records the line of every
// key, reports unknown keys, and decodes each value on its own so that a bad value is reported
// with its key and line.
func (c *Config) decode(n *yaml.Node, v reflect.Value, prefix string) []error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case n.Kind == yaml.MappingNode && v.Kind() == reflect.Struct:
		t := v.Type()
		fields := map[string]int{}
		known := map[string]bool{}
		for i := 0; i < t.NumField(); i++ {
			if tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
				fields[tag], known[tag] = i, true
			}
		}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			path := join(prefix, k.Value)
			c.lines[path] = k.Line
			fi, ok := fields[k.Value]
			if !ok {
				errs = append(errs, fmt.Errorf("%s:%d: %s: unknown key%s", c.file, k.Line, path, suggest(k.Value, known)))
				continue
			}
			errs = append(errs, c.decode(val, v.Field(fi), path)...)
		}
		return errs
	case n.Kind == yaml.SequenceNode && v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		var errs []error
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			path := fmt.Sprintf("%s[%d]", prefix, i)
			c.lines[path] = item.Line
			errs = append(errs, c.decode(item, s.Index(i), path)...)
		}
		v.Set(s)
		return errs
	case v.Kind() == reflect.Struct && n.Tag != "!!null" && !v.Addr().Type().Implements(textUnmarshaler):
		return []error{fmt.Errorf("%s:%d: %s: must be a mapping of keys", c.file, n.Line, prefix)}
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		msg := err.Error()
		if m := lineRe.FindStringSubmatch(strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")); m != nil {
			msg = m[2]
		}
		return []error{fmt.Errorf("%s:%d: %s: %s", c.file, n.Line, prefix, msg)}
	}
	return nil
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// suggest names the known key closest to a misspelt one.
func suggest(key string, known map[string]bool) string {
	keys := make([]string, 0, len(known))
	for k := range known {
		keys = append(keys, k)
	}
	if best := typo.Closest(key, keys, 2); best != "" {
		return " (did you mean " + best + "?)"
	}
	slices.Sort(keys)
	return " (known keys: " + strings.Join(keys, ", ") + ")"
}

// fieldError reports a problem with a key, at its line when the file set it.
func (c *Config) fieldError(key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if line, ok := c.lines[key]; ok {
		return fmt.Errorf("%s:%d: %s: %s", c.file, line, key, msg)
	}
	if c.file != "" {
		return fmt.Errorf("%s: %s: %s", c.file, key, msg)
	}
	return fmt.Errorf("%s: %s", key, msg)
}

// Validate checks the values and returns every problem.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) { errs = append(errs, c.fieldError(key, format, args...)) }
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		add("server.listen", "%q is not host:port (for example 127.0.0.1:8080)", c.Server.Listen)
	}
	if c.Server.PublicURL != "" {
		if u, err := url.Parse(c.Server.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("server.public_url", "%q is not an http(s) URL", c.Server.PublicURL)
		}
	}
	switch c.Server.Role {
	case RoleStandalone, RoleMain, RoleBackup:
	default:
		add("server.role", "%q is not one of standalone, main, backup", c.Server.Role)
	}
	if c.Server.TLS.Enabled() && (c.Server.TLS.Cert == "" || c.Server.TLS.Key == "") {
		add("server.tls", "cert and key go together")
	}
	for i, p := range c.Server.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				add(fmt.Sprintf("server.trusted_proxies[%d]", i), "%q is not an address or a CIDR prefix", p)
			}
		}
	}
	if c.Paired() {
		if !strings.HasPrefix(c.Peer.URL, "https://") {
			add("peer.url", "a %s needs its peer's https:// URL (the peer API is HTTPS only)", c.Server.Role)
		} else if u, err := url.Parse(c.Peer.URL); err != nil || u.Host == "" {
			add("peer.url", "%q is not a URL", c.Peer.URL)
		}
		if _, _, err := net.SplitHostPort(c.Peer.Listen); err != nil {
			add("peer.listen", "a %s needs host:port for its peer listener", c.Server.Role)
		} else if c.Peer.Listen == c.Server.Listen {
			add("peer.listen", "must differ from server.listen: the peer API has a listener of its own")
		}
		if c.Peer.TLS.Cert == "" || c.Peer.TLS.Key == "" {
			add("peer.tls", "cert and key are required: the peer API is HTTPS only")
		}
		if c.Peer.TLS.CA == "" && c.Peer.Secret == "" {
			add("peer.tls.ca", "set the CA that signed the peer's certificate (mutual TLS), or peer.secret")
		}
		if c.Peer.Secret != "" && len(c.Peer.Secret) < 32 {
			add("peer.secret", "must be at least 32 characters (for example: openssl rand -hex 32)")
		}
	}
	if c.Peer.Wait.D() < time.Second || c.Peer.Wait.D() > 5*time.Minute {
		add("peer.wait", "must be between 1s and 5m")
	}
	if c.Peer.Timeout.D() < 100*time.Millisecond {
		add("peer.timeout", "must be at least 100ms")
	}
	switch c.Data.Driver {
	case "sqlite":
		if c.Data.Dir == "" {
			add("data.dir", "must not be empty")
		}
		if c.Data.Sync != "full" && c.Data.Sync != "normal" {
			add("data.sync", "%q is not full or normal", c.Data.Sync)
		}
	case "postgres":
		if c.Data.DSN == "" {
			add("data.dsn", "is required with data.driver: postgres")
		}
		if c.Data.MaxConns < 1 {
			add("data.max_conns", "must be at least 1")
		}
		if c.Data.MaxIdleConns < 1 || c.Data.MaxIdleConns > c.Data.MaxConns {
			add("data.max_idle_conns", "must be between 1 and data.max_conns (%d)", c.Data.MaxConns)
		}
		if c.Data.ConnMaxLifetime.D() < 0 || c.Data.ConnMaxIdleTime.D() < 0 {
			add("data.conn_max_lifetime", "and data.conn_max_idle_time must not be negative (0: never)")
		}
		if c.Data.ConnectTimeout.D() <= 0 {
			add("data.connect_timeout", "must be positive")
		}
	default:
		add("data.driver", "%q is not sqlite or postgres", c.Data.Driver)
	}
	if c.Dialogs.Idle.D() < time.Minute {
		add("dialogs.idle", "must be at least 1m")
	}
	if c.Dialogs.MaxInput < 1 || c.Dialogs.MaxInput > 10000 {
		add("dialogs.max_input", "must be between 1 and 10000")
	}
	if c.Limits.MaxBody < 1024 {
		add("limits.max_body", "must be at least 1KiB")
	}
	for key, r := range map[string]Rate{"limits.per_client": c.Limits.PerClient, "limits.per_bot": c.Limits.PerBot} {
		if r.Rate < 0 || r.Burst < 0 {
			add(key, "rate and burst cannot be negative")
		}
		if r.Rate > 0 && r.Burst < 1 {
			add(key+".burst", "must be at least 1 when a rate is set")
		}
	}
	if d := c.Livechat.OperatorGrace.D(); d < 5*time.Second || d > time.Hour {
		add("livechat.operator_grace", "must be between 5s and 1h")
	}
	if d := c.Livechat.VisitorGrace.D(); d < 10*time.Second || d > time.Hour {
		add("livechat.visitor_grace", "must be between 10s and 1h")
	}
	if c.Livechat.SessionIdle.D() < time.Minute {
		add("livechat.session_idle", "must be at least 1m")
	}
	if c.Livechat.SessionMaxAge.D() < c.Livechat.SessionIdle.D() {
		add("livechat.session_max_age", "must be at least livechat.session_idle")
	}
	if r := c.Livechat.Logins; r.Rate < 0 || r.Burst < 0 || (r.Rate > 0 && r.Burst < 1) {
		add("livechat.logins", "rate and burst cannot be negative; burst is at least 1 with a rate")
	}
	names := map[string]bool{}
	for i, t := range c.Admin.Tokens {
		key := fmt.Sprintf("admin.tokens[%d]", i)
		if t.Name == "" || names[t.Name] {
			add(key+".name", "each token needs a unique name")
		}
		names[t.Name] = true
		if len(t.Token) < 32 {
			add(key+".token", "must be at least 32 characters (for example: openssl rand -hex 32)")
		}
	}
	c.validateDumps(add)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		add("log.format", "%q is not text or json", c.Log.Format)
	}
	c.validateOutbound(add)
	return errors.Join(errs...)
}

var schemeRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://`)

func (c *Config) validateDumps(add func(key, format string, args ...any)) {
	d := c.Dumps
	if d.Every.D() < time.Minute {
		add("dumps.every", "must be at least 1m")
	}
	if d.Keep < 1 {
		add("dumps.keep", "must be at least 1")
	}
	switch {
	case d.SFTP():
		if _, err := sftp.ParseURL(d.To); err != nil {
			add("dumps.to", "%v", err)
		}
		if d.SSHKey == "" {
			add("dumps.ssh_key", "is required with an sftp:// target (a private key without passphrase)")
		}
		if d.KnownHosts == "" {
			add("dumps.known_hosts", "is required with an sftp:// target (the server's host key must be known)")
		}
	case schemeRe.MatchString(d.To):
		add("dumps.to", "%q is not a directory or sftp://user@host[:port]/path", d.To)
	}
}

// File is the path the configuration was read from ("" for the defaults).
func (c *Config) File() string { return c.file }
