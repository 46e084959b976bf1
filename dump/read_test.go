package dump_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/bascule/bascule/dump"
)

// table is a table to encode by hand.
type table struct {
	name string
	cols []string
	rows [][]any
}

// encode writes a dump by hand from the format described in the package documentation,
// sharing no code with the writer: the reader must read what the documentation says.
// edit, when set, changes the manifest before it is written.
func encode(tables []table, edit func(*dump.Manifest)) []byte {
	var b bytes.Buffer
	str := func(s string) {
		b.Write(binary.AppendUvarint(nil, uint64(len(s))))
		b.WriteString(s)
	}
	b.WriteString("BASCULE-DUMP 1\n")
	var counts []dump.TableCount
	for _, t := range tables {
		b.WriteByte('T')
		str(t.name)
		b.Write(binary.AppendUvarint(nil, uint64(len(t.cols))))
		for _, c := range t.cols {
			str(c)
		}
		for _, row := range t.rows {
			b.WriteByte('R')
			for _, v := range row {
				switch v := v.(type) {
				case nil:
					b.WriteByte(0)
				case int64:
					b.WriteByte(1)
					b.Write(binary.AppendVarint(nil, v))
				case float64:
					b.WriteByte(2)
					b.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)))
				case string:
					b.WriteByte(3)
					str(v)
				case []byte:
					b.WriteByte(4)
					str(string(v))
				}
			}
		}
		b.WriteByte('E')
		b.Write(binary.AppendUvarint(nil, uint64(len(t.rows))))
		counts = append(counts, dump.TableCount{Name: t.name, Rows: int64(len(t.rows))})
	}
	sum := sha256.Sum256(b.Bytes())
	m := dump.Manifest{Format: 1, Schema: 1, ServerID: "5e4e4", CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Version: "test", Feed: 2, Tables: counts, Bytes: int64(b.Len()), SHA256: hex.EncodeToString(sum[:])}
	if edit != nil {
		edit(&m)
	}
	js, _ := json.Marshal(m)
	b.WriteByte('M')
	b.Write(binary.AppendUvarint(nil, uint64(len(js))))
	b.Write(js)
	return b.Bytes()
}

// sample holds a value of every kind, including the edges of each.
var sample = []table{
	{"meta", []string{"key", "value"}, [][]any{{"server_id", "5e4e4"}}},
	{"counters", []string{"name", "value"}, [][]any{{"feed", int64(2)}, {"knowledge:b", int64(math.MaxInt64)}}},
	{"interactions", []string{"id", "question", "score", "n", "data"}, [][]any{
		{"i1", "Où est mon colis ? «»\x00\n", 0.75, int64(-1), []byte{0, 1, 2}},
		{"i2", "", math.Inf(-1), int64(math.MinInt64), nil},
		{"i3", strings.Repeat("long ", 40_000), -0.0, int64(0), []byte{}},
	}},
	{"cursors", []string{"origin", "seq"}, nil},
}

func compress(t testing.TB, raw []byte) []byte {
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	return buf.Bytes()
}

// recorder keeps what Read delivers.
type recorder struct{ tables []table }

func (r *recorder) Table(name string, cols []string) error {
	r.tables = append(r.tables, table{name: name, cols: cols})
	return nil
}

func (r *recorder) Row(vals []any) error {
	t := &r.tables[len(r.tables)-1]
	t.rows = append(t.rows, append([]any(nil), vals...))
	return nil
}

// Read delivers exactly the documented content, compressed or not.
func TestReadTheDocumentedFormat(t *testing.T) {
	raw := encode(sample, nil)
	for name, data := range map[string][]byte{"compressed": compress(t, raw), "decompressed": raw} {
		rec := &recorder{}
		m, err := dump.Read(bytes.NewReader(data), rec)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.ServerID != "5e4e4" || m.Rows("interactions") != 3 || m.Feed != 2 {
			t.Fatalf("%s: manifest %+v", name, m)
		}
		for i := range sample {
			if sample[i].rows == nil {
				sample[i].rows = [][]any(nil)
			}
		}
		if !reflect.DeepEqual(rec.tables, sample) {
			t.Fatalf("%s: read\n%v\nwant\n%v", name, rec.tables, sample)
		}
	}
}

