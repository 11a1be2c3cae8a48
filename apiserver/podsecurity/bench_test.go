package podsecurity

import (
	"context"
	"testing"
)

// BenchmarkAdmitPod is the cost Pod Security adds to a pod create at the
// default policy (baseline for every mode) for a pod like the ones created
// before: one namespace read, the spec's JSON and the remembered decision.
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
