package cluster

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// binaryEncode is wal.BinaryCodec's encoding of l as raft-wal's
// StoreLogs makes it.
func binaryEncode(l *raft.Log) ([]byte, error) {
	var buf bytes.Buffer
	err := (&wal.BinaryCodec{}).Encode(l, &buf)
	return buf.Bytes(), err
}

// checkSameEncoding checks that walCodec encodes l to BinaryCodec's bytes
// and error, into a fresh buffer as StoreLogs passes (with and without
// the arena) and into a writer that is not one.
func checkSameEncoding(t *testing.T, c *walCodec, l *raft.Log) {
	t.Helper()
	want, wantErr := binaryEncode(l)
	encodes := map[string]func() ([]byte, error){
		"fresh buffer": func() ([]byte, error) {
			var buf bytes.Buffer
			err := c.Encode(l, &buf)
			return buf.Bytes(), err
		},
		"arena": func() ([]byte, error) {
			var got []byte
			err := c.storeLogs(func() error {
				var buf bytes.Buffer
				err := c.Encode(l, &buf)
				got = buf.Bytes()
				return err
			})
			return got, err
		},
		"other writer": func() ([]byte, error) {
			var w struct{ bytes.Buffer } // not a *bytes.Buffer
			err := c.Encode(l, &w)
			return w.Bytes(), err
		},
	}
	for name, encode := range encodes {
		got, err := encode()
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("%s: %+v: error %v, BinaryCodec's %v", name, l, err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("%s: %+v:\n got %x\nwant %x", name, l, got, want)
		}
	}
	if wantErr != nil {
		return
	}
	if n := encodedLogBound(l); n != len(want) && n != len(want)+1 {
		t.Fatalf("%+v: bound %d for %d bytes", l, n, len(want))
	}
	var back raft.Log
	if err := c.Decode(want, &back); err != nil {
		t.Fatalf("decode %+v: %v", l, err)
	}
	if back.Index != l.Index || back.Term != l.Term || back.Type != l.Type ||
		!bytes.Equal(back.Data, l.Data) || !bytes.Equal(back.Extensions, l.Extensions) || !back.AppendedAt.Equal(l.AppendedAt) {
		t.Fatalf("decoded %+v, want %+v", back, l)
	}
}

// TestWALCodecMatchesBinaryCodec checks walCodec's bytes and errors
// against wal.BinaryCodec's on edge cases and many random entries.
func TestWALCodecMatchesBinaryCodec(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 70_000)
	tables := []struct {
		name string
		log  raft.Log
	}{
		{"zero", raft.Log{}},
		{"command", raft.Log{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("create"), AppendedAt: time.Date(2026, 12, 5, 15, 0, 0, 123456789, time.UTC)}},
		{"max fields", raft.Log{Index: math.MaxUint64, Term: math.MaxUint64, Type: raft.LogType(255), Data: big, Extensions: big[:200]}},
		{"empty not nil", raft.Log{Index: 127, Term: 128, Data: []byte{}, Extensions: []byte{}}},
		{"varint edges", raft.Log{Index: 1<<14 - 1, Term: 1 << 14, Type: raft.LogConfiguration, Data: big[:127], Extensions: big[:128]}},
		{"monotonic clock", raft.Log{Index: 5, AppendedAt: time.Now()}},
		{"local zone", raft.Log{Index: 6, AppendedAt: time.Date(2001, 2, 3, 4, 5, 6, 7, time.Local)}},
		{"zone in minutes", raft.Log{Index: 7, AppendedAt: time.Date(2001, 2, 3, 4, 5, 6, 7, time.FixedZone("x", -90*60))}},
		{"zone with seconds", raft.Log{Index: 8, AppendedAt: time.Date(1900, 1, 1, 0, 0, 0, 0, time.FixedZone("lmt", 3600+17))}},
		{"zone -1 minute", raft.Log{Index: 9, Data: []byte("d"), AppendedAt: time.Date(2001, 2, 3, 4, 5, 6, 7, time.FixedZone("bad", -60))}},
		{"zone too far", raft.Log{Index: 10, AppendedAt: time.Date(2001, 2, 3, 4, 5, 6, 7, time.FixedZone("far", 32768*60))}},
		{"year 1", raft.Log{Index: 11, AppendedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}},
		{"far future", raft.Log{Index: 12, AppendedAt: time.Unix(1<<62, 999999999)}},
	}
	c := &walCodec{}
	for _, tc := range tables {
		t.Run(tc.name, func(t *testing.T) { checkSameEncoding(t, c, &tc.log) })
	}
	rng := rand.New(rand.NewPCG(17, 5))
	for i := 0; i < 20_000; i++ {
		l := randomLog(rng)
		checkSameEncoding(t, c, &l)
	}
}

