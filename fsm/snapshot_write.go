package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// What is known of a record's bytes (Record.form). A record starts
// rawUnchecked unless whoever made it knows its bytes to be valid JSON
// (newKeyedRecord, Record.JSON); the first snapshot that writes it finds
// whether they are rawCompact and keeps the answer, so a record is checked
// once however many snapshots write it.
const (
	// rawUnchecked: nothing is known.
	rawUnchecked uint32 = iota
	// rawValid: raw is valid JSON (json.Valid).
	rawValid
	// rawCompact: raw is valid JSON that encoding/json's compaction, with
	// HTML escaping, leaves as it is: what json.Encoder writes for a
	// json.RawMessage holding raw is raw.
	rawCompact
	// rawLoose: raw is not known to be rawCompact; a snapshot writes its
	// line through encoding/json.
	rawLoose
)

// snapshotFlushSize is how many bytes of a snapshot WriteSnapshot gathers
// before it writes them, as the bufio.Writer it used did.
const snapshotFlushSize = 1 << 16

// snapshotWriter writes the lines of a snapshot exactly as a json.Encoder
// writes snapshotHeader and snapshotLine values (with HTML escaping, each
// followed by a newline), appending the lines of records whose bytes are
// rawCompact itself and encoding any other line with encoding/json.
type snapshotWriter struct {
	w   io.Writer
	buf []byte
	// enc encodes the lines appendObject does not write itself, into encBuf.
	enc    *json.Encoder
	encBuf bytes.Buffer
}

// newSnapshotWriter returns a snapshotWriter writing to w.
func newSnapshotWriter(w io.Writer) *snapshotWriter {
	sw := &snapshotWriter{w: w, buf: make([]byte, 0, snapshotFlushSize+4<<10)}
	sw.enc = json.NewEncoder(&sw.encBuf)
	return sw
}

// appendSnapshotHeader appends the header line, as json.Encoder writes
// snapshotHeader{Version: snapshotVersion, Index: index}.
func appendSnapshotHeader(dst []byte, index uint64) []byte {
	dst = append(dst, `{"version":`...)
	dst = strconv.AppendInt(dst, snapshotVersion, 10)
	dst = append(dst, `,"index":`...)
	dst = strconv.AppendUint(dst, index, 10)
	return append(dst, "}\n"...)
}

// resourcePrefix is the start of every line of resource name:
// `{"r":` and the name as encoding/json writes a string.
func resourcePrefix(name string) []byte {
	return appendString([]byte(`{"r":`), name)
}

// object writes the line of rec, an object of the resource whose
// resourcePrefix is prefix and whose name is name.
func (sw *snapshotWriter) object(prefix []byte, name string, rec *Record) error {
	b, err := rec.JSON()
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", name, err)
	}
	if !rec.compactJSON(b) {
		return sw.encode(snapshotLine{Resource: name, Key: rec.Key(), UID: rec.UID(), Node: rec.NodeName(), Object: b})
	}
	buf := append(sw.buf, prefix...)
	// snapshotLine's omitempty fields, in their order.
	if k := rec.Key(); k != "" {
		buf = appendString(append(buf, `,"k":`...), k)
	}
	if u := rec.UID(); u != "" {
		buf = appendString(append(buf, `,"u":`...), u)
	}
	if n := rec.NodeName(); n != "" {
		buf = appendString(append(buf, `,"n":`...), n)
	}
	buf = append(buf, `,"o":`...)
	buf = append(buf, b...)
	sw.buf = append(buf, "}\n"...)
	return sw.maybeFlush()
}

// encode writes v as json.Encoder does.
func (sw *snapshotWriter) encode(v any) error {
	sw.encBuf.Reset()
	if err := sw.enc.Encode(v); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	sw.buf = append(sw.buf, sw.encBuf.Bytes()...)
	return sw.maybeFlush()
}

// maybeFlush writes what was gathered once it is snapshotFlushSize or more.
func (sw *snapshotWriter) maybeFlush() error {
	if len(sw.buf) < snapshotFlushSize {
		return nil
	}
	return sw.flush()
}

// flush writes what was gathered.
func (sw *snapshotWriter) flush() error {
	if len(sw.buf) == 0 {
		return nil
	}
	n, err := sw.w.Write(sw.buf)
	if err == nil && n < len(sw.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	sw.buf = sw.buf[:0]
	return nil
}

// compactJSON reports whether b, the record's bytes, are rawCompact,
// finding out (and keeping the answer) the first time it is asked.
func (r *Record) compactJSON(b []byte) bool {
	form := r.form.Load()
	switch form {
	case rawCompact:
		return true
	case rawLoose:
		return false
	case rawValid:
		form = compactForm(b)
	default:
		form = rawLoose
		if validJSON(b) {
			form = compactForm(b)
		}
	}
	r.form.Store(form)
	return form == rawCompact
}

// compactForm returns rawCompact if encoding/json's compaction with HTML
// escaping leaves valid JSON b as it is, else rawLoose. The compaction
// (appendCompact) escapes '<', '>', '&', U+2028 and U+2029 wherever they
// stand and drops the whitespace between tokens; in valid JSON a tab, a
// newline or a carriage return is always such whitespace (a string holds
// them escaped), a space may stand inside a string.
func compactForm(b []byte) uint32 {
	for _, c := range []byte{'<', '>', '&', '\t', '\n', '\r'} {
		if bytes.IndexByte(b, c) >= 0 {
			return rawLoose
		}
	}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], 0xE2)
		if j < 0 {
			break
		}
		i += j
		if i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xA8 {
			return rawLoose
		}
		i++
	}
	if bytes.IndexByte(b, ' ') >= 0 && spaceOutsideStrings(b) {
		return rawLoose
	}
	return rawCompact
}

// spaceOutsideStrings reports whether valid JSON b has a space between
// its tokens (not inside a string).
func spaceOutsideStrings(b []byte) bool {
	in := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			in = !in
		case c == '\\' && in:
			i++ // the escaped byte; the hex digits of \uXXXX are no quote or backslash
		case c == ' ' && !in:
			return true
		}
	}
	return false
}
