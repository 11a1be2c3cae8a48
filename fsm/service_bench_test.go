package fsm

import (
	"fmt"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// BenchmarkApplyCreateService measures a service create (ClusterIP and a
// NodePort picked by the FSM) beside 1,000 and 10,000 existing services:
// with indexed lookups its cost does not grow with their number.
func BenchmarkApplyCreateService(b *testing.B) {
	for _, existing := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("existing=%d", existing), func(b *testing.B) {
			f := NewTestFSM(b)
			MustCreate(b, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default", UID: "ns"}})
			index := uint64(2)
			apply := func(s *v1.Service) {
				cmd, err := NewCreateService(s, "10.96.0.0/16")
				if err != nil {
					b.Fatal(err)
				}
				if res := ApplyCommand(b, f, index, cmd).(Result); res.Err != nil {
					b.Fatalf("create %s: %v", s.Name, res.Err)
				}
				index++
			}
			for i := range existing {
				typ := v1.ServiceTypeClusterIP
				if i < 1000 {
					typ = v1.ServiceTypeNodePort
				}
				apply(svcOf(fmt.Sprintf("old-%05d", i), typ, ""))
			}
			svcs := make([]*v1.Service, b.N)
			for i := range svcs {
				svcs[i] = svcOf(fmt.Sprintf("new-%07d", i), v1.ServiceTypeNodePort, "")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for _, s := range svcs {
				apply(s)
			}
		})
	}
}
