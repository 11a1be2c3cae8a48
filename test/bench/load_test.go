package bench

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// seq returns 1ms, 2ms, ..., n ms.
func seqMs(n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = ms(i + 1)
	}
	return s
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value p50", []time.Duration{ms(7)}, 50, ms(7)},
		{"one value p99", []time.Duration{ms(7)}, 99, ms(7)},
		{"two values p50 is the lower", []time.Duration{ms(1), ms(2)}, 50, ms(1)},
		{"three values p50 is the middle", []time.Duration{ms(1), ms(2), ms(3)}, 50, ms(2)},
		{"100 values p50", seqMs(100), 50, ms(50)},
		{"100 values p99", seqMs(100), 99, ms(99)},
		{"100 values p100", seqMs(100), 100, ms(100)},
		{"101 values p50 is the middle", seqMs(101), 50, ms(51)},
		// rank = ceil(0.99*1000) = 990, exactly: no float drift to 991.
		{"1000 values p99", seqMs(1000), 99, ms(990)},
		{"1001 values p99", seqMs(1001), 99, ms(991)},
		// Fewer than 100 values: p99 is the maximum.
		{"10 values p99 is the max", seqMs(10), 99, ms(10)},
		{"10 values p90", seqMs(10), 90, ms(9)},
		{"tiny p rounds up to the first", seqMs(10), 0.001, ms(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Fatalf("Percentile(n=%d, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"one", []float64{4}, 4},
		{"odd unsorted", []float64{9, 1, 5}, 5},
		{"even is the mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.xs...)
			if got := Median(tt.xs); got != tt.want {
				t.Fatalf("Median(%v) = %v, want %v", tt.xs, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.xs[i] {
					t.Fatalf("Median modified its input: %v", tt.xs)
				}
			}
		})
	}
}

func TestSummarizeTakesEachMedian(t *testing.T) {
	s := Summarize([]Result{
		{Rate: 100, P50: ms(3), P99: ms(30), Max: ms(90), Errors: 1},
		{Rate: 300, P50: ms(1), P99: ms(10), Max: ms(70)},
		{Rate: 200, P50: ms(2), P99: ms(20), Max: ms(80), Errors: 2},
	})
	want := Summary{Runs: 3, Rate: 200, P50: ms(2), P99: ms(20), Max: ms(80), Errors: 3}
	if s != want {
		t.Fatalf("Summarize = %+v, want %+v", s, want)
	}
}

// TestRunCountsOnlyTheWindow drives Run with an op that returns at once; the
// checks are invariants that hold whatever the machine's speed.
func TestRunCountsOnlyTheWindow(t *testing.T) {
	var mu sync.Mutex
	seen := map[[2]int]bool{}
	op := func(ctx context.Context, worker, seq int) error {
		mu.Lock()
		defer mu.Unlock()
		k := [2]int{worker, seq}
		if seen[k] {
			t.Errorf("(worker %d, seq %d) issued twice", worker, seq)
		}
		seen[k] = true
		if seq%10 == 9 {
			return errors.New("every tenth op fails")
		}
		return nil
	}
	r := Run(context.Background(), 4, 50*time.Millisecond, 10*time.Millisecond, op)
	if r.Ops == 0 {
		t.Fatalf("no ops counted: %+v", r)
	}
	if r.Errors == 0 || r.FirstError == nil {
		t.Fatalf("errors not counted: %+v", r)
	}
	total := len(seen)
	if r.Ops+r.Errors > total {
		t.Fatalf("counted %d ops+errors but only %d were issued", r.Ops+r.Errors, total)
	}
	// AllOps is every success, the warm-up's included: every issued op
	// but the failing tenth of each worker's sequence.
	wantAll := 0
	for k := range seen {
		if k[1]%10 != 9 {
			wantAll++
		}
	}
	if r.AllOps != wantAll || r.AllOps <= r.Ops {
		t.Fatalf("AllOps = %d, want %d (all successes, more than the window's %d)", r.AllOps, wantAll, r.Ops)
	}
	if !(r.P50 <= r.P99 && r.P99 <= r.Max) {
		t.Fatalf("percentiles out of order: %+v", r)
	}
	// Rate is successes over the 50 ms window.
	if want := float64(r.Ops) / 0.05; r.Rate < want*0.999 || r.Rate > want*1.001 {
		t.Fatalf("Rate = %v, want %v", r.Rate, want)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	op := func(ctx context.Context, worker, seq int) error {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return ctx.Err()
	}
	done := make(chan Result)
	go func() { done <- Run(ctx, 2, time.Hour, 0, op) }()
	<-started
	cancel()
	r := <-done
	if r.Ops != 0 || r.Errors != 0 {
		t.Fatalf("cancelled ops were counted: %+v", r)
	}
}

func TestReadCPUTimesCountsThisProcess(t *testing.T) {
	pid := os.Getpid()
	a, err := ReadCPUTimes(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until this process's own time visibly moves (a tick is
	// 10 ms); bounded by a deadline rather than a fixed amount of work.
	deadline := time.Now().Add(5 * time.Second)
	var b CPUTimes
	for x := 0; ; x++ {
		if x%1_000_000 == 0 {
			if b, err = ReadCPUTimes(pid); err != nil {
				t.Fatal(err)
			}
			if b.Procs-a.Procs >= 50*time.Millisecond || time.Now().After(deadline) {
				break
			}
		}
	}
	u := b.Sub(a)
	if b.Procs <= a.Procs || u.Ours <= 0 || u.Machine < u.Ours*0.5 {
		t.Fatalf("implausible CPU use %+v from %+v to %+v", u, a, b)
	}
	if _, err := ReadCPUTimes(1 << 30); err != nil { // no such process: skipped
		t.Fatal(err)
	}
}

func TestReadCPUTimesCountsFaults(t *testing.T) {
	pid := os.Getpid()
	a, err := ReadCPUTimes(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Touch 64 MiB of fresh anonymous memory in 4 KiB pages (no huge
	// pages, whatever the system's default): a fault per page.
	const size = 64 << 20
	m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	if err := syscall.Madvise(m, syscall.MADV_NOHUGEPAGE); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < size; i += 4096 {
		m[i] = 1
	}
	b, err := ReadCPUTimes(pid)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Faults - a.Faults; got < size/4096/2 {
		t.Fatalf("%d faults counted for %d fresh pages", got, size/4096)
	}
}
