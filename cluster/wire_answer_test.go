package cluster

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// The decoding of a forwarded batch's answers before readBytes returned
// slices of the body: the reference the current one is checked against.

func oldReadAnswer(rd *bytes.Reader) (any, error) {
	tag, err := rd.ReadByte()
	if err != nil {
		return nil, err
	}
	switch tag {
	case tagSingle:
		r, err := oldReadResult(rd)
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
			r, err := oldReadResult(rd)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}
	return nil, fmt.Errorf("bad answer tag %q", tag)
}

func oldReadResult(rd *bytes.Reader) (fsm.Result, error) {
	tag, err := rd.ReadByte()
	if err != nil {
		return fsm.Result{}, err
	}
	switch tag {
	case tagNone:
		return fsm.Result{}, nil
	case tagError:
		b, err := oldReadBytes(rd)
		if err != nil {
			return fsm.Result{}, err
		}
		var st v1.Status
		if err := json.Unmarshal(b, &st); err != nil {
			return fsm.Result{}, fmt.Errorf("decode status: %w", err)
		}
		return fsm.Result{Err: statusToError(&st)}, nil
	case tagRecord:
		name, err := oldReadBytes(rd)
		if err != nil {
			return fsm.Result{}, err
		}
		raw, err := oldReadBytes(rd)
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

func oldReadBytes(rd *bytes.Reader) ([]byte, error) {
	n, err := binary.ReadUvarint(rd)
	if err != nil {
		return nil, err
	}
	if n > uint64(rd.Len()) {
		return nil, errors.New("length past the end")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(rd, b); err != nil {
		return nil, err
	}
	return b, nil
}

// describeAnswer is everything a follower can see of a decoded answer.
func describeAnswer(res any, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	result := func(r fsm.Result) string {
		if r.Err != nil {
			return fmt.Sprintf("err %q retry=%v unknown=%v", r.Err, errors.Is(r.Err, errRetry), errors.Is(r.Err, ErrUnknownOutcome))
		}
		if r.Record == nil {
			return "none"
		}
		res, rerr := r.Record.Resource()
		raw, jerr := r.Record.JSON()
		return fmt.Sprintf("record %s %q %v %v", res.Name, raw, rerr, jerr)
	}
	switch r := res.(type) {
	case fsm.Result:
		return "single " + result(r)
	case fsm.BatchResult:
		s := fmt.Sprintf("batch of %d:", len(r))
		for _, x := range r {
			s += " " + result(x)
		}
		return s
	}
	return fmt.Sprintf("%T", res)
}

// checkSameAnswers decodes body answer by answer with readAnswer and with
// the old decoding, and fails on the first difference.
func checkSameAnswers(t *testing.T, body []byte) {
	t.Helper()
	orig := bytes.Clone(body)
	rd, old := newAnswerReader(body), bytes.NewReader(orig)
	for {
		got, err := readAnswer(rd)
		want, werr := oldReadAnswer(old)
		if g, w := describeAnswer(got, err), describeAnswer(want, werr); g != w {
			t.Fatalf("body %q:\n got %s\nwant %s", orig, g, w)
		}
		if rd.Len() != old.Len() {
			t.Fatalf("body %q: %d bytes left, want %d", orig, rd.Len(), old.Len())
		}
		if err != nil {
			break
		}
	}
	if !bytes.Equal(body, orig) {
		t.Fatalf("readAnswer changed the body")
	}
}

// randomAnswers is a forwarded batch's answers as a leader encodes them,
// some then damaged.
func randomAnswers(tb testing.TB, rng *rand.Rand) []byte {
	recs := []fsm.Result{{}}
	for _, name := range []string{"a", "bb", "ccc"} {
		ns := newNamespace(name)
		ns.ResourceVersion = "42"
		recs = append(recs, fsm.Result{Record: fsm.NewRecord(ns, nil)})
	}
	errs := []error{v1.NewNotFound("pods", "p"), v1.NewAlreadyExists("namespaces", "x"), fmt.Errorf("%w: gone", errRetry),
		v1.NewTimeout("slow"), errors.New("anything else"), fmt.Errorf("%w: %w", errRetry, &DiskFullError{msg: "full"})}
	var body []byte
	for range rng.IntN(6) {
		var err error
		switch rng.IntN(4) {
		case 0:
			body, err = appendAnswer(body, nil, errs[rng.IntN(len(errs))])
		case 1:
			var b fsm.BatchResult
			for range rng.IntN(4) {
				if rng.IntN(3) == 0 {
					b = append(b, fsm.Result{Err: errs[rng.IntN(len(errs))]})
				} else {
					b = append(b, recs[rng.IntN(len(recs))])
				}
			}
			body, err = appendAnswer(body, b, nil)
		default:
			body, err = appendAnswer(body, recs[rng.IntN(len(recs))], nil)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	switch rng.IntN(4) {
	case 0:
		if len(body) > 0 {
			body = body[:rng.IntN(len(body))]
		}
	case 1:
		if len(body) > 0 {
			body[rng.IntN(len(body))] = byte(rng.Uint32())
		}
	case 2:
		body = append(body, byte(rng.Uint32()))
	}
	return body
}

// TestReadAnswerMatchesCopying checks the decoding of answers into
// slices of the body against the old one, which copied them, on
// encoded batches, damaged ones and garbage.
func TestReadAnswerMatchesCopying(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		checkSameAnswers(t, randomAnswers(t, rng))
	}
	for range 5000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = []byte{tagSingle, tagBatch, tagNone, tagRecord, tagError, 0, 1, 2, 5, 0x80, 0xff, 'n', 'a', 'm', 'e', 's', 'p', 'c', '{', '}'}[rng.IntN(20)]
		}
		checkSameAnswers(t, b)
	}
}

// FuzzReadAnswer checks readAnswer against the old decoding on any body.
func FuzzReadAnswer(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		f.Add(randomAnswers(f, rng))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkSameAnswers(t, body) })
}

