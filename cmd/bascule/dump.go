package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bascule/bascule/config"
	"github.com/bascule/bascule/dump"
	"github.com/bascule/bascule/dump/sftp"
	"github.com/bascule/bascule/internal/sqlstore"
	"github.com/bascule/bascule/sqlite"
)

// runDump is "bascule dump": one dump of a data directory (or of the database of a
// configuration) to a directory or an SFTP server. The server of that directory may run: the
// dump reads one snapshot and never blocks it.
func runDump(ctx context.Context, args []string, s *stdio) error {
	fs := newFlags("dump", "[-config FILE | -data DIR] [-to DIR|sftp://user@host[:port]/path] [-keep N] [-ssh-key FILE -known-hosts FILE]", s)
	file := fs.String("config", "", "configuration file naming the database and the dumps' target (section dumps)")
	data := fs.String("data", "", "data directory (default ./data)")
	to := fs.String("to", "", "where the dump goes: a directory or sftp://user@host[:port]/path (default dumps.to)")
	keep := fs.Int("keep", 0, "dumps of this server kept on the target, older ones removed (default dumps.keep, 7)")
	key := fs.String("ssh-key", "", "private key for an sftp:// target (default dumps.ssh_key)")
	known := fs.String("known-hosts", "", "known_hosts file holding the SFTP server's host key (default dumps.known_hosts)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*file, "", *data)
	if err != nil {
		return err
	}
	if err := dumpFlags(cfg, *to, *key, *known, *keep); err != nil {
		return err
	}
	if cfg.Dumps.To == "" {
		return &exitError{code: 2, err: errors.New("dump needs a target: -to DIR or sftp://user@host[:port]/path, or dumps.to in the configuration")}
	}
	st, err := openExisting(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := openTarget(ctx, cfg.Dumps)
	if err != nil {
		return fmt.Errorf("dump to %s: %w", cfg.Dumps.To, err)
	}
	defer t.Close()
	role := ""
	if *file != "" {
		role = cfg.Server.Role
	}
	res, err := dump.Dump(ctx, st, t, dump.Options{Role: role, Keep: cfg.Dumps.Keep})
	if res != nil {
		m := res.Manifest
		fmt.Fprintf(s.out, "dump %s written to %s in %s: %d bytes; server %s, feed at %d, %d dialogs, %d interactions; sha256 %s\n",
			res.Name, t, res.Duration.Round(time.Millisecond), res.Size, m.ServerID, m.Feed, m.Rows("dialogs"), m.Rows("interactions"), m.SHA256)
		for _, r := range res.Removed {
			fmt.Fprintf(s.out, "  removed %s (keeping %d)\n", r, cfg.Dumps.Keep)
		}
	}
	return err
}

// dumpFlags applies the flags that override the dumps section, and checks the result.
func dumpFlags(cfg *config.Config, to, key, known string, keep int) error {
	if to != "" {
		cfg.Dumps.To = to
	}
	if key != "" {
		cfg.Dumps.SSHKey = key
	}
	if known != "" {
		cfg.Dumps.KnownHosts = known
	}
	if keep != 0 {
		cfg.Dumps.Keep = keep
	}
	if err := cfg.Validate(); err != nil {
		return &exitError{code: 2, err: err}
	}
	return nil
}

// openExisting opens the store of a configuration that must hold a database already: a dump
// of a mistyped directory must fail, not dump the empty database it would create.
func openExisting(ctx context.Context, cfg *config.Config) (*sqlstore.Store, error) {
	if cfg.Data.Driver == "sqlite" {
		if _, err := os.Stat(filepath.Join(cfg.Data.Dir, sqlite.FileName)); err != nil {
			return nil, fmt.Errorf("no database in %s (%v)", cfg.Data.Dir, err)
		}
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s, ok := sqlStore(st)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("data.driver %s cannot be dumped by this build", cfg.Data.Driver)
	}
	return s, nil
}

// openTarget connects to where dumps go.
func openTarget(ctx context.Context, d config.Dumps) (dump.Target, error) {
	if !d.SFTP() {
		return dump.Dir(d.To), nil
	}
	loc, err := sftp.ParseURL(d.To)
	if err != nil {
		return nil, err
	}
	return sftp.Dial(ctx, loc, sftp.Options{KeyFile: d.SSHKey, KnownHostsFile: d.KnownHosts})
}

// wireDumps runs the dump schedule while the server serves, when dumps.to is set, and shows
// it in the status API (a failing dump is a warning, never a reason to stop serving) and in
// the metrics.
func (s *server) wireDumps(reg prometheus.Registerer) error {
	d := s.cfg.Dumps
	if d.To == "" {
		return nil
	}
	st, ok := sqlStore(s.store)
	if !ok {
		return fmt.Errorf("dumps: data.driver %s cannot be dumped by this build", s.cfg.Data.Driver)
	}
	where := d.To
	if loc, err := sftp.ParseURL(d.To); err == nil {
		where = loc.String()
	}
	sched := &dump.Schedule{Store: st, Where: where, Every: d.Every.D(), Keep: d.Keep, Log: s.log,
		Role:   s.node.Role, // a promotion changes it
		Target: func(ctx context.Context) (dump.Target, error) { return openTarget(ctx, d) }}
	state := func(f func(dump.State) float64) func() float64 { return func() float64 { return f(sched.State()) } }
	last := func(f func(*dump.Success) float64) func() float64 {
		return state(func(st dump.State) float64 {
			if st.LastSuccess == nil {
				return 0
			}
			return f(st.LastSuccess)
		})
	}
	if err := errors.Join(
		reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bascule_dumps_total", ConstLabels: prometheus.Labels{"result": "ok"},
			Help: "Dumps taken by the schedule since the server started, by result."}, state(func(st dump.State) float64 { return float64(st.Succeeded) }))),
		reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bascule_dumps_total", ConstLabels: prometheus.Labels{"result": "error"},
			Help: "Dumps taken by the schedule since the server started, by result."}, state(func(st dump.State) float64 { return float64(st.Failed) }))),
		reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bascule_dump_last_success_timestamp_seconds",
			Help: "When the last dump written by the schedule was taken (0: none since the server started)."},
			last(func(l *dump.Success) float64 { return float64(l.At.UnixMilli()) / 1000 }))),
		reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bascule_dump_last_size_bytes", Help: "Size of the last dump written."},
			last(func(l *dump.Success) float64 { return float64(l.Bytes) }))),
		reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bascule_dump_last_duration_seconds", Help: "How long the last dump written took."},
			last(func(l *dump.Success) float64 { return l.Duration }))),
	); err != nil {
		return err
	}
	s.status.AddCheck("dumps", false, sched.Check)
	s.status.AddSection("dumps", func(context.Context) any { return sched.State() })
	s.stopDumps = sched.Start(context.Background())
	return nil
}
