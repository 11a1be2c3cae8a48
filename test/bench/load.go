// Package bench holds the pieces of orch's write benchmark: a closed-loop load
// generator (Run) and, as the reference point measured on the same machine in
// the same run, a throwaway etcd cluster (StartEtcd) with a put operation
// driven through etcd's JSON gateway (EtcdPut).
package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Op is one operation of a closed-loop benchmark. worker is in [0, clients);
// seq counts the worker's operations from 0, so (worker, seq) is unique within
// one Run.
type Op func(ctx context.Context, worker, seq int) error

// Result summarises the operations that completed inside the measurement
// window of one Run.
type Result struct {
	Ops int // successful operations completed in the window
	// AllOps also counts the successful operations of the warm-up and
	// those that finished after the window: all the work the system did.
	AllOps int
	Errors int     // failed operations completed in the window
	Rate   float64 // successful operations per second of window
	// Exact nearest-rank percentiles of the successful operations' latencies.
	P50, P99, Max time.Duration
	// FirstError is the first failure seen in the window, if any.
	FirstError error
}

func (r Result) String() string {
	s := fmt.Sprintf("%8.0f ops/s  p50 %7s  p99 %7s  max %7s  ops %d  errors %d",
		r.Rate, fmtDur(r.P50), fmtDur(r.P99), fmtDur(r.Max), r.Ops, r.Errors)
	if r.FirstError != nil {
		s += fmt.Sprintf("  (first error: %v)", r.FirstError)
	}
	return s
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

type workerStats struct {
	lat      []time.Duration
	all      int // successful operations, in the window or not
	errors   int
	firstErr error
	firstAt  time.Time
}

// Run drives op from clients goroutines in a closed loop: each worker issues
// its next operation as soon as the previous one returns, with no pauses.
// The first warmup of wall time is not measured; after it comes a window of
// duration. An operation is counted if it completes inside the window (so Rate
// is the completion rate), and its latency is the whole call. Workers stop
// issuing at the end of the window and Run returns when the operations in
// flight have returned (their results are discarded), or early when ctx is
// cancelled, in which case the window is cut short and Rate uses the shortened
// window.
//
// Every latency is kept and sorted, so percentiles are exact, not estimated.
func Run(ctx context.Context, clients int, duration, warmup time.Duration, op Op) Result {
	if clients < 1 {
		clients = 1
	}
	start := time.Now()
	from := start.Add(warmup)
	end := from.Add(duration)

	stats := make([]workerStats, clients)
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			s := &stats[w]
			s.lat = make([]time.Duration, 0, 1024)
			for seq := 0; ctx.Err() == nil; seq++ {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				err := op(ctx, w, seq)
				t1 := time.Now()
				if err == nil {
					s.all++
				}
				if t1.Before(from) || !t1.Before(end) {
					continue
				}
				if err != nil {
					if ctx.Err() != nil {
						return // cancelled: not the system's failure
					}
					s.errors++
					if s.firstErr == nil {
						s.firstErr, s.firstAt = err, t1
					}
					continue
				}
				s.lat = append(s.lat, t1.Sub(t0))
			}
		})
	}
	wg.Wait()

	stop := end
	if now := time.Now(); ctx.Err() != nil && now.Before(end) {
		stop = now // cancelled: the window was cut short
	}
	window := stop.Sub(from)

	n := 0
	for i := range stats {
		n += len(stats[i].lat)
	}
	all := make([]time.Duration, 0, n)
	var r Result
	var firstAt time.Time
	for i := range stats {
		s := &stats[i]
		all = append(all, s.lat...)
		r.AllOps += s.all
		r.Errors += s.errors
		if s.firstErr != nil && (r.FirstError == nil || s.firstAt.Before(firstAt)) {
			r.FirstError, firstAt = s.firstErr, s.firstAt
		}
	}
	slices.Sort(all)
	r.Ops = len(all)
	if window > 0 {
		r.Rate = float64(r.Ops) / window.Seconds()
	}
	r.P50 = Percentile(all, 50)
	r.P99 = Percentile(all, 99)
	if len(all) > 0 {
		r.Max = all[len(all)-1]
	}
	return r
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be in ascending order: the smallest value such that at
// least p% of the values are less than or equal to it. It returns 0 for an
// empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// p*n before the division keeps integral ranks exact (99*100/100 = 99).
	rank := int(math.Ceil(p * float64(n) / 100))
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// Summary is the median of several runs of the same configuration.
type Summary struct {
	Runs          int
	Rate          float64 // median of the runs' rates
	P50, P99, Max time.Duration
	Errors        int // total over all runs
}

// Summarize takes the median of each figure separately over the runs.
func Summarize(rs []Result) Summary {
	s := Summary{Runs: len(rs)}
	rates := make([]float64, len(rs))
	p50s := make([]float64, len(rs))
	p99s := make([]float64, len(rs))
	maxs := make([]float64, len(rs))
	for i, r := range rs {
		rates[i] = r.Rate
		p50s[i] = float64(r.P50)
		p99s[i] = float64(r.P99)
		maxs[i] = float64(r.Max)
		s.Errors += r.Errors
	}
	s.Rate = Median(rates)
	s.P50 = time.Duration(Median(p50s))
	s.P99 = time.Duration(Median(p99s))
	s.Max = time.Duration(Median(maxs))
	return s
}

func (s Summary) String() string {
	return fmt.Sprintf("%8.0f ops/s  p50 %7s  p99 %7s  max %7s  (median of %d runs, %d errors)",
		s.Rate, fmtDur(s.P50), fmtDur(s.P99), fmtDur(s.Max), s.Runs, s.Errors)
}

// Median returns the median of xs (the mean of the two middle values for an
// even count), or 0 for none. xs is not modified.
func Median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
