package fsm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	memdb "github.com/hashicorp/go-memdb"

	v1 "orch.io/orch/api/v1"
)

// A snapshot is read line by line. A line in the form WriteSnapshot writes
// it is read in place (readHeaderLine, readObjectLine); the first line in
// any other form, and all after it, go to a json.Decoder, as every line
// did before, so what a snapshot restores, or why it does not, is what
// that decoder makes of it.

// restorer inserts the lines of a snapshot into a store's write transaction.
type restorer struct {
	s   *Store
	txn *memdb.Txn
	// res is the resource of the last object line, named name, so that a
	// run of lines of one resource looks its name up once.
	name string
	res  v1.Resource
	// scratch is where strings joins a line's strings.
	scratch []byte
}

// insert stores the object (or master) of one line.
func (rs *restorer) insert(resource, key, uid, node string, object []byte) error {
	if resource == tableMasters {
		var m MasterInfo
		if err := json.Unmarshal(object, &m); err != nil {
			return fmt.Errorf("decode master: %w", err)
		}
		return rs.txn.Insert(tableMasters, &m)
	}
	if resource != rs.name || rs.name == "" {
		res, ok := v1.ResourceByName(resource)
		if !ok {
			return fmt.Errorf("unknown resource %q in snapshot", resource)
		}
		rs.name, rs.res = resource, res
	}
	res := rs.res
	var rec *Record
	if key != "" {
		rec = newKeyedRecord(res, object, key, uid, node)
	} else {
		obj := res.New()
		if err := json.Unmarshal(object, obj); err != nil {
			return fmt.Errorf("decode %s: %w", res.Kind, err)
		}
		rec = NewRecord(obj, object)
	}
	if err := rs.txn.Insert(res.Name, rec); err != nil {
		return fmt.Errorf("insert %s: %w", res.Kind, err)
	}
	if uid := rec.UID(); uid != "" {
		// The store is not in use yet: no reader waits for the commit.
		rs.s.uids.m[rowKey{res.Name, uid}] = rec
	}
	return nil
}

// decodeRest reads the rest of a snapshot, after its header, with dec.
func (rs *restorer) decodeRest(dec *json.Decoder) error {
	for {
		var line snapshotLine
		err := dec.Decode(&line)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read object: %w", err)
		}
		if err := rs.insert(line.Resource, line.Key, line.UID, line.Node, line.Object); err != nil {
			return err
		}
	}
}

// lineReader reads a snapshot's lines.
type lineReader struct {
	br *bufio.Reader
	// long holds a line longer than br's buffer.
	long []byte
}

// next returns the next line, its newline included, and nil; or what was
// left before the end (perhaps nothing) and io.EOF; or what was read of the
// line and the reader's error. The line is valid until the next call.
func (lr *lineReader) next() ([]byte, error) {
	line, err := lr.br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	lr.long = append(lr.long[:0], line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = lr.br.ReadSlice('\n')
		lr.long = append(lr.long, line...)
	}
	return lr.long, err
}

// rest returns a reader of what is left of the snapshot from line on, as
// next returned it with err.
func (lr *lineReader) rest(line []byte, err error) io.Reader {
	head := bytes.NewReader(bytes.Clone(line))
	switch {
	case err == nil:
		return io.MultiReader(head, lr.br)
	case errors.Is(err, io.EOF):
		return head
	default:
		return io.MultiReader(head, errReader{err})
	}
}

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// snapshotHeaderPrefix starts the header line WriteSnapshot writes.
const snapshotHeaderPrefix = `{"version":1,"index":`

// cutPrefix is bytes.CutPrefix with a string prefix.
func cutPrefix(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return b, false
	}
	return b[len(prefix):], true
}

// cutSuffix is bytes.CutSuffix with a string suffix.
func cutSuffix(b []byte, suffix string) ([]byte, bool) {
	if len(b) < len(suffix) || string(b[len(b)-len(suffix):]) != suffix {
		return b, false
	}
	return b[:len(b)-len(suffix)], true
}

