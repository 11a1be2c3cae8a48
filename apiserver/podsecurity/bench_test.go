package podsecurity

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time the process has used (user and system, every
// thread: the garbage collector's work counts).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAdmitPod is the cost Pod Security adds to a pod create at the
// default policy (baseline for every mode) for a pod like the ones created
// before: one namespace read, the spec's JSON and the remembered decision.
// It reports the process's CPU per admission as cpu-ns/op.
func BenchmarkAdmitPod(b *testing.B) {
	a, err := New(Config{}, newFakeStore(namespace("ns")), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	p := plainPod("p")
	req := Request{Operation: Create, Resource: "pods", Namespace: "ns", Name: "p", Object: p}
	ctx := context.Background()
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		if _, err := a.Admit(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}
