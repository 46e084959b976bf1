package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/bascule/bascule/config"
	"github.com/bascule/bascule/dump"
	"github.com/bascule/bascule/dump/sftp"
	"github.com/bascule/bascule/internal/sqlstore"
	"github.com/bascule/bascule/postgres"
	"github.com/bascule/bascule/sqlite"
)

// runRestore is "bascule restore": the database of a data directory (or, with data.driver:
// postgres, the database of data.dsn) becomes the content of a dump, verified whole first. The
// servers using it must be stopped; on any error the database is left as it was.
func runRestore(ctx context.Context, args []string, s *stdio) error {
	fs := newFlags("restore", "[-config FILE | -data DIR] [-force] [-ssh-key FILE -known-hosts FILE] DUMP", s)
	file := fs.String("config", "", "configuration file naming the database (and the SSH key of dumps.ssh_key)")
	data := fs.String("data", "", "data directory (default ./data)")
	force := fs.Bool("force", false, "restore even over changes of this server that its peer has not pulled yet: they are lost")
	key := fs.String("ssh-key", "", "private key for an sftp:// dump (default dumps.ssh_key)")
	known := fs.String("known-hosts", "", "known_hosts file holding the SFTP server's host key (default dumps.known_hosts)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: bascule restore [-config FILE | -data DIR] [-force] [-ssh-key FILE -known-hosts FILE] DUMP")
		fmt.Fprintln(fs.Output(), "DUMP is a dump file or sftp://user@host[:port]/path/file. Stop the servers of the database first (every node, on PostgreSQL).")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &exitError{code: 2, err: errors.New("restore needs one DUMP: a file or sftp://user@host[:port]/path/file")}
	}
	cfg, err := loadConfig(*file, "", *data)
	if err != nil {
		return err
	}
	src := fs.Arg(0)
	var open dump.Opener
	if strings.HasPrefix(src, "sftp://") {
		d := cfg.Dumps
		d.To = src
		if *key != "" {
			d.SSHKey = *key
		}
		if *known != "" {
			d.KnownHosts = *known
		}
		loc, err := sftp.ParseURL(src)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		name := path.Base(loc.Path)
		loc.Path = path.Dir(loc.Path)
		t, err := sftp.Dial(ctx, loc, sftp.Options{KeyFile: d.SSHKey, KnownHostsFile: d.KnownHosts})
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		defer t.Close()
		open = func(ctx context.Context) (io.ReadCloser, error) { return t.Open(ctx, name) }
	} else {
		if _, err := os.Stat(src); err != nil {
			return err
		}
		open = func(context.Context) (io.ReadCloser, error) { return os.Open(src) }
	}
	into, where, err := beginReplace(ctx, cfg)
	if err != nil {
		return err
	}
	defer into.Close()
	r, err := dump.Restore(ctx, into, open, dump.RestoreOptions{Force: *force})
	if err != nil {
		return fmt.Errorf("%s: %w\nNothing was changed in %s.", src, err, where)
	}
	m := r.Manifest
	fmt.Fprintf(s.out, "restored %s into %s\n", src, where)
	role := m.Role
	if role == "" {
		role = "role not recorded"
	}
	fmt.Fprintf(s.out, "  the dump: server %s (%s), taken %s by bascule %s; %d dialogs, %d interactions\n",
		m.ServerID, role, m.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), m.Version, m.Rows("dialogs"), m.Rows("interactions"))
	if r.KeptID {
		fmt.Fprintf(s.out, "  server id %s kept (the database in place was this server's); its feed goes on after %d\n", r.ServerID, r.Feed)
	} else {
		fmt.Fprintf(s.out, "  new server id %s (never the dump's: its peer would skip the new changes); its feed holds the dumped server's %d changes\n", r.ServerID, r.Feed)
	}
	streams := slices.SortedFunc(maps.Keys(r.Cursors), func(a, b sqlstore.Stream) int {
		return cmp.Or(cmp.Compare(a.Origin, b.Origin), cmp.Compare(a.Class, b.Class))
	})
	for _, st := range streams {
		fmt.Fprintf(s.out, "  holds the %s changes of server %s up to %d\n", st.Class, st.Origin, r.Cursors[st])
	}
	for _, l := range r.Lost {
		fmt.Fprintf(s.out, "  -force: dropped this server's %s changes after %d (up to %d), which its peer had not pulled\n", l.Class, l.After, l.Upto)
	}
	return nil
}

// replacement is the database a restore replaces, locked until Close.
type replacement interface {
	dump.Database
	Close() error
}

// beginReplace locks the configured database for a restore; where names it for messages.
func beginReplace(ctx context.Context, cfg *config.Config) (replacement, string, error) {
	if cfg.Data.Driver == "postgres" {
		r, err := postgres.BeginReplace(ctx, cfg.Data.DSN)
		return r, "the PostgreSQL database of data.dsn", err
	}
	r, err := sqlite.BeginReplace(cfg.Data.Dir)
	return r, cfg.Data.Dir, err
}