// readHeaderLine returns the index of a header line in the form
// appendSnapshotHeader writes, with this version; ok is false for any
// other line.
func readHeaderLine(line []byte) (index uint64, ok bool) {
	if snapshotVersion != 1 {
		return 0, false // snapshotHeaderPrefix names version 1
	}
	digits, ok := cutPrefix(line, snapshotHeaderPrefix)
	if !ok {
		return 0, false
	}
	digits, ok = cutSuffix(digits, "}\n")
	// A JSON number that is an integer without a sign, exponent or
	// leading zero, in range: what the decoder reads as the same uint64.
	if !ok || len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	for _, c := range digits {
		if !isDigit(c) {
			return 0, false
		}
	}
	index, err := strconv.ParseUint(string(digits), 10, 64)
	return index, err == nil
}

// objectLine is a line read in place: its fields are parts of the line.
type objectLine struct {
	resource, key, uid, node, object []byte
}

// readObjectLine reads a line in the form snapshotWriter.object writes it:
// `{"r":` a string, then `,"k":`, `,"u":` and `,"n":` each with a string
// or left out, then `,"o":` an object, `}` and a newline, where each string
// has no escape, no control character and no invalid UTF-8 (so it decodes
// to its bytes) and the object is valid JSON (so the line is one JSON
// object, which a decoder reads into a snapshotLine with these fields).
// ok is false for a line in any other form.
func readObjectLine(line []byte) (l objectLine, ok bool) {
	rest, ok := cutPrefix(line, `{"r":`)
	if !ok {
		return l, false
	}
	if l.resource, rest, ok = plainString(rest); !ok {
		return l, false
	}
	for _, f := range []struct {
		name string
		to   *[]byte
	}{{`,"k":`, &l.key}, {`,"u":`, &l.uid}, {`,"n":`, &l.node}} {
		if after, found := cutPrefix(rest, f.name); found {
			if *f.to, rest, ok = plainString(after); !ok {
				return l, false
			}
		}
	}
	if rest, ok = cutPrefix(rest, `,"o":`); !ok {
		return l, false
	}
	if l.object, ok = cutSuffix(rest, "}\n"); !ok {
		return l, false
	}
	// An object with no space around it: validJSON then says the line
	// holds exactly this value there.
	if n := len(l.object); n < 2 || l.object[0] != '{' || l.object[n-1] != '}' || !validJSON(l.object) {
		return l, false
	}
	return l, true
}

// plainString reads the JSON string that b starts with, if it holds no
// escape, no control character and no invalid UTF-8, and returns its
// contents and what follows it.
func plainString(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 {
		return nil, nil, false
	}
	s = b[1 : 1+end]
	ascii := true
	for _, c := range s {
		if c < 0x20 || c == '\\' {
			return nil, nil, false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(s) {
		return nil, nil, false
	}
	return s, b[2+end:], true
}

// strings returns key, uid and node as strings, made in one allocation:
// a record keeps all three as long as it lives.
func (rs *restorer) strings(key, uid, node []byte) (string, string, string) {
	rs.scratch = append(append(append(rs.scratch[:0], key...), uid...), node...)
	all := string(rs.scratch)
	k, u := len(key), len(key)+len(uid)
	return all[:k], all[k:u], all[u:]
}

// restoreLines reads the object lines that follow a snapshot's header,
// in place while they are in WriteSnapshot's form and with a json.Decoder
// from the first that is not.
func (rs *restorer) restoreLines(lr *lineReader) error {
	for {
		line, err := lr.next()
		if err == nil {
			if l, ok := readObjectLine(line); ok {
				resource := rs.name // most lines are of the resource before them
				if string(l.resource) != resource {
					resource = string(l.resource)
				}
				key, uid, node := rs.strings(l.key, l.uid, l.node)
				// The record's own bytes, as the decoder's copy was (make
				// and copy: the runtime does not clear what copy fills).
				object := make([]byte, len(l.object))
				copy(object, l.object)
				if err := rs.insert(resource, key, uid, node, object); err != nil {
					return err
				}
				continue
			}
		} else if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil
		}
		return rs.decodeRest(json.NewDecoder(lr.rest(line, err)))
	}
}
