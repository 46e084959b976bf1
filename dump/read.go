package dump

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Visitor receives the content of a dump as Read parses it. The checksum is only known at the
// end: a restore reads a dump once to verify it, then again to load it.
type Visitor interface {
	// Table starts a table.
	Table(name string, columns []string) error
	// Row receives a row of the current table: nil, int64, float64, string or []byte per
	// column. The slice is reused by the next call.
	Row(values []any) error
}

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// decoderOptions bound what a damaged or hostile header can make the decoder allocate (the
// writer uses 4 MiB windows). Decoding is synchronous: a decoder working ahead would go on
// inflating a damaged stream after the reader has stopped at its first error.
var decoderOptions = []zstd.DOption{zstd.WithDecoderMaxWindow(64 << 20), zstd.WithDecoderConcurrency(1)}

// Read parses a dump, calling v (nil to only verify) for each table and row, and returns the
// manifest once everything checked out: the format version, every record, the row counts and
// the checksum. A dump decompressed by hand (zstd -d) is read as well.
func Read(r io.Reader, v Visitor) (*Manifest, error) {
	src := &sourceReader{r: r}
	br := bufio.NewReaderSize(src, 64<<10)
	head, _ := br.Peek(len(magic))
	if src.err != nil {
		return nil, fmt.Errorf("read the dump: %w", src.err)
	}
	var content io.Reader
	switch {
	case len(head) == 0:
		return nil, fmt.Errorf("%w: the file is empty", ErrNotDump)
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, decoderOptions...)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		content = &zstdReader{zr: zr, src: src}
	case bytes.HasPrefix([]byte(magic), head):
		content = br
	default:
		return nil, fmt.Errorf("%w: it is neither zstd-compressed nor a decompressed dump", ErrNotDump)
	}
	d := &decoder{r: content, buf: make([]byte, 64<<10), h: sha256.New()}
	return d.read(v)
}

// sourceReader remembers the error of the underlying reader, so that a failing disk or
// connection is reported as such and not as a damaged dump.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// zstdReader turns decompression errors into the package's errors.
type zstdReader struct {
	zr  *zstd.Decoder
	src *sourceReader
}