// Every bad dump is refused with an error that says what is wrong.
func TestBadDumps(t *testing.T) {
	raw := encode(sample, nil)
	good := compress(t, raw)
	manifestAt := bytes.LastIndexByte(raw, 'M')
	replace := func(old, new string) []byte {
		if !bytes.Contains(raw, []byte(old)) {
			t.Fatalf("%q not in the dump", old)
		}
		return compress(t, bytes.Replace(raw, []byte(old), []byte(new), 1))
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-2] ^= 0x55 // in zstd's checksum of the frame
	garbage := make([]byte, 4096)
	rand.Read(garbage)
	for _, tc := range []struct {
		name string
		data []byte
		is   error
		want string
	}{
		{"empty file", nil, dump.ErrNotDump, "the file is empty"},
		{"garbage", garbage, dump.ErrNotDump, "neither zstd-compressed nor a decompressed dump"},
		{"a database file", []byte("SQLite format 3\x00\x10\x00\x02\x02"), dump.ErrNotDump, "neither zstd-compressed"},
		{"compressed text", compress(t, []byte("hello, world\n")), dump.ErrNotDump, `does not start with "BASCULE-DUMP"`},
		{"truncated file", good[:len(good)*2/3], dump.ErrTruncated, "cut short"},
		{"truncated content", compress(t, raw[:len(raw)/2]), dump.ErrTruncated, "inside table interactions"},
		{"no manifest", compress(t, raw[:manifestAt]), dump.ErrTruncated, "between two tables, before its manifest"},
		{"wrong checksum", replace("Où est", "Où  st"), dump.ErrDamaged, "checksum mismatch"},
		{"flipped byte", flipped, dump.ErrDamaged, "decompression failed"},
		{"unknown format version", replace("BASCULE-DUMP 1\n", "BASCULE-DUMP 0\n"), dump.ErrVersion, "unsupported dump format 0: this bascule reads format 1"},
		{"newer format version", replace("BASCULE-DUMP 1\n", "BASCULE-DUMP 2\n"), dump.ErrVersion, "format 2: this bascule reads format 1: it was written by a newer bascule"},
		{"bad first line", replace("BASCULE-DUMP 1\n", "BASCULE-DUMP x\n"), dump.ErrNotDump, "bad format version"},
		{"data after the manifest", compress(t, append(bytes.Clone(raw), 'x')), dump.ErrDamaged, "data after the manifest"},
		{"manifest with other counts", compress(t, encode(sample, func(m *dump.Manifest) { m.Tables[2].Rows = 4 })), dump.ErrDamaged,
			"table interactions has 3 rows, the manifest says interactions has 4"},
		{"manifest of another size", compress(t, encode(sample, func(m *dump.Manifest) { m.Bytes++ })), dump.ErrDamaged, "bytes of content, the manifest says"},
		{"manifest not JSON", replace(`{"format":1`, `{"format":x`), dump.ErrDamaged, "manifest: invalid character"},
		{"unknown record", compress(t, append(bytes.Clone(raw[:manifestAt]), 'Z')), dump.ErrDamaged, "unknown record 0x5a"},
		{"unknown value kind", replace("R\x03\x09server_id", "R\x09\x09server_id"), dump.ErrDamaged, "unknown value kind 9"},
		{"row count off", replace("E\x03", "E\x02"), dump.ErrDamaged, "the table ends with a count of 2 rows, 3 were read"},
		{"bad table name", replace("\x08counters", "\x08count;rs"), dump.ErrDamaged, `table name: bad name "count;rs"`},
		{"huge length", replace("\x09server_id", "\xff\xff\xff\xff\x0fserver_id"), dump.ErrDamaged, "value of 4294967295, more than 67108864"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dump.Read(bytes.NewReader(tc.data), nil)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got  %v\nwant %v ... %s", err, tc.is, tc.want)
			}
			t.Log(err)
		})
	}
	// A byte flipped in the compressed data reads as damaged or, when it changes a length, as
	// truncated: never as a dump.
	for i := 0; i < len(good); i += 97 {
		b := bytes.Clone(good)
		b[i] ^= 0x55
		if _, err := dump.Read(bytes.NewReader(b), nil); !errors.Is(err, dump.ErrDamaged) && !errors.Is(err, dump.ErrTruncated) && !errors.Is(err, dump.ErrNotDump) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
}

// A source that fails is reported as such, not as a damaged dump.
func TestReadReportsSourceErrors(t *testing.T) {
	good := compress(t, encode(sample, nil))
	broken := errors.New("connection reset")
	_, err := dump.Read(io.MultiReader(bytes.NewReader(good[:len(good)/2]), &failing{broken}), nil)
	if !errors.Is(err, broken) || errors.Is(err, dump.ErrDamaged) {
		t.Fatalf("got %v", err)
	}
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }

// counter counts what Read delivers.
type counter struct {
	tables map[string]int64
	table  string
}

func (c *counter) Table(name string, cols []string) error {
	c.table = name
	c.tables[name] = 0
	return nil
}

func (c *counter) Row(vals []any) error {
	for _, v := range vals {
		switch v.(type) {
		case nil, int64, float64, string, []byte:
		default:
			panic("a value of an unexpected type")
		}
	}
	c.tables[c.table]++
	return nil
}

// FuzzRead: whatever the bytes, Read returns a manifest whose counts are what it delivered, or
// one of the package's errors; it never panics nor hangs.
func FuzzRead(f *testing.F) {
	raw := encode(sample[:3], nil)
	f.Add(raw)
	f.Add(compress(f, raw))
	f.Add(raw[:len(raw)/2])
	f.Add(encode([]table{{"meta", []string{"key"}, [][]any{{"x"}}}}, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &counter{tables: map[string]int64{}}
		m, err := dump.Read(bytes.NewReader(data), c)
		if err != nil {
			if !errors.Is(err, dump.ErrNotDump) && !errors.Is(err, dump.ErrVersion) && !errors.Is(err, dump.ErrTruncated) && !errors.Is(err, dump.ErrDamaged) {
				t.Fatalf("an error of no known kind: %v", err)
			}
			return
		}
		for _, tc := range m.Tables {
			if c.tables[tc.Name] != tc.Rows {
				t.Fatalf("table %s: %d rows delivered, manifest %d", tc.Name, c.tables[tc.Name], tc.Rows)
			}
		}
	})
}
