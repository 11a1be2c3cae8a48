package cluster

import (
	"bytes"
	"encoding/binary"
	"io"
	"sync"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/types"
)

// raft-wal's entry codec as a master has it.
//
// raft-wal's StoreLogs encodes each entry into a fresh, empty
// bytes.Buffer, and its BinaryCodec writes the fields one by one: the
// buffer starts at 64 bytes and is grown again, zeroed and copied, for
// the entry's data (in a loaded master's profile 3-4.5% of all its CPU,
// most of it zeroing the grown buffers). walCodec writes exactly
// BinaryCodec's bytes (the same format, so a data dir written by either
// reads back with the other) into a buffer of the entry's encoded size,
// or, while walStore.StoreLogs runs, into an arena kept from batch to
// batch (walArena).
//
// raft-wal v0.4.1 takes a codec (WithCodec) only with an ID of
// wal.FirstExternalCodecID or more, and still records every new segment
// as wal.CodecBinaryV1 (its newSegment, upstream PR #20), then refuses on
// open a segment whose codec is not the configured one. So walCodec has
// an ID of its own that never reaches the disk: the meta database and
// the segments' headers keep CodecBinaryV1, the segments' records read
// from the meta database say walCodecID (walMeta.Load), and segments are
// opened with CodecBinaryV1 again (walFiler), which their headers are
// checked against. A data dir reads back with raft-wal's defaults, as a
// master of the previous build opens it.

// walCodecID is walCodec's ID inside raft-wal; on disk it is
// wal.CodecBinaryV1.
const walCodecID = wal.FirstExternalCodecID + wal.CodecBinaryV1

// walCodec encodes and decodes entries as wal.BinaryCodec does.
type walCodec struct {
	// mu is held for one StoreLogs call (storeLogs), during which Encode
	// puts entries in arena: raft-wal calls Encode only from StoreLogs,
	// on its caller's goroutine.
	mu      sync.Mutex
	inBatch bool
	arena   walArena
}

// storeLogs runs store, raft-wal's StoreLogs, with the entries encoded
// into the arena.
func (c *walCodec) storeLogs(store func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arena.reset()
	c.inBatch = true
	defer func() { c.inBatch = false }()
	return store()
}

// ID is walCodecID (see above).
func (c *walCodec) ID() uint64 { return walCodecID }

// Encode writes l as wal.BinaryCodec does: into w's own buffer when w
// is an empty bytes.Buffer (raft-wal's StoreLogs passes a fresh one and
// keeps its Bytes), else in one Write.
func (c *walCodec) Encode(l *raft.Log, w io.Writer) error {
	n := encodedLogBound(l)
	var p []byte
	if c.inBatch {
		p = c.arena.take(n)
	} else {
		p = make([]byte, 0, n)
	}
	p, err := appendLog(p, l)
	if err != nil {
		return err
	}
	if b, ok := w.(*bytes.Buffer); ok && b.Len() == 0 {
		*b = *bytes.NewBuffer(p)
		return nil
	}
	_, err = w.Write(p)
	return err
}

// Decode is wal.BinaryCodec's.
func (c *walCodec) Decode(bs []byte, l *raft.Log) error {
	return (&wal.BinaryCodec{}).Decode(bs, l)
}

// appendLog appends l's encoding as wal.BinaryCodec writes it: Index,
// Term and Type as uvarints, Data and Extensions each as a uvarint length
// and the bytes, then AppendedAt as time.Time.MarshalBinary has it.
func appendLog(p []byte, l *raft.Log) ([]byte, error) {
	p = binary.AppendUvarint(p, l.Index)
	p = binary.AppendUvarint(p, l.Term)
	p = binary.AppendUvarint(p, uint64(l.Type))
	p = binary.AppendUvarint(p, uint64(len(l.Data)))
	p = append(p, l.Data...)
	p = binary.AppendUvarint(p, uint64(len(l.Extensions)))
	p = append(p, l.Extensions...)
	return l.AppendedAt.AppendBinary(p)
}

// maxTimeBinary is the longest time.Time.MarshalBinary encoding (version
// 2: a zone offset with seconds).
const maxTimeBinary = 16

