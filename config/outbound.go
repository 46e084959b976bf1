package config

import (
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/clamav"
)

// Outbound is how the server calls other servers: the web services of knowledge answers, through
// the proxy settings of options.env.
type Outbound struct {
	// Options is the options.env file ("": ~/.bascule/options.env).
	Options string `yaml:"options"`
}

// Antivirus is the clamd that scans visitors' files before they are stored.
type Antivirus struct {
	// Addr is clamd's address: tcp://host:port, unix:///path/to/clamd.ctl or a socket path
	// ("": no antivirus, so no file is accepted unless FailOpen).
	Addr string `yaml:"addr"`
	// FailOpen stores files that could not be scanned instead of refusing them.
	FailOpen bool             `yaml:"fail_open"`
	Timeout  bascule.Duration `yaml:"timeout"` // bounds one scan
}

// Uploads are the files visitors send to the bots that accept them.
type Uploads struct {
	MaxSize ByteSize `yaml:"max_size"`
}

// maxUploadSize bounds uploads.max_size: a file is one value in the database and travels to
// the peer in one answer.
const maxUploadSize = 64 << 20

func defaultAntivirus() Antivirus { return Antivirus{Timeout: bascule.Duration(30 * time.Second)} }
func defaultUploads() Uploads     { return Uploads{MaxSize: 10 << 20} }

// validateOutbound checks the outbound, antivirus and uploads sections.
func (c *Config) validateOutbound(add func(key, format string, args ...any)) {
	if c.Antivirus.Addr != "" {
		if _, err := clamav.New(c.Antivirus.Addr); err != nil {
			add("antivirus.addr", "%v", err)
		}
	}
	if c.Antivirus.Timeout.D() < time.Second {
		add("antivirus.timeout", "must be at least 1s")
	}
	if c.Uploads.MaxSize < 1 || c.Uploads.MaxSize > maxUploadSize {
		add("uploads.max_size", "must be between 1B and %dMiB", maxUploadSize>>20)
	}
}
