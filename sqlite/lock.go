package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFile is the file of a data directory that every process using its database holds a
// lock on: a shared one for each open store (a server, "bascule kb" or "bascule dump" beside
// it), an exclusive one for a restore, which must never replace the database under a server.
// The kernel releases the lock when a process ends, even by kill -9: a lock is never stale.
const LockFile = "bascule.lock"

// ErrInUse is returned when a data directory's lock is held by another process.
var ErrInUse = errors.New("data directory in use")

// lockDir takes the lock of a data directory, without waiting.
func lockDir(dir string, exclusive bool) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if exclusive {
				return nil, fmt.Errorf("%w: %s is open by a running bascule (a server, or a kb or dump command); stop it first", ErrInUse, dir)
			}
			return nil, fmt.Errorf("%w: %s is being restored (bascule restore holds it); wait until the restore ends", ErrInUse, dir)
		}
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return f, nil
}
