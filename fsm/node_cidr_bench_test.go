package fsm

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// BenchmarkRegisterNodes measures what every master spends applying one
// node registration beside 1,000 and 5,000 registered nodes (restored from
// a snapshot, so stored as bytes): the FSM chooses its pod CIDR from the
// index. The scan sub-benchmarks choose it as before the index (every node
// read, FreePodCIDR over them) for a ratio on the same run.
func BenchmarkRegisterNodes(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		e := &cidrEnv{t: b, f: NewTestFSM(b), cluster: "10.0.0.0/8", mask: 24}
		for i := range n {
			e.register(fmt.Sprintf("old-%05d", i))
		}
		snap := persist(b, e.f).Bytes()
		b.Run(fmt.Sprintf("index/nodes=%d", n), func(b *testing.B) {
			r := &cidrEnv{t: b, f: NewTestFSM(b), cluster: e.cluster, mask: e.mask, index: e.index}
			if err := r.f.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
				b.Fatal(err)
			}
			r.register("first")
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				r.register(fmt.Sprintf("new-%07d", i))
			}
		})
		b.Run(fmt.Sprintf("scan/nodes=%d", n), func(b *testing.B) {
			r := &cidrEnv{t: b, f: NewTestFSM(b), cluster: e.cluster, mask: e.mask, index: e.index}
			if err := r.f.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				txn := r.f.Store().db.Txn(false)
				it, err := txn.Get("nodes", indexID)
				if err != nil {
					b.Fatal(err)
				}
				_, err = FreePodCIDR(r.cluster, r.mask, func(yield func(*v1.Node) bool) {
					for raw := it.Next(); raw != nil; raw = it.Next() {
						if n, ok := raw.(*Record).Object().(*v1.Node); ok && !yield(n) {
							return
						}
					}
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
