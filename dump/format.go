// Package dump writes, reads and restores Bascule's dumps: full copies of a server's database
// taken while it serves, shipped to a directory or an SFTP server, and restored into a data
// directory by "bascule restore".
//
// A dump is one zstd stream. Its content is logical rows per table, not a database file, so a
// dump of one store (SQLite) loads into another (PostgreSQL) that has the same tables:
//
//	"BASCULE-DUMP 1\n"                  magic and format version
//	'T' name ncols col...               a table and its columns
//	'R' value...                        a row: one value per column
//	'E' rows                            end of the table and its row count
//	... the other tables ...
//	'M' len JSON                        the manifest (see Manifest), last
//
// Names and lengths are uvarints (a string is its length then its bytes). A value is a kind
// byte then its data: 0 null; 1 integer (zigzag varint); 2 real (IEEE 754, 8 bytes little
// endian); 3 text and 4 blob (length, bytes). The manifest holds the SHA-256 of every byte
// before it, so a reader proves a dump whole before anything is written from it.
package dump

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Format is the version of the dump format this package writes and reads. A change that an
// older reader would misread gets a new number.
const Format = 1

// magic opens the content, followed by the format version and a newline.
const magic = "BASCULE-DUMP "

// Record tags.
const (
	tagTable    = 'T'
	tagRow      = 'R'
	tagEnd      = 'E'
	tagManifest = 'M'
)

// Value kinds: logical types that every SQL engine has, whatever it calls them.
const (
	kindNull  = 0
	kindInt   = 1
	kindFloat = 2
	kindText  = 3
	kindBlob  = 4
)

// Bounds that a reader enforces, so that a damaged length cannot make it allocate without
// end. A writer refuses to write what a reader would refuse.
const (
	maxName     = 128
	maxColumns  = 256
	maxValue    = 64 << 20
	maxManifest = 1 << 20
)

// Errors a reader returns, wrapped with what was wrong and where.
var (
	ErrNotDump   = errors.New("not a Bascule dump")
	ErrVersion   = errors.New("unsupported dump format")
	ErrTruncated = errors.New("the dump is truncated")
	ErrDamaged   = errors.New("the dump is damaged")
)

// Manifest describes a dump. It is written last, once the content is known.
type Manifest struct {
	Format    int       `json:"format"`
	Schema    int       `json:"schema"` // schema version of the database dumped
	ServerID  string    `json:"serverId"`
	Role      string    `json:"role,omitempty"` // main, backup or standalone, when the dumping side knew it
	CreatedAt time.Time `json:"createdAt"`      // when the snapshot was taken
	Version   string    `json:"version"`        // bascule version that wrote it
	// Feed is the server's feed counter in the snapshot: everything it originated up to this
	// sequence is in the dump.
	Feed   int64        `json:"feed"`
	Tables []TableCount `json:"tables"`
	Bytes  int64        `json:"bytes"`  // size of the content before the manifest, uncompressed
	SHA256 string       `json:"sha256"` // of those bytes
}

// TableCount is the number of rows of one table in a dump.
type TableCount struct {
	Name string `json:"name"`
	Rows int64  `json:"rows"`
}

// Rows returns the number of rows of a table in the dump (0 if absent).
func (m *Manifest) Rows(table string) int64 {
	for _, t := range m.Tables {
		if t.Name == table {
			return t.Rows
		}
	}
	return 0
}

// nameTime is the time in dump file names: sortable, and without characters that some file
// systems refuse.
const nameTime = "20060102T150405.000Z"

// FileName is the name of a dump of server serverID taken at t. Names sort by time, and carry
// the server so that two servers can share a target and each keep its own dumps.
func FileName(serverID string, t time.Time) string {
	return "bascule-" + t.UTC().Format(nameTime) + "-" + serverID + ".dump.zst"
}

var nameRe = regexp.MustCompile(`^bascule-(\d{8}T\d{6}\.\d{3}Z)-([0-9a-zA-Z_-]+)\.dump\.zst$`)

// ParseFileName returns the server and time of a dump's file name; ok is false for other
// files.
func ParseFileName(name string) (serverID string, t time.Time, ok bool) {
	m := nameRe.FindStringSubmatch(name)
	if m == nil {
		return "", time.Time{}, false
	}
	t, err := time.Parse(nameTime, m[1])
	if err != nil {
		return "", time.Time{}, false
	}
	return m[2], t, true
}

// validName checks a table or column name: it becomes part of SQL statements.
func validName(s string) error {
	if s == "" || len(s) > maxName {
		return fmt.Errorf("name of %d bytes", len(s))
	}
	if strings.TrimLeft(s, "abcdefghijklmnopqrstuvwxyz_0123456789") != "" || s[0] >= '0' && s[0] <= '9' {
		return fmt.Errorf("bad name %q", s)
	}
	return nil
}