// TestReadBytesIsASliceOfTheBody checks that a decoded record's JSON is
// the body's bytes, which an append cannot run past.
func TestReadBytesIsASliceOfTheBody(t *testing.T) {
	_, rec, raw := wireRecord(t, "a")
	body, err := appendAnswer(nil, fsm.Result{Record: rec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err = appendAnswer(body, fsm.Result{Record: rec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rd := newAnswerReader(body)
	first, err := readAnswer(rd)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := first.(fsm.Result).Record.JSON()
	if !bytes.Equal(got, raw) || cap(got) != len(got) {
		t.Fatalf("JSON %q of cap %d, want %q of its length", got, cap(got), raw)
	}
	_ = append(got, 'X')
	second, err := readAnswer(rd)
	if err != nil {
		t.Fatalf("second answer after an append to the first's JSON: %v", err)
	}
	if got, _ := second.(fsm.Result).Record.JSON(); !bytes.Equal(got, raw) {
		t.Fatalf("second JSON %q, want %q", got, raw)
	}
}

// BenchmarkReadAnswers decodes a forwarded batch's answers, 64 pod
// creates' each carrying its pod, as a follower does: copying each
// record's JSON out of the body (before) or slicing it (readBytes).
func BenchmarkReadAnswers(b *testing.B) {
	pods, _ := v1.ResourceByName("pods")
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "bench-0001", Namespace: "default", UID: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
		ResourceVersion: "12345", Labels: map[string]string{"app": "bench", "tier": "load"}},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "main", Image: "registry.example/bench:1.0",
			Command: []string{"/bin/sh", "-c", "sleep 3600"}, Env: []v1.EnvVar{{Name: "MODE", Value: "bench"}}}}}}
	v1.SetTypeMeta(pod)
	raw, err := json.Marshal(pod)
	if err != nil {
		b.Fatal(err)
	}
	var body []byte
	for range 64 {
		if body, err = appendAnswer(body, fsm.Result{Record: fsm.NewLazyRecord(pods, raw)}, nil); err != nil {
			b.Fatal(err)
		}
	}
	for _, dec := range []struct {
		name string
		read func(body []byte) error
	}{
		{"copy", func(body []byte) error {
			rd := bytes.NewReader(body)
			for range 64 {
				if _, err := oldReadAnswer(rd); err != nil {
					return err
				}
			}
			return nil
		}},
		{"slice", func(body []byte) error {
			rd := newAnswerReader(body)
			for range 64 {
				if _, err := readAnswer(rd); err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		b.Run("read="+dec.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			before := processCPU(b)
			for b.Loop() {
				if err := dec.read(body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

// randomOutcome is one command's outcome as a leader's apply has it.
func randomOutcome(rng *rand.Rand, recs []fsm.Result, errs []error) (any, error) {
	switch rng.IntN(5) {
	case 0:
		return nil, errs[rng.IntN(len(errs))]
	case 1:
		var b fsm.BatchResult
		for range rng.IntN(4) {
			if rng.IntN(3) == 0 {
				b = append(b, fsm.Result{Err: errs[rng.IntN(len(errs))]})
			} else {
				b = append(b, recs[rng.IntN(len(recs))])
			}
		}
		return b, nil
	case 2:
		return nil, nil
	}
	return recs[rng.IntN(len(recs))], nil
}

// TestAnswerBufMatchesAppendAnswer checks the answers a leader writes
// from an answerBuf, and their length, against appendAnswer's bytes on
// random batches of outcomes, records of any size among them.
func TestAnswerBufMatchesAppendAnswer(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	recs := []fsm.Result{{}}
	for _, n := range []int{0, 1, 100, 2000, 20000} {
		ns := newNamespace(fmt.Sprintf("n%d", n))
		ns.Labels = map[string]string{"pad": string(bytes.Repeat([]byte("p"), n))}
		recs = append(recs, fsm.Result{Record: fsm.NewRecord(ns, nil)})
	}
	pods, _ := v1.ResourceByName("pods")
	recs = append(recs, fsm.Result{Record: fsm.NewLazyRecord(pods, []byte{})}, fsm.Result{Record: fsm.NewLazyRecord(pods, []byte(`{}`))})
	errs := []error{v1.NewNotFound("pods", "p"), fmt.Errorf("%w: gone", errRetry), errors.New("anything else")}
	for range 2000 {
		var want []byte
		var a answerBuf
		for range rng.IntN(10) {
			res, err := randomOutcome(rng, recs, errs)
			var aerr error
			if want, aerr = appendAnswer(want, res, err); aerr != nil {
				t.Fatal(aerr)
			}
			if err := a.add(res, err); err != nil {
				t.Fatal(err)
			}
		}
		bufs := a.buffers()
		var got bytes.Buffer
		if _, err := bufs.WriteTo(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) || a.Len() != len(want) {
			t.Fatalf("answerBuf wrote %d bytes (Len %d), appendAnswer %d:\n%q\n%q", got.Len(), a.Len(), len(want), got.Bytes(), want)
		}
	}
	var a answerBuf
	if err := a.add("a string", nil); err == nil || a.Len() != 0 || len(a.cuts) != 0 {
		t.Fatalf("add(string) = %v, Len %d", err, a.Len())
	}
}

// BenchmarkAnswerBatch encodes a forwarded batch's answers, 64 created
// pods', and writes them into a response's 2 KiB buffer as serveApply
// does: into one buffer (before) or as an answerBuf.
func BenchmarkAnswerBatch(b *testing.B) {
	pods, _ := v1.ResourceByName("pods")
	raw := bytes.Repeat([]byte("x"), 1200) // as long as its command: the old buffer does not grow
	recs := make([]fsm.Result, 64)
	for i := range recs {
		recs[i] = fsm.Result{Record: fsm.NewLazyRecord(pods, raw)}
	}
	for _, v := range []struct {
		name  string
		write func(w io.Writer) error
	}{
		{"copy", func(w io.Writer) error {
			out := make([]byte, 0, 64*(1200+64))
			for _, r := range recs {
				var err error
				if out, err = appendAnswer(out, r, nil); err != nil {
					return err
				}
			}
			_, err := w.Write(out)
			return err
		}},
		{"buffers", func(w io.Writer) error {
			out := &answerBuf{head: make([]byte, 0, 32*64), cuts: make([]answerCut, 0, 64)}
			for _, r := range recs {
				if err := out.add(r, nil); err != nil {
					return err
				}
			}
			bufs := out.buffers()
			_, err := bufs.WriteTo(w)
			return err
		}},
	} {
		b.Run("answers="+v.name, func(b *testing.B) {
			bw := bufio.NewWriterSize(io.Discard, 2048)
			b.ReportAllocs()
			before := processCPU(b)
			for b.Loop() {
				if err := v.write(bw); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}
