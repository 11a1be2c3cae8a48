package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The real syncs, into a throwaway namespace, in both modes: the first
// sync of 10,000 services × 3 endpoints (the node's start), and one
// endpoint change among them (a steady cluster). make bench reports them;
// timings from a shared machine are not claims.

// cpuTime is the CPU time this process and its waited-for children (nft,
// iptables-restore) have used, user and system (the kernel's work on our
// netlink messages included): on a shared machine it says more than the
// wall clock.
func cpuTime(b *testing.B) time.Duration {
	var self, children unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &self); err != nil {
		b.Fatal(err)
	}
	if err := unix.Getrusage(unix.RUSAGE_CHILDREN, &children); err != nil {
		b.Fatal(err)
	}
	var d time.Duration
	for _, r := range []unix.Rusage{self, children} {
		d += time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return d
}

// benchProxier sets up a proxier of the mode in a new namespace.
func benchProxier(b *testing.B, mode string) (*Proxier, string) {
	ns := newNetNS(b)
	p, err := New(Config{Mode: mode, ClusterCIDR: clusterCIDR, NetNS: ns, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Setup(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := p.Cleanup(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return p, ns
}

func BenchmarkFirstSync10000(b *testing.B) {
	services, endpoints := manyServices(10000)
	for _, mode := range modes {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			p, _ := benchProxier(b, mode)
			b.ReportAllocs()
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				// From nothing each time: no table or chains of ours, and a
				// proxier that has not synced yet.
				if err := p.Cleanup(ctx); err != nil {
					b.Fatal(err)
				}
				if err := p.Setup(ctx); err != nil {
					b.Fatal(err)
				}
				p.cache, p.nftCache = buildCache{}, nftCache{}
				p.Update(services, endpoints)
				b.StartTimer()
				c := cpuTime(b)
				if err := p.SyncNow(ctx); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime(b) - c
			}
			// All of the process's CPU, its other goroutines' too.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			st := p.Stats()
			b.ReportMetric(float64(st.RestoreBytes), "input-bytes")
			b.ReportMetric(float64(len(st.Changes.Written)), "chains")
		})
	}
}

func BenchmarkEndpointChange10000(b *testing.B) {
	services, endpoints := manyServices(10000)
	for _, mode := range modes {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			p, _ := benchProxier(b, mode)
			eps2 := slices.Clone(endpoints)
			p.Update(services, eps2)
			if err := p.SyncNow(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var build, apply, own, cpu time.Duration
			i := 0
			for b.Loop() {
				i++
				// A new Endpoints object for one service: one backend replaced.
				eps2 = slices.Clone(eps2)
				eps2[5000] = eps("default", "svc-05000", []string{"10.250.0.1", "10.250.0.2", fmt.Sprintf("10.250.%d.%d", i/200, i%200+3)}, svcPort{"http", "TCP", 8080, 0})
				c := cpuTime(b)
				p.Update(services, eps2)
				if err := p.SyncNow(ctx); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime(b) - c
				st := p.Stats()
				if st.Full || !st.Partial || len(st.Changes.Written)+st.Elements == 0 {
					b.Fatalf("sync %+v", st)
				}
				build, apply, own = build+st.Build, apply+st.Restore, own+st.Total-st.Restore
			}
			// Where the time goes: building the rules (and, for nftables,
			// the diff), the proxier's own work as a whole (wall clock), and
			// handing the change to the kernel (the restore process or the
			// netlink batch, wall clock).
			b.ReportMetric(float64(build.Nanoseconds())/float64(b.N), "build-ns/op")
			b.ReportMetric(float64(own.Nanoseconds())/float64(b.N), "own-ns/op")
			b.ReportMetric(float64(apply.Nanoseconds())/float64(b.N), "apply-ns/op")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
