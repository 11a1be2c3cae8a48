package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// wireRecord returns a stored-looking namespace record and its JSON.
func wireRecord(t *testing.T, name string) (*v1.Namespace, *fsm.Record, []byte) {
	t.Helper()
	ns := newNamespace(name)
	ns.ResourceVersion = "42"
	rec := fsm.NewRecord(ns, nil)
	raw, err := rec.JSON()
	if err != nil {
		t.Fatalf("encode record: %v", err)
	}
	return ns, rec, raw
}

// checkRecordResult fails unless r carries exactly the record with want's JSON.
func checkRecordResult(t *testing.T, r fsm.Result, want *v1.Namespace, raw []byte) {
	t.Helper()
	if r.Err != nil || r.Record == nil {
		t.Fatalf("got result %+v, want the record of %s", r, want.Name)
	}
	got, err := r.Record.JSON()
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("record JSON %s (err %v), want %s", got, err, raw)
	}
	ns, ok := r.Record.Object().(*v1.Namespace)
	if !ok || ns.Name != want.Name || ns.UID != want.UID || ns.ResourceVersion != want.ResourceVersion {
		t.Fatalf("record object %#v, want namespace %s uid %s rv %s", r.Record.Object(), want.Name, want.UID, want.ResourceVersion)
	}
}

// errorCheck describes the error a result must carry after the round trip.
type errorCheck struct {
	code    int
	reason  string
	retry   bool // the follower retries it (errRetry), it is no StatusError
	unknown bool // it wraps ErrUnknownOutcome
}

func (c errorCheck) check(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %+v", c)
	}
	if got := errors.Is(err, errRetry); got != c.retry {
		t.Fatalf("%v: retry %v, want %v", err, got, c.retry)
	}
	if got := errors.Is(err, ErrUnknownOutcome); got != c.unknown {
		t.Fatalf("%v: unknown outcome %v, want %v", err, got, c.unknown)
	}
	if c.retry {
		return
	}
	var se *v1.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("%v (%T) is not a *v1.StatusError", err, err)
	}
	if v1.CodeOf(err) != c.code || v1.ReasonOf(err) != c.reason {
		t.Fatalf("%v: code %d reason %q, want %d %q", err, v1.CodeOf(err), v1.ReasonOf(err), c.code, c.reason)
	}
}