func (z *zstdReader) Read(p []byte) (int, error) {
	n, err := z.zr.Read(p)
	switch {
	case err == nil || err == io.EOF:
		return n, err
	case z.src.err != nil:
		return n, fmt.Errorf("read the dump: %w", z.src.err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return n, io.ErrUnexpectedEOF
	}
	return n, fmt.Errorf("%w: decompression failed: %v", ErrDamaged, err)
}

// decoder reads the content through its own buffer, so that it knows exactly which bytes it
// consumed: the checksum covers every byte before the manifest and not one more.
type decoder struct {
	r      io.Reader
	buf    []byte
	pos    int       // next byte to consume
	end    int       // end of the bytes read
	hashed int       // buf[:hashed] went into h
	h      hash.Hash // nil once the manifest starts
	off    int64     // offset of buf[0] in the content
	table  string    // the table being read, for messages
	// byteErr is the last error of ReadByte, to tell it from binary's varint overflow.
	byteErr error
}

func (d *decoder) offset() int64 { return d.off + int64(d.pos) }

// fill makes n unread bytes available. It returns io.EOF when the content ends before the
// first of them, io.ErrUnexpectedEOF when it ends after.
func (d *decoder) fill(n int) error {
	for d.end-d.pos < n {
		if d.end == len(d.buf) {
			if d.h != nil {
				d.h.Write(d.buf[d.hashed:d.pos])
			}
			copy(d.buf, d.buf[d.pos:d.end])
			d.off += int64(d.pos)
			d.end -= d.pos
			d.pos, d.hashed = 0, 0
			if d.end == len(d.buf) { // a long value: grow, as its bytes arrive
				d.buf = append(d.buf, make([]byte, len(d.buf))...)
			}
		}
		m, err := d.r.Read(d.buf[d.end:])
		d.end += m
		if err == io.EOF {
			if d.end-d.pos >= n {
				return nil
			}
			if d.end == d.pos {
				return io.EOF
			}
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ReadByte implements io.ByteReader for binary.ReadUvarint.
func (d *decoder) ReadByte() (byte, error) {
	if err := d.fill(1); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		d.byteErr = err
		return 0, err
	}
	b := d.buf[d.pos]
	d.pos++
	return b, nil
}

// bytes returns the next n bytes, valid until the next read.
func (d *decoder) bytes(n int) ([]byte, error) {
	if err := d.fill(n); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	b := d.buf[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

// uvarint reads an unsigned varint.
func (d *decoder) uvarint() (uint64, error) {
	n, err := binary.ReadUvarint(d)
	return n, d.varintError(err)
}

// varint reads a signed (zigzag) varint.
func (d *decoder) varint() (int64, error) {
	n, err := binary.ReadVarint(d)
	return n, d.varintError(err)
}

// varintError turns the error binary makes of an overlong varint into damage; the errors of
// ReadByte (the end of the content, a failing source) stay as they are.
func (d *decoder) varintError(err error) error {
	if err == nil || err == d.byteErr {
		return err
	}
	return d.damaged("%v", err)
}

// length reads a uvarint length and checks it against a bound.
func (d *decoder) length(what string, limit int) (int, error) {
	n, err := d.uvarint()
	if err != nil {
		return 0, err
	}
	if n > uint64(limit) {
		return 0, d.damaged("%s of %d, more than %d", what, n, limit)
	}
	return int(n), nil
}

func (d *decoder) name(what string) (string, error) {
	n, err := d.length(what, maxName)
	if err != nil {
		return "", err
	}
	b, err := d.bytes(n)
	if err != nil {
		return "", err
	}
	if err := validName(string(b)); err != nil {
		return "", d.damaged("%s: %v", what, err)
	}
	return string(b), nil
}

func (d *decoder) damaged(format string, args ...any) error {
	where := ""
	if d.table != "" {
		where = " (table " + d.table + ")"
	}
	return fmt.Errorf("%w at byte %d%s: %s", ErrDamaged, d.offset(), where, fmt.Sprintf(format, args...))
}

// value reads one value.
func (d *decoder) value() (any, error) {
	kind, err := d.ReadByte()
	if err != nil {
		return nil, err
	}
	switch kind {
	case kindNull:
		return nil, nil
	case kindInt:
		return d.varint()
	case kindFloat:
		b, err := d.bytes(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	case kindText, kindBlob:
		n, err := d.length("value", maxValue)
		if err != nil {
			return nil, err
		}
		b, err := d.bytes(n)
		if err != nil {
			return nil, err
		}
		if kind == kindText {
			return string(b), nil
		}
		return bytes.Clone(b), nil
	}
	return nil, d.damaged("unknown value kind %d", kind)
}

// read parses the content.
func (d *decoder) read(v Visitor) (*Manifest, error) {
	m, err := d.content(v)
	switch {
	case err == nil:
		return m, nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		where := "between two tables"
		if d.table != "" {
			where = "inside table " + d.table
		}
		return nil, fmt.Errorf("%w: it ends at byte %d, %s, before its manifest (it was cut short, in transfer or while being written)",
			ErrTruncated, d.offset(), where)
	}
	return nil, err
}

func (d *decoder) content(v Visitor) (*Manifest, error) {
	head, err := d.bytes(len(magic))
	if err != nil {
		return nil, err
	}
	if string(head) != magic {
		return nil, fmt.Errorf("%w: it does not start with %q", ErrNotDump, strings.TrimSpace(magic))
	}
	var digits []byte
	for {
		c, err := d.ReadByte()
		if err != nil {
			return nil, err
		}
		if c == '\n' {
			break
		}
		if c < '0' || c > '9' || len(digits) >= 9 {
			return nil, fmt.Errorf("%w: bad format version in its first line", ErrNotDump)
		}
		digits = append(digits, c)
	}
	version, err := strconv.Atoi(string(digits))
	if err != nil {
		return nil, fmt.Errorf("%w: bad format version in its first line", ErrNotDump)
	}
	if version != Format {
		hint := ""
		if version > Format {
			hint = ": it was written by a newer bascule; restore it with that version or a later one"
		}
		return nil, fmt.Errorf("%w %d: this bascule reads format %d%s", ErrVersion, version, Format, hint)
	}
	var tables []TableCount
	var vals []any
	var rows int64
	for {
		tag, err := d.ReadByte()
		if err != nil {
			return nil, err
		}
		switch tag {
		case tagTable:
			if d.table != "" {
				return nil, d.damaged("a table starts before the end of this one")
			}
			name, err := d.name("table name")
			if err != nil {
				return nil, err
			}
			if slices.ContainsFunc(tables, func(t TableCount) bool { return t.Name == name }) {
				return nil, d.damaged("table %s appears twice", name)
			}
			n, err := d.length("columns", maxColumns)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				return nil, d.damaged("table %s without columns", name)
			}
			cols := make([]string, n)
			for i := range cols {
				if cols[i], err = d.name("column name"); err != nil {
					return nil, err
				}
				if slices.Contains(cols[:i], cols[i]) {
					return nil, d.damaged("table %s: column %s appears twice", name, cols[i])
				}
			}
			d.table, rows, vals = name, 0, make([]any, n)
			if v != nil {
				if err := v.Table(name, cols); err != nil {
					return nil, err
				}
			}
		case tagRow:
			if d.table == "" {
				return nil, d.damaged("a row outside any table")
			}
			for i := range vals {
				if vals[i], err = d.value(); err != nil {
					return nil, err
				}
			}
			rows++
			if v != nil {
				if err := v.Row(vals); err != nil {
					return nil, err
				}
			}
		case tagEnd:
			if d.table == "" {
				return nil, d.damaged("the end of a table outside any table")
			}
			n, err := d.uvarint()
			if err != nil {
				return nil, err
			}
			if n != uint64(rows) {
				return nil, d.damaged("the table ends with a count of %d rows, %d were read", n, rows)
			}
			tables = append(tables, TableCount{Name: d.table, Rows: rows})
			d.table = ""
		case tagManifest:
			if d.table != "" {
				return nil, d.damaged("the manifest starts inside a table")
			}
			return d.manifest(version, tables)
		default:
			return nil, d.damaged("unknown record 0x%02x", tag)
		}
	}
}

// manifest reads the manifest (its tag consumed) and checks the content against it.
func (d *decoder) manifest(version int, tables []TableCount) (*Manifest, error) {
	d.h.Write(d.buf[d.hashed : d.pos-1]) // the content ends before the tag
	sum := hex.EncodeToString(d.h.Sum(nil))
	size := d.offset() - 1
	d.h = nil
	n, err := d.length("manifest", maxManifest)
	if err != nil {
		return nil, err
	}
	b, err := d.bytes(n)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, d.damaged("manifest: %v", err)
	}
	if err := d.fill(1); err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, d.damaged("data after the manifest")
	}
	switch {
	case m.SHA256 != sum:
		return nil, fmt.Errorf("%w: checksum mismatch: the content hashes to %s, its manifest says %s", ErrDamaged, sum, m.SHA256)
	case m.Format != version:
		return nil, fmt.Errorf("%w: the manifest says format %d, the first line %d", ErrDamaged, m.Format, version)
	case m.Bytes != size:
		return nil, fmt.Errorf("%w: %d bytes of content, the manifest says %d", ErrDamaged, size, m.Bytes)
	}
	if err := sameTables(tables, m.Tables); err != nil {
		return nil, err
	}
	return &m, nil
}

// sameTables names the first table whose count differs from the manifest's.
func sameTables(read, manifest []TableCount) error {
	for i, t := range read {
		switch {
		case i >= len(manifest):
			return fmt.Errorf("%w: table %s is not in the manifest", ErrDamaged, t.Name)
		case manifest[i] != t:
			return fmt.Errorf("%w: table %s has %d rows, the manifest says %s has %d", ErrDamaged, t.Name, t.Rows, manifest[i].Name, manifest[i].Rows)
		}
	}
	if len(manifest) > len(read) {
		return fmt.Errorf("%w: table %s of the manifest is missing", ErrDamaged, manifest[len(read)].Name)
	}
	return nil
}
