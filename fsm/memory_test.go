package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// A record keeps its decoded object while a reader holds it and lets it go
// at the first garbage collection after that; a later read decodes an
// equal object from the bytes. A record made from an object keeps it
// until it has its encoding.
func TestRecordHoldsDecodedObjectWeakly(t *testing.T) {
	pods, _ := v1.ResourceByName("pods")
	raw, err := json.Marshal(benchPod("weak"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// make returns the record and whether it must hold its object
		// strongly until JSON is called.
		make       func() *Record
		strongTill bool
	}{
		{"lazy record", func() *Record { return NewLazyRecord(pods, raw) }, false},
		{"record of an object with its bytes", func() *Record { return NewRecord(benchPod("weak"), raw) }, false},
		{"record of an object", func() *Record { return NewRecord(benchPod("weak"), nil) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.make()
			first := r.Object()
			if r.Object() != first {
				t.Fatal("a second read while the first is held decoded again")
			}
			first = nil
			runtime.GC()
			if got := r.decoded(); got != tt.strongTill {
				t.Fatalf("after a GC with no reader: decoded %v, want %v", got, tt.strongTill)
			}
			enc, err := r.JSON()
			if err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			if r.decoded() {
				t.Fatal("after JSON and a GC with no reader the record still holds its object")
			}
			again, err := json.Marshal(r.Object())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, enc) {
				t.Fatalf("decoded again %s\nstored %s", again, enc)
			}
			if r.DecodeError() != nil {
				t.Fatal(r.DecodeError())
			}
		})
	}
}

// A store of pods holds about the pods' encoding and its indexes, not their
// decoded objects, once the readers that decoded every pod (the leader's
// controllers) have let go: a master at 10,000 pods holds its pods in a
// fraction of its memory bound (issue 17: 150 MB at 10,000 pods).
func TestStoreMemoryPerPodAfterDecode(t *testing.T) {
	const n = 2000
	f, err := New(100) // a small feed: the store is measured, not the window
	if err != nil {
		t.Fatal(err)
	}
	MustCreate(t, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}})
	before := heapAfterGC()
	index := uint64(1)
	for i := range n {
		p := benchPod(fmt.Sprintf("p%06d", i))
		index++
		MustCreate(t, f, index, p)
		if i%2 == 0 { // half the pods are stored from an update (a decoded object)
			p.ResourceVersion = fmt.Sprint(index)
			p.Status.Phase = v1.PodRunning
			cmd, err := NewUpdate(p, true)
			if err != nil {
				t.Fatal(err)
			}
			index++
			if res := ApplyCommand(t, f, index, cmd).(Result); res.Err != nil {
				t.Fatal(res.Err)
			}
		}
	}
	// Every pod read as a summary and as an object, as the leader's
	// controllers do.
	recs, _, err := f.Store().ListWatch("pods")
	if err != nil {
		t.Fatal(err)
	}
	var encoded int64
	for _, r := range recs {
		_ = r.Summary().Meta.Name
		_ = r.Object().GetObjectMeta().Name
		raw, _ := r.JSON()
		encoded += int64(len(raw))
	}
	if len(recs) != n {
		t.Fatalf("listed %d pods, want %d", len(recs), n)
	}
	recs = nil
	perPod := (heapAfterGC() - before) / n
	runtime.KeepAlive(f)
	// The encoding of each pod (rounded up to its allocation's size class)
	// plus its record and index nodes come to about twice the encoding
	// (3.6 KB of a 1.8 KB pod here); the decoded objects would add twice the
	// encoding again (7.2 KB when records kept them).
	bound := 2*encoded/n + 512
	t.Logf("%d B per pod held (encoding %d B, bound %d B)", perPod, encoded/n, bound)
	if perPod > bound {
		t.Fatalf("the store holds %d B per pod, more than %d B (encoding %d B per pod)", perPod, bound, encoded/n)
	}
}

// heapAfterGC returns the bytes of live heap objects after a full GC.
func heapAfterGC() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
