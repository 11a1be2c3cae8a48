package podsecurity

import (
	"context"
	"testing"
)

// BenchmarkAdmitPod is the cost Pod Security adds to a pod create at the
// default policy (baseline for every mode): one namespace read, one JSON
// round trip to core/v1 and one evaluation.
func BenchmarkAdmitPod(b *testing.B) {
	a, err := New(Config{}, newFakeStore(namespace("ns")), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	p := plainPod("p")
	req := Request{Operation: Create, Resource: "pods", Namespace: "ns", Name: "p", Object: p}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Admit(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
