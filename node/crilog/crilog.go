// Package crilog writes and reads container logs in the CRI log format, the
// one containerd's CRI plugin writes and the kubelet reads:
//
//	<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>\n
//
// F marks the end of a line of output, P a piece of a longer line (or of
// output that did not end in a newline before a write boundary) that goes
// on in the next record. Each record's timestamp is when the writer read it.
//
// The writer runs as a containerd "binary" logger (see Run): the shim
// starts it with the container's stdout and stderr, so logging goes on
// while the node agent restarts.
package crilog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Stream names in a record.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Tags of a record.
const (
	TagFull    = "F"
	TagPartial = "P"
)

// MaxLineBytes is the longest content of one record; a longer line is
// split into partial records, as containerd's CRI splits at 16 KiB.
const MaxLineBytes = 16 << 10

// Writer formats output into CRI records on an underlying writer (a file
// opened with O_APPEND). It is safe for concurrent use by the two streams.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
	buf []byte
}

// NewWriter returns a Writer on w; now is the clock (nil: time.Now).
func NewWriter(w io.Writer, now func() time.Time) *Writer {
	if now == nil {
		now = time.Now
	}
	return &Writer{w: w, now: now}
}

// WriteRecord writes one record in one write call.
func (w *Writer) WriteRecord(stream, tag string, content []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = w.buf[:0]
	w.buf = w.now().UTC().AppendFormat(w.buf, time.RFC3339Nano)
	w.buf = append(w.buf, ' ')
	w.buf = append(w.buf, stream...)
	w.buf = append(w.buf, ' ')
	w.buf = append(w.buf, tag...)
	w.buf = append(w.buf, ' ')
	w.buf = append(w.buf, content...)
	w.buf = append(w.buf, '\n')
	_, err := w.w.Write(w.buf)
	return err
}

// Copy reads r (one stream of a container) until EOF and writes its lines
// as records: full lines as F, pieces of lines longer than MaxLineBytes as
// P, and output that ends without a newline as a last F record, as
// containerd's CRI does.
func (w *Writer) Copy(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, MaxLineBytes)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if werr := w.WriteRecord(stream, TagFull, line[:len(line)-1]); werr != nil {
				return werr
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if werr := w.WriteRecord(stream, TagPartial, line); werr != nil {
				return werr
			}
		case errors.Is(err, io.EOF):
			if len(line) > 0 {
				if werr := w.WriteRecord(stream, TagFull, line); werr != nil {
					return werr
				}
			}
			return nil
		default:
			if len(line) > 0 {
				if werr := w.WriteRecord(stream, TagFull, line); werr != nil {
					return werr
				}
			}
			return fmt.Errorf("read %s: %w", stream, err)
		}
	}
}

// Record is one parsed record.
type Record struct {
	Time    time.Time
	Stream  string
	Partial bool
	Content []byte // without the record's newline
}

// Parse parses one record (without or with its trailing newline). ok is
// false when line is not a CRI record (e.g. a log written raw by an
// older agent).
func Parse(line []byte) (rec Record, ok bool) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	ts, rest, found := bytes.Cut(line, []byte{' '})
	if !found {
		return Record{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return Record{}, false
	}
	stream, rest, found := bytes.Cut(rest, []byte{' '})
	if !found || (string(stream) != Stdout && string(stream) != Stderr) {
		return Record{}, false
	}
	tag, content, found := bytes.Cut(rest, []byte{' '})
	if !found {
		// "<ts> stdout F" with empty content and no separator.
		tag, content = rest, nil
	}
	switch string(tag) {
	case TagFull, TagPartial:
	default:
		return Record{}, false
	}
	return Record{Time: t, Stream: string(stream), Partial: string(tag) == TagPartial, Content: content}, true
}
