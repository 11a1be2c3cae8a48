package crilog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// followPoll is how often Follow looks for new records.
const followPoll = 50 * time.Millisecond

// drainQuiet and drainMax bound Follow's last reads once ctx ends: it
// stops when the file did not grow for drainQuiet, or after drainMax.
const (
	drainQuiet = 150 * time.Millisecond
	drainMax   = 2 * time.Second
)

// Tail is a log opened at its end: Follow copies what is appended after
// OpenTail returned, so a caller that opens the tail before it makes the
// writer speak (attach sends stdin after) misses none of the answer.
type Tail struct {
	f    *os.File
	path string
	off  int64
}

// OpenTail opens the log at path and marks its current end.
func OpenTail(path string) (*Tail, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("follow log: %w", err)
	}
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("follow log %s: %w", path, err)
	}
	return &Tail{f: f, path: path, off: off}, nil
}

// Follow writes the content of the records appended to the log at path
// from now on to stdout or stderr by stream; see (*Tail).Follow.
func Follow(ctx context.Context, path string, stdout, stderr io.Writer) error {
	t, err := OpenTail(path)
	if err != nil {
		return err
	}
	return t.Follow(ctx, stdout, stderr)
}

// Follow writes the content of the records appended to the log since
// OpenTail to stdout or stderr by stream (a nil writer drops its stream;
// with a terminal everything is stdout), until ctx ends; then it reads on
// until the file stops growing, so output written just before a container
// ended is not lost. Lines that are not CRI records are written to stdout
// as they are. It closes the tail.
func (tl *Tail) Follow(ctx context.Context, stdout, stderr io.Writer) error {
	f, path, off := tl.f, tl.path, tl.off
	defer f.Close()
	var pending []byte
	buf := make([]byte, 32<<10)
	read := func() (bool, error) {
		grew := false
		if fi, err := f.Stat(); err == nil && fi.Size() < off {
			// Rotated (copy-truncate): the file starts over.
			off, pending = 0, pending[:0]
		}
		for {
			n, err := f.ReadAt(buf, off)
			if n > 0 {
				grew = true
				off += int64(n)
				pending = append(pending, buf[:n]...)
				for {
					i := bytes.IndexByte(pending, '\n')
					if i < 0 {
						break
					}
					if werr := writeRecord(pending[:i+1], stdout, stderr); werr != nil {
						return grew, werr
					}
					pending = pending[i+1:]
				}
			}
			if errors.Is(err, io.EOF) || (err == nil && n == 0) {
				return grew, nil
			}
			if err != nil {
				return grew, fmt.Errorf("follow log %s: %w", path, err)
			}
		}
	}
	tick := time.NewTicker(followPoll)
	defer tick.Stop()
	for {
		if _, err := read(); err != nil {
			return err
		}
		select {
		case <-tick.C:
			continue
		case <-ctx.Done():
		}
		break
	}
	deadline := time.Now().Add(drainMax)
	quietSince := time.Now()
	for time.Now().Before(deadline) && time.Since(quietSince) < drainQuiet {
		grew, err := read()
		if err != nil {
			return err
		}
		if grew {
			quietSince = time.Now()
		}
		time.Sleep(followPoll / 2)
	}
	return nil
}

// writeRecord writes one record's content (a line with its newline).
func writeRecord(line []byte, stdout, stderr io.Writer) error {
	rec, ok := Parse(line)
	w, content := stdout, line
	if ok {
		if rec.Stream == Stderr {
			w = stderr
		}
		content = rec.Content
		if !rec.Partial {
			content = append(content[:len(content):len(content)], '\n')
		}
	}
	if w == nil {
		return nil
	}
	_, err := w.Write(content)
	return err
}