func TestAnswerRoundTrip(t *testing.T) {
	ns, rec, raw := wireRecord(t, "wire")
	single := func(t *testing.T, got any) fsm.Result {
		t.Helper()
		r, ok := got.(fsm.Result)
		if !ok {
			t.Fatalf("got %T, want fsm.Result", got)
		}
		return r
	}
	wantRecord := func(t *testing.T, got any) { checkRecordResult(t, single(t, got), ns, raw) }
	wantEmpty := func(t *testing.T, got any) {
		if r := single(t, got); r.Record != nil || r.Err != nil {
			t.Fatalf("got %+v, want an empty result", r)
		}
	}
	wantErr := func(c errorCheck) func(*testing.T, any) {
		return func(t *testing.T, got any) {
			r := single(t, got)
			if r.Record != nil {
				t.Fatalf("error result carries a record")
			}
			c.check(t, r.Err)
		}
	}
	alreadyExists := errorCheck{code: http.StatusConflict, reason: v1.ReasonAlreadyExists}
	timeout := errorCheck{code: http.StatusGatewayTimeout, reason: v1.ReasonTimeout, unknown: true}
	for _, tc := range []struct {
		name  string
		res   any
		err   error
		check func(*testing.T, any)
	}{
		{"record", fsm.Result{Record: rec}, nil, wantRecord},
		{"nil result", nil, nil, wantEmpty},
		{"empty result", fsm.Result{}, nil, wantEmpty},
		{"error inside the result", fsm.Result{Err: v1.NewAlreadyExists("namespaces", "wire")}, nil, wantErr(alreadyExists)},
		{"status error", nil, v1.NewConflict("namespaces", "wire", "stale"),
			wantErr(errorCheck{code: http.StatusConflict, reason: v1.ReasonConflict})},
		{"503 stays 503", nil, v1.NewServiceUnavailable("this master is shutting down"),
			wantErr(errorCheck{code: http.StatusServiceUnavailable, reason: v1.ReasonServiceUnavailable})},
		{"not leader retries", nil, fmt.Errorf("%w: node is not the leader", errRetry), wantErr(errorCheck{retry: true})},
		{"504 keeps its unknown outcome", nil, errors.Join(v1.NewTimeout("leadership lost"), ErrUnknownOutcome), wantErr(timeout)},
		{"plain error is an unknown outcome", nil, errors.New("raft apply: disk on fire"), wantErr(timeout)},
		{"batch", fsm.BatchResult{{Record: rec}, {Err: v1.NewNotFound("pods", "p")}, {}}, nil, func(t *testing.T, got any) {
			b, ok := got.(fsm.BatchResult)
			if !ok || len(b) != 3 {
				t.Fatalf("got %#v, want a BatchResult of 3", got)
			}
			checkRecordResult(t, b[0], ns, raw)
			errorCheck{code: http.StatusNotFound, reason: v1.ReasonNotFound}.check(t, b[1].Err)
			if b[2].Record != nil || b[2].Err != nil {
				t.Fatalf("third batch item %+v, want empty", b[2])
			}
		}},
		{"empty batch", fsm.BatchResult{}, nil, func(t *testing.T, got any) {
			if b, ok := got.(fsm.BatchResult); !ok || len(b) != 0 {
				t.Fatalf("got %#v, want an empty BatchResult", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := appendAnswer(nil, tc.res, tc.err)
			if err != nil {
				t.Fatalf("appendAnswer: %v", err)
			}
			rd := newAnswerReader(enc)
			got, err := readAnswer(rd)
			if err != nil {
				t.Fatalf("readAnswer: %v", err)
			}
			if rd.Len() != 0 {
				t.Fatalf("%d bytes left after the answer", rd.Len())
			}
			tc.check(t, got)
			for k := range len(enc) {
				if got, err := readAnswer(newAnswerReader(enc[:k])); err == nil {
					t.Fatalf("the first %d of %d bytes decoded as %#v", k, len(enc), got)
				}
			}
		})
	}
}

// TestAnswersInOrder encodes a forwarded batch's answers back to back, as
// applyForwarded does, and reads them as sendForwardBatch does.
func TestAnswersInOrder(t *testing.T) {
	a, recA, rawA := wireRecord(t, "a")
	b, recB, rawB := wireRecord(t, "b")
	var enc []byte
	var err error
	for _, x := range []struct {
		res any
		err error
	}{{fsm.Result{Record: recA}, nil}, {nil, v1.NewAlreadyExists("namespaces", "x")}, {fsm.Result{Record: recB}, nil}} {
		if enc, err = appendAnswer(enc, x.res, x.err); err != nil {
			t.Fatalf("appendAnswer: %v", err)
		}
	}
	rd := newAnswerReader(enc)
	var got []fsm.Result
	for range 3 {
		res, err := readAnswer(rd)
		if err != nil {
			t.Fatalf("answer %d: %v", len(got), err)
		}
		got = append(got, res.(fsm.Result))
	}
	if _, err := readAnswer(rd); err == nil {
		t.Fatalf("a fourth answer decoded from three")
	}
	checkRecordResult(t, got[0], a, rawA)
	errorCheck{code: http.StatusConflict, reason: v1.ReasonAlreadyExists}.check(t, got[1].Err)
	checkRecordResult(t, got[2], b, rawB)
}

func TestAppendAnswerRejectsUnknownResult(t *testing.T) {
	if enc, err := appendAnswer(nil, "a string", nil); err == nil {
		t.Fatalf("appendAnswer(string) = %q, want an error", enc)
	}
}

func TestReadAnswerRejectsGarbage(t *testing.T) {
	withBytes := func(prefix []byte, b []byte) []byte {
		return append(binary.AppendUvarint(prefix, uint64(len(b))), b...)
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"unknown answer tag", []byte{'X'}},
		{"unknown result tag", []byte{tagSingle, 'X'}},
		{"batch longer than its bytes", binary.AppendUvarint([]byte{tagBatch}, 1<<40)},
		{"batch with a bad item", append(binary.AppendUvarint([]byte{tagBatch}, 2), tagNone, 'X')},
		{"status that is not JSON", withBytes([]byte{tagSingle, tagError}, []byte("{not json"))},
		{"record of an unknown resource", withBytes(withBytes([]byte{tagSingle, tagRecord}, []byte("gizmos")), []byte("{}"))},
		{"length past the end", append(binary.AppendUvarint([]byte{tagSingle, tagError}, 100), '{', '}')},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := readAnswer(newAnswerReader(tc.in)); err == nil {
				t.Fatalf("readAnswer(%q) = %#v, want an error", tc.in, got)
			}
		})
	}
}

func TestReadFrames(t *testing.T) {
	frame := func(dst []byte, cmd string) []byte {
		return append(binary.AppendUvarint(dst, uint64(len(cmd))), cmd...)
	}
	three := frame(frame(frame(nil, "first"), ""), "third command")
	for _, tc := range []struct {
		name    string
		body    []byte
		want    []string
		wantErr bool
	}{
		{"empty body", nil, nil, false},
		{"three frames, one empty", three, []string{"first", "", "third command"}, false},
		{"long frame", frame(nil, string(bytes.Repeat([]byte("x"), 300))), []string{string(bytes.Repeat([]byte("x"), 300))}, false},
		{"truncated frame", three[:len(three)-1], nil, true},
		{"truncated length", append(frame(nil, "ok"), 0x80), nil, true},
		{"length past the body", append(binary.AppendUvarint(nil, 10), "short"...), nil, true},
		{"oversized length", append(binary.AppendUvarint(nil, 1<<40), "tiny"...), nil, true},
		{"varint overflow", bytes.Repeat([]byte{0xff}, 11), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readFrames(tc.body)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("readFrames = %q, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("readFrames: %v", err)
			}
			var strs []string
			for _, g := range got {
				if cap(g) != len(g) {
					t.Fatalf("frame %q has capacity %d: an append to it would overwrite the next", g, cap(g))
				}
				strs = append(strs, string(g))
			}
			if !slices.Equal(strs, tc.want) {
				t.Fatalf("readFrames = %q, want %q", strs, tc.want)
			}
		})
	}
}
