package dump

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/sqlstore"
)

// encoderOptions trade a little compression for speed: a dump of a million interactions
// must take seconds, and a server that dumps keeps answering on the same cores. One
// concurrent block lets compression overlap with reading the database.
var encoderOptions = []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2),
	zstd.WithWindowSize(4 << 20)}

// Write takes a snapshot of st and writes it to w as one dump. It holds one read transaction
// from start to end, which never blocks the server's writes, and memory stays bounded
// whatever the size of the database: rows stream through fixed buffers.
func Write(ctx context.Context, w io.Writer, st *sqlstore.Store, role string) (*Manifest, error) {
	sn, err := st.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer sn.Close()
	feed, err := sn.FeedState(ctx)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Format: Format, Schema: sn.Schema, ServerID: feed.ServerID, Role: role,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Version: bascule.Version, Feed: feed.Feed}
	zw, err := zstd.NewWriter(w, encoderOptions...)
	if err != nil {
		return nil, err
	}
	defer zw.Close()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(h, zw)}
	e := &encoder{w: bufio.NewWriterSize(cw, 256<<10)}
	e.w.WriteString(magic + strconv.Itoa(Format) + "\n")
	for _, table := range sqlstore.Tables {
		n, err := e.table(ctx, sn, table)
		if err != nil {
			return nil, err
		}
		m.Tables = append(m.Tables, TableCount{Name: table, Rows: n})
	}
	if err := e.w.Flush(); err != nil {
		return nil, err
	}
	m.Bytes, m.SHA256 = cw.n, hex.EncodeToString(h.Sum(nil))
	js, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	rec := binary.AppendUvarint([]byte{tagManifest}, uint64(len(js)))
	if _, err := zw.Write(append(rec, js...)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return m, nil
}

// encoder writes records; buf is reused for every row.
type encoder struct {
	w   *bufio.Writer
	buf []byte
}

// table writes one table of the snapshot and returns its row count.
func (e *encoder) table(ctx context.Context, sn *sqlstore.Snapshot, table string) (int64, error) {
	rows, err := sn.Rows(ctx, table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	if len(rows.Columns) > maxColumns {
		return 0, fmt.Errorf("table %s has %d columns, more than a dump holds", table, len(rows.Columns))
	}
	if err := validName(table); err != nil {
		return 0, fmt.Errorf("table %w", err)
	}
	b := appendString(append(e.buf[:0], tagTable), table)
	b = binary.AppendUvarint(b, uint64(len(rows.Columns)))
	for _, c := range rows.Columns {
		if err := validName(c); err != nil {
			return 0, fmt.Errorf("table %s: column %w", table, err)
		}
		b = appendString(b, c)
	}
	var n int64
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", table, err)
		}
		b = append(b, tagRow)
		for i, v := range vals {
			if b, err = appendValue(b, v); err != nil {
				return 0, fmt.Errorf("table %s, column %s: %w", table, rows.Columns[i], err)
			}
		}
		if _, err := e.w.Write(b); err != nil {
			return 0, err
		}
		b = b[:0]
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", table, err)
	}
	b = binary.AppendUvarint(append(b, tagEnd), uint64(n))
	_, err = e.w.Write(b)
	e.buf = b[:0]
	return n, err
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendValue encodes one value in its logical kind. Drivers differ in the Go types they
// return (int32 for a PostgreSQL integer, int64 for SQLite's); the dump does not.
func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, kindNull), nil
	case int64:
		return binary.AppendVarint(append(b, kindInt), v), nil
	case int32:
		return binary.AppendVarint(append(b, kindInt), int64(v)), nil
	case int:
		return binary.AppendVarint(append(b, kindInt), int64(v)), nil
	case bool:
		i := int64(0)
		if v {
			i = 1
		}
		return binary.AppendVarint(append(b, kindInt), i), nil
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, kindFloat), math.Float64bits(v)), nil
	case float32:
		return binary.LittleEndian.AppendUint64(append(b, kindFloat), math.Float64bits(float64(v))), nil
	case string:
		if len(v) > maxValue {
			return nil, fmt.Errorf("text of %d bytes, more than a dump holds (%d)", len(v), maxValue)
		}
		return appendString(append(b, kindText), v), nil
	case []byte:
		if len(v) > maxValue {
			return nil, fmt.Errorf("blob of %d bytes, more than a dump holds (%d)", len(v), maxValue)
		}
		return append(binary.AppendUvarint(append(b, kindBlob), uint64(len(v))), v...), nil
	}
	return nil, fmt.Errorf("value of type %T: the shared schema holds only integers, reals, text and blobs", v)
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