// encodedLogBound is the length of l's encoding, or one byte more (a
// time's encoding is 15 or 16 bytes).
func encodedLogBound(l *raft.Log) int {
	return uvarintLen(l.Index) + uvarintLen(l.Term) + uvarintLen(uint64(l.Type)) +
		uvarintLen(uint64(len(l.Data))) + len(l.Data) +
		uvarintLen(uint64(len(l.Extensions))) + len(l.Extensions) + maxTimeBinary
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// walMeta is a meta store whose segments say walCodecID in memory and
// wal.CodecBinaryV1 on disk.
type walMeta struct {
	types.MetaStore
}

// Load loads the persisted state, with segments of wal.CodecBinaryV1
// read as walCodecID.
func (m walMeta) Load(dir string) (types.PersistentState, error) {
	s, err := m.MetaStore.Load(dir)
	for i := range s.Segments {
		if s.Segments[i].Codec == wal.CodecBinaryV1 {
			s.Segments[i].Codec = walCodecID
		}
	}
	return s, err
}

// CommitState persists s with every segment as wal.CodecBinaryV1.
func (m walMeta) CommitState(s types.PersistentState) error {
	s.Segments = binaryV1Segments(s.Segments)
	return m.MetaStore.CommitState(s)
}

// binaryV1Segments is segs with walCodecID as wal.CodecBinaryV1 (a copy
// when any changes: the caller's slice is raft-wal's).
func binaryV1Segments(segs []types.SegmentInfo) []types.SegmentInfo {
	for i := range segs {
		if segs[i].Codec == walCodecID {
			out := append([]types.SegmentInfo(nil), segs...)
			for j := i; j < len(out); j++ {
				out[j] = binaryV1Segment(out[j])
			}
			return out
		}
	}
	return segs
}

func binaryV1Segment(info types.SegmentInfo) types.SegmentInfo {
	if info.Codec == walCodecID {
		info.Codec = wal.CodecBinaryV1
	}
	return info
}

// walFiler opens segments as wal.CodecBinaryV1, as their headers say.
type walFiler struct {
	types.SegmentFiler
}

// Create makes a new segment (raft-wal names it wal.CodecBinaryV1).
func (f walFiler) Create(info types.SegmentInfo) (types.SegmentWriter, error) {
	return f.SegmentFiler.Create(binaryV1Segment(info))
}

// RecoverTail opens the unsealed segment to append to.
func (f walFiler) RecoverTail(info types.SegmentInfo) (types.SegmentWriter, error) {
	return f.SegmentFiler.RecoverTail(binaryV1Segment(info))
}

// Open opens a sealed segment.
func (f walFiler) Open(info types.SegmentInfo) (types.SegmentReader, error) {
	return f.SegmentFiler.Open(binaryV1Segment(info))
}

// maxWALArena is the most memory a master keeps for encoding entries
// (a batch needing more has the rest allocated entry by entry): 512
// entries (Config.MaxAppendEntries) of about 2 KiB.
const maxWALArena = 1 << 20

// walArena is memory for the encoded entries of one StoreLogs call,
// used again by the next: raft-wal copies an entry's encoding into its
// segment's write buffer before StoreLogs returns and keeps no reference
// to it (TestWALCodecArenaReuse reads back entries written before their
// memory was used again), so a master need not zero and collect fresh
// memory for every entry.
type walArena struct {
	buf  []byte
	used int
	// need is what this batch asked for; reset grows buf to it, up to
	// maxWALArena.
	need int
}

// take is room for n bytes, empty, which appends cannot run past.
func (a *walArena) take(n int) []byte {
	a.need += n
	if n > len(a.buf)-a.used {
		return make([]byte, 0, n)
	}
	p := a.buf[a.used : a.used : a.used+n]
	a.used += n
	return p
}

// reset starts a batch: nothing refers to the last one's entries.
func (a *walArena) reset() {
	if a.need > len(a.buf) {
		a.buf = make([]byte, min(a.need, maxWALArena))
	}
	a.used, a.need = 0, 0
}
