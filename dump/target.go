package dump

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bascule/bascule/internal/sqlstore"
)

// Target is where dumps are kept: a directory here (Dir) or on an SFTP server (package
// dump/sftp). Names are plain file names, without directories.
type Target interface {
	// Put stores a new file atomically: write fills a temporary file, which takes its name
	// only once complete, so that a reader never sees half a dump. On error nothing is left.
	Put(ctx context.Context, name string, write func(io.Writer) error) error
	// List returns the names of the files in the target.
	List(ctx context.Context) ([]string, error)
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	Remove(ctx context.Context, name string) error
	// String describes the target for messages (no secret).
	String() string
	Close() error
}

// Options tune Dump.
type Options struct {
	Role string // the server's role, for the manifest
	// Keep is how many dumps of this server the target keeps: older ones are removed after
	// each dump (0 keeps them all).
	Keep int
}

// Result is what Dump did.
type Result struct {
	Name     string
	Manifest *Manifest
	Size     int64 // bytes stored (compressed)
	Duration time.Duration
	Removed  []string // old dumps removed by retention
}

// Dump writes a dump of st to the target under its FileName, then removes this server's
// dumps beyond o.Keep. When only the removal fails, the result is returned with the error.
func Dump(ctx context.Context, st *sqlstore.Store, t Target, o Options) (*Result, error) {
	start := time.Now()
	res := &Result{Name: FileName(st.ServerID(), start)}
	err := t.Put(ctx, res.Name, func(w io.Writer) error {
		cw := &countWriter{w: w}
		m, err := Write(ctx, cw, st, o.Role)
		res.Manifest, res.Size = m, cw.n
		return err
	})
	res.Duration = time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("dump to %s: %w", t, err)
	}
	if res.Removed, err = Prune(ctx, t, st.ServerID(), o.Keep); err != nil {
		return res, fmt.Errorf("dump %s written to %s, but removing old dumps failed: %w", res.Name, t, err)
	}
	return res, nil
}

// Prune removes the oldest dumps of a server from the target, keeping the newest keep of
// them (all when keep is 0). Other files, and other servers' dumps, are left alone.
func Prune(ctx context.Context, t Target, serverID string, keep int) ([]string, error) {
	if keep <= 0 {
		return nil, nil
	}
	dumps, err := Dumps(ctx, t, serverID)
	if err != nil {
		return nil, err
	}
	if len(dumps) <= keep {
		return nil, nil
	}
	old := dumps[:len(dumps)-keep]
	for i, name := range old {
		if err := t.Remove(ctx, name); err != nil {
			return old[:i], fmt.Errorf("remove %s: %w", name, err)
		}
	}
	return old, nil
}

// Dumps lists the dumps of a server in the target, oldest first.
func Dumps(ctx context.Context, t Target, serverID string) ([]string, error) {
	names, err := t.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if id, _, ok := ParseFileName(n); ok && id == serverID {
			out = append(out, n)
		}
	}
	slices.Sort(out) // names sort by time
	return out, nil
}

// Dir is a directory of this machine, created when missing.
type Dir string

var _ Target = Dir("")

func (d Dir) path(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", fmt.Errorf("bad dump name %q", name)
	}
	return filepath.Join(string(d), name), nil
}

// Put implements Target: a temporary file in the directory, synced, then renamed. Dumps hold
// visitors' dialogs: the file is readable by its owner only.
func (d Dir) Put(ctx context.Context, name string, write func(io.Writer) error) error {
	path, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(string(d), 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(string(d), "."+name+".tmp-*")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	if dir, err := os.Open(string(d)); err == nil {
		dir.Sync() // the rename is durable once the directory is; some file systems cannot sync one
		dir.Close()
	}
	return nil
}

// List implements Target.
func (d Dir) List(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(string(d))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Open implements Target.
func (d Dir) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	path, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.Open(path)
}

// Remove implements Target.
func (d Dir) Remove(ctx context.Context, name string) error {
	path, err := d.path(name)
	if err != nil {
		return err
	}
	return os.Remove(path)
}

func (d Dir) String() string { return string(d) }

// Close implements Target.
func (d Dir) Close() error { return nil }
