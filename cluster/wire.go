package cluster

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// The answer to a forwarded batch is binary-framed, one answer per command:
//
//	answer = 'S' result | 'B' uvarint(n) result*n   (single or batch command)
//	result = 'N'                                    (no record, no error)
//	       | 'R' bytes(resource) bytes(object JSON) (the object as stored)
//	       | 'E' bytes(Status JSON)                 (an error)
//	bytes  = uvarint(len) byte*len
//
// Objects travel as the leader's JSON bytes and are not decoded on the
// follower unless something asks for the typed object (fsm.NewLazyRecord).
const (
	tagSingle = 'S'
	tagBatch  = 'B'
	tagNone   = 'N'
	tagRecord = 'R'
	tagError  = 'E'
)

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// appendAnswer encodes one command's outcome: an fsm result or an error.
func appendAnswer(dst []byte, res any, err error) ([]byte, error) {
	return appendAnswerTo(dst, res, err, appendBytes)
}

// appendAnswerTo is appendAnswer with each record's JSON put after dst
// by putJSON: appendBytes, or answerBuf.putJSON.
func appendAnswerTo(dst []byte, res any, err error, putJSON func(dst, raw []byte) []byte) ([]byte, error) {
	if err != nil {
		return appendResult(append(dst, tagSingle), fsm.Result{Err: err}, putJSON)
	}
	switch r := res.(type) {
	case fsm.BatchResult:
		dst = binary.AppendUvarint(append(dst, tagBatch), uint64(len(r)))
		for _, x := range r {
			if dst, err = appendResult(dst, x, putJSON); err != nil {
				return nil, err
			}
		}
		return dst, nil
	case fsm.Result:
		return appendResult(append(dst, tagSingle), r, putJSON)
	case nil:
		return appendResult(append(dst, tagSingle), fsm.Result{}, putJSON)
	}
	return nil, fmt.Errorf("unexpected apply result %T", res)
}

func appendResult(dst []byte, r fsm.Result, putJSON func(dst, raw []byte) []byte) ([]byte, error) {
	switch {
	case r.Err != nil:
		st, err := json.Marshal(forwardStatus(r.Err))
		if err != nil {
			return nil, err
		}
		return appendBytes(append(dst, tagError), st), nil
	case r.Record != nil:
		res, err := r.Record.Resource()
		if err != nil {
			return nil, err
		}
		raw, err := r.Record.JSON()
		if err != nil {
			return nil, err
		}
		return putJSON(appendBytes(append(dst, tagRecord), []byte(res.Name)), raw), nil
	}
	return append(dst, tagNone), nil
}

// answerBuf is a batch's answers as appendAnswer encodes them one after
// the other, with each record's JSON (the object as stored, which no one
// changes) referred to rather than copied: the leader writes them into
// the response, which copies them anyway.
type answerBuf struct {
	// head is the answers but for the records' JSON.
	head []byte
	// cuts are the records' JSON, each to go at head[at].
	cuts []answerCut
	size int
}

type answerCut struct {
	at   int
	json []byte
}

// add appends one command's outcome, as appendAnswer does.
func (a *answerBuf) add(res any, err error) error {
	cuts, size := len(a.cuts), a.size
	head, err := appendAnswerTo(a.head, res, err, a.putJSON)
	if err != nil {
		a.cuts, a.size = a.cuts[:cuts], size
		return err
	}
	a.size += len(head) - len(a.head)
	a.head = head
	return nil
}

func (a *answerBuf) putJSON(dst, raw []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(raw)))
	a.cuts = append(a.cuts, answerCut{at: len(dst), json: raw})
	a.size += len(raw)
	return dst
}

// Len is the answers' length in bytes.
func (a *answerBuf) Len() int { return a.size }

// buffers is the answers' bytes, in order.
func (a *answerBuf) buffers() net.Buffers {
	out := make(net.Buffers, 0, 2*len(a.cuts)+1)
	from := 0
	for _, c := range a.cuts {
		if c.at > from {
			out = append(out, a.head[from:c.at])
		}
		if len(c.json) > 0 {
			out = append(out, c.json)
		}
		from = c.at
	}
	if from < len(a.head) {
		out = append(out, a.head[from:])
	}
	return out
}

// answerReader reads a forwarded batch's answers out of the leader's
// response body.
type answerReader struct {
	bytes.Reader
	body []byte
}

func newAnswerReader(body []byte) *answerReader {
	rd := &answerReader{body: body}
	rd.Reset(body)
	return rd
}

// readAnswer decodes one command's outcome as Apply returns it.
func readAnswer(rd *answerReader) (any, error) {
	tag, err := rd.ReadByte()
	if err != nil {
		return nil, err
	}
	switch tag {
	case tagSingle:
		r, err := readResult(rd)
		if err != nil {
			return nil, err
		}
		return r, nil
	case tagBatch:
		n, err := binary.ReadUvarint(rd)
		if err != nil || n > uint64(rd.Len()) {
			return nil, fmt.Errorf("bad batch length: %v", err)
		}
		out := make(fsm.BatchResult, 0, n)
		for i := uint64(0); i < n; i++ {
			r, err := readResult(rd)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}
	return nil, fmt.Errorf("bad answer tag %q", tag)
}

func readResult(rd *answerReader) (fsm.Result, error) {
	tag, err := rd.ReadByte()
	if err != nil {
		return fsm.Result{}, err
	}
	switch tag {
	case tagNone:
		return fsm.Result{}, nil
	case tagError:
		b, err := readBytes(rd)
		if err != nil {
			return fsm.Result{}, err
		}
		var st v1.Status
		if err := json.Unmarshal(b, &st); err != nil {
			return fsm.Result{}, fmt.Errorf("decode status: %w", err)
		}
		return fsm.Result{Err: statusToError(&st)}, nil
	case tagRecord:
		name, err := readBytes(rd)
		if err != nil {
			return fsm.Result{}, err
		}
		raw, err := readBytes(rd)
		if err != nil {
			return fsm.Result{}, err
		}
		res, ok := v1.ResourceByName(string(name))
		if !ok {
			return fsm.Result{}, fmt.Errorf("result of unknown resource %q", name)
		}
		return fsm.Result{Record: fsm.NewLazyRecord(res, raw)}, nil
	}
	return fsm.Result{}, fmt.Errorf("bad result tag %q", tag)
}

// readBytes reads a length and that many bytes, a slice of the body
// (three-index: an append cannot run into the next) rather than a copy:
// the body is the caller's alone and nothing changes it, and a record's
// JSON was copied out of it for each forwarded write (1.5% of a
// follower's CPU in a profile of the write benchmark, with the
// allocation).
func readBytes(rd *answerReader) ([]byte, error) {
	n, err := binary.ReadUvarint(rd)
	if err != nil {
		return nil, err
	}
	if n > uint64(rd.Len()) {
		return nil, errors.New("length past the end")
	}
	off := len(rd.body) - rd.Len()
	end := off + int(n)
	if _, err := rd.Seek(int64(n), io.SeekCurrent); err != nil {
		return nil, err
	}
	return rd.body[off:end:end], nil
}
