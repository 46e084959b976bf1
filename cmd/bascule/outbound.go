package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bascule/bascule/clamav"
	"github.com/bascule/bascule/config"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/outbound"
)

// optionsPath is the options.env a configuration names, or ~/.bascule/options.env.
func optionsPath(cfg *config.Config) (string, error) {
	if cfg.Outbound.Options != "" {
		return cfg.Outbound.Options, nil
	}
	return outbound.DefaultPath()
}

// wireOutbound reads the proxy settings, which every outbound call of the server goes through
// (a file with problems refuses the start, with every problem), and prepares the scanning of
// uploads. The peer and the dumps' SFTP target are the pair's own connections, not outbound
// calls: they never use the proxy.
func (s *server) wireOutbound() (engine.UploadOptions, error) {
	cfg := s.cfg
	path, err := optionsPath(cfg)
	if err != nil {
		return engine.UploadOptions{}, err
	}
	if s.proxies, err = outbound.Load(path, s.log); err != nil {
		return engine.UploadOptions{}, fmt.Errorf("%s has problems; the server does not start with it (bascule check -options %s):\n%w", path, path, err)
	}
	s.log.Info("proxy settings of outbound calls", "path", path, "settings", s.proxies.Settings().String())

	up := engine.UploadOptions{FailOpen: cfg.Antivirus.FailOpen, MaxSize: int64(cfg.Uploads.MaxSize),
		ScanTimeout: cfg.Antivirus.Timeout.D(), SpoolDir: filepath.Join(cfg.Data.Dir, "spool")}
	// Files wait on the data volume while they are scanned, not on a temporary directory that
	// may be memory.
	if err := os.MkdirAll(up.SpoolDir, 0o700); err != nil {
		return engine.UploadOptions{}, fmt.Errorf("upload spool: %w", err)
	}
	if cfg.Antivirus.Addr != "" {
		if s.antivirus, err = clamav.New(cfg.Antivirus.Addr); err != nil {
			return engine.UploadOptions{}, fmt.Errorf("antivirus.addr: %w", err)
		}
		up.Antivirus = s.antivirus
	}
	if cfg.Antivirus.FailOpen {
		s.log.Warn("antivirus.fail_open is true: files that cannot be scanned are stored unscanned", "antivirus", cfg.Antivirus.Addr)
	}
	return up, nil
}

// followOptions keeps the proxy settings in step with options.env until ctx ends: it reloads
// the file when it changes, and when hup delivers SIGHUP (systemctl reload). A new file with a
// problem is refused and the previous settings stay active; the status shows why.
func (s *server) followOptions(ctx context.Context, hup <-chan os.Signal) {
	go s.proxies.Watch(ctx, 0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			s.log.Info("SIGHUP: reading options.env again", "path", s.proxies.Path())
			_ = s.proxies.Reload() // logged, and kept in the status
		}
	}
}