// randomLog is an entry with every field random, sizes and values
// spread over their encodings' edges.
func randomLog(rng *rand.Rand) raft.Log {
	num := func() uint64 { return rng.Uint64() >> rng.IntN(64) }
	bs := func() []byte {
		switch rng.IntN(4) {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		b := make([]byte, rng.IntN(1<<rng.IntN(13)))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var at time.Time
	switch rng.IntN(4) {
	case 1:
		at = time.Unix(rng.Int64N(1<<40)-1<<39, rng.Int64N(1e9)).UTC()
	case 2:
		at = time.Unix(rng.Int64N(1<<40)-1<<39, rng.Int64N(1e9)).In(time.FixedZone("z", rng.IntN(2*32768*60)-32768*60))
	case 3:
		at = time.Now()
	}
	return raft.Log{Index: num(), Term: num(), Type: raft.LogType(rng.IntN(256)), Data: bs(), Extensions: bs(), AppendedAt: at}
}

// FuzzWALCodec checks walCodec against wal.BinaryCodec on any entry.
func FuzzWALCodec(f *testing.F) {
	f.Add(uint64(1), uint64(1), uint8(0), []byte("create"), []byte(nil), int64(1764946800), int64(5), 0, true)
	f.Add(uint64(math.MaxUint64), uint64(0), uint8(255), []byte{}, []byte{1}, int64(0), int64(0), 17, false)
	f.Add(uint64(300), uint64(2), uint8(2), []byte(nil), []byte{}, int64(-62135596800), int64(999999999), -60, true)
	f.Fuzz(func(t *testing.T, index, term uint64, typ uint8, data, ext []byte, sec, nsec int64, offset int, zero bool) {
		l := raft.Log{Index: index, Term: term, Type: raft.LogType(typ), Data: data, Extensions: ext}
		if !zero {
			l.AppendedAt = time.Unix(sec, nsec).In(time.FixedZone("f", offset))
		}
		checkSameEncoding(t, &walCodec{}, &l)
	})
}

// TestWALDataDirsReadBothWays writes a data dir with raft-wal's own
// codec (as a master of the previous build did), opens it as a master
// does now and appends more over segment rotations, then opens it with
// raft-wal's defaults again: every entry reads back either way, and
// on disk the meta database and every segment header still name
// wal.CodecBinaryV1.
func TestWALDataDirsReadBothWays(t *testing.T) {
	dir := filepath.Join(t.TempDir(), walDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var want []raft.Log
	// Entries of up to 1.5 MiB: 16 MiB segments rotate a few times, and
	// batches go past the arena.
	batch := func(n, maxSize int) []*raft.Log {
		out := make([]*raft.Log, n)
		for i := range out {
			l := randomLog(rng)
			l.Index = uint64(len(want) + 1)
			l.AppendedAt = l.AppendedAt.Round(0) // decoded without a monotonic reading
			if l.AppendedAt.Location() != time.UTC && !l.AppendedAt.IsZero() {
				l.AppendedAt = l.AppendedAt.UTC() // a random zone may not encode
			}
			l.Data = make([]byte, rng.IntN(maxSize))
			for j := range l.Data {
				l.Data[j] = byte(j * 7)
			}
			want = append(want, l)
			out[i] = &want[len(want)-1]
		}
		return out
	}
	want = make([]raft.Log, 0, 1000)
	check := func(s interface {
		GetLog(uint64, *raft.Log) error
		LastIndex() (uint64, error)
	}, who string) {
		t.Helper()
		if last, err := s.LastIndex(); err != nil || last != uint64(len(want)) {
			t.Fatalf("%s: last index %d (%v), want %d", who, last, err, len(want))
		}
		for i := range want {
			var got raft.Log
			if err := s.GetLog(uint64(i+1), &got); err != nil {
				t.Fatalf("%s: entry %d: %v", who, i+1, err)
			}
			w := want[i]
			if got.Index != w.Index || got.Term != w.Term || got.Type != w.Type || !bytes.Equal(got.Data, w.Data) ||
				!bytes.Equal(got.Extensions, w.Extensions) || !got.AppendedAt.Equal(w.AppendedAt) {
				t.Fatalf("%s: entry %d reads back as %+v", who, i+1, got.Index)
			}
		}
	}

	old, err := wal.Open(dir, wal.WithSegmentSize(walSegmentSize))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := old.StoreLogs(batch(8, 1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	check(old, "BinaryCodec")
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := openWAL(dir)
	if err != nil {
		t.Fatalf("open a data dir written by BinaryCodec: %v", err)
	}
	check(s, "walCodec, old entries")
	for i := 0; i < 24; i++ {
		n := 1 + rng.IntN(64)
		if err := s.StoreLogs(batch(n, 3<<20/n)); err != nil {
			t.Fatal(err)
		}
	}
	check(s, "walCodec")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(segs) < 3 {
		t.Fatalf("%d segments, want rotations", len(segs))
	}
	for _, seg := range segs {
		head := make([]byte, 32)
		f, err := os.Open(seg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.ReadAt(head, 0)
		f.Close()
		if codec := binary.LittleEndian.Uint64(head[24:32]); err != nil || codec != wal.CodecBinaryV1 {
			t.Errorf("segment %s names codec %d (%v), want %d", seg, codec, err, wal.CodecBinaryV1)
		}
	}
	var meta metadb.BoltMetaDB
	st, err := meta.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, seg := range st.Segments {
		if seg.Codec != wal.CodecBinaryV1 {
			t.Errorf("meta database: segment %d has codec %d, want %d", seg.ID, seg.Codec, wal.CodecBinaryV1)
		}
	}
	meta.Close()

	back, err := wal.Open(dir)
	if err != nil {
		t.Fatalf("open a data dir written by walCodec with BinaryCodec: %v", err)
	}
	defer back.Close()
	check(back, "BinaryCodec after walCodec")
}

// TestWALCodecArenaReuse stores batches whose encodings reuse the same
// arena memory and reads the earlier ones back: nothing of raft-wal
// refers to an entry's encoding once StoreLogs returned.
func TestWALCodecArenaReuse(t *testing.T) {
	s, err := openWAL(filepath.Join(t.TempDir(), walDir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	entry := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 1000+i) }
	idx := uint64(1)
	for b := 0; b < 50; b++ {
		logs := make([]*raft.Log, 32)
		for i := range logs {
			logs[i] = &raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: entry(int(idx))}
			idx++
		}
		if err := s.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
		if b > 0 && (s.codec.arena.used == 0 || s.codec.arena.used > len(s.codec.arena.buf)) {
			t.Fatalf("batch %d used %d of the arena's %d bytes", b, s.codec.arena.used, len(s.codec.arena.buf))
		}
	}
	for i := uint64(1); i < idx; i++ {
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil || !bytes.Equal(got.Data, entry(int(i))) {
			t.Fatalf("entry %d: %d bytes (%v)", i, len(got.Data), err)
		}
	}
}

// TestWALArena checks the arena's room: each entry its own, no more than
// asked, and a batch that needed more than the arena held makes the next
// one's bigger, up to maxWALArena.
func TestWALArena(t *testing.T) {
	var a walArena
	a.reset()
	if p := a.take(100); cap(p) != 100 || len(p) != 0 {
		t.Fatalf("first take from an empty arena: len %d cap %d", len(p), cap(p))
	}
	a.take(50)
	a.reset()
	if len(a.buf) != 150 {
		t.Fatalf("arena of %d bytes after a batch of 150", len(a.buf))
	}
	p, q := a.take(100), a.take(50)
	p = append(p, bytes.Repeat([]byte{1}, 100)...)
	q = append(q, bytes.Repeat([]byte{2}, 50)...)
	if &p[0] != &a.buf[0] || &q[0] != &a.buf[100] || bytes.Count(a.buf, []byte{1}) != 100 {
		t.Fatal("entries not laid out in the arena one after the other")
	}
	if r := a.take(1); cap(r) != 1 || len(a.buf) != 150 {
		t.Fatal("a take past the arena's end did not get its own room")
	}
	a.take(2 * maxWALArena)
	a.reset()
	if len(a.buf) != maxWALArena {
		t.Fatalf("arena of %d bytes, want at most %d", len(a.buf), maxWALArena)
	}
}

func TestUvarintLen(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 1<<14 - 1, 1 << 14, 1<<63 - 1, 1 << 63, math.MaxUint64} {
		if got, want := uvarintLen(v), len(binary.AppendUvarint(nil, v)); got != want {
			t.Errorf("uvarintLen(%d) = %d, want %d", v, got, want)
		}
	}
}

// BenchmarkWALCodecEncode encodes a batch of 64 entries of ~1.2 KiB as
// raft-wal's StoreLogs does (a fresh bytes.Buffer per entry, kept until
// the batch is written): wal.BinaryCodec, walCodec with a buffer per
// entry, and walCodec in its arena (as walStore.StoreLogs runs it).
func BenchmarkWALCodecEncode(b *testing.B) {
	data := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz"), 1200/26)
	logs := make([]*raft.Log, 64)
	for i := range logs {
		logs[i] = &raft.Log{Index: uint64(1e6 + i), Term: 3, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
	}
	encodeAll := func(c wal.Codec, out [][]byte) error {
		for i, l := range logs {
			var buf bytes.Buffer
			if err := c.Encode(l, &buf); err != nil {
				return err
			}
			out[i] = buf.Bytes()
		}
		return nil
	}
	wc := &walCodec{}
	for _, bc := range []struct {
		name   string
		encode func(out [][]byte) error
	}{
		{"binary", func(out [][]byte) error { return encodeAll(&wal.BinaryCodec{}, out) }},
		{"sized", func(out [][]byte) error { return encodeAll(wc, out) }},
		{"arena", func(out [][]byte) error { return wc.storeLogs(func() error { return encodeAll(wc, out) }) }},
	} {
		b.Run(fmt.Sprintf("codec=%s", bc.name), func(b *testing.B) {
			out := make([][]byte, len(logs))
			b.ReportAllocs()
			before := processCPU(b)
			for b.Loop() {
				if err := bc.encode(out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}
