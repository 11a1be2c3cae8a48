package main

import (
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeDensity is a density result at n nodes whose pod startup p99 grows
// with n (n × 50 ms) and whose API calls all took 10 ms.
func fakeDensity(n int) densityResult {
	startup := make([]time.Duration, 100)
	for i := range startup {
		startup[i] = time.Duration(n) * 50 * time.Millisecond * time.Duration(i+1) / 100
	}
	return densityResult{nodes: n, pods: 30 * n, startup: startup, api: verbLatencies{
		"create": fakeHistogram(0.01, 100), "get": fakeHistogram(0.01, 10), "list": fakeHistogram(0.01, 5)}}
}

// fakeHistogram holds count observations of about s seconds.
func fakeHistogram(s, count float64) *histogram {
	bounds := []float64{0.005, 0.05, 0.5, 5, 50, math.Inf(1)}
	counts := make([]float64, len(bounds))
	for i, b := range bounds {
		if s <= b {
			counts[i] = count
		}
	}
	return &histogram{bounds: bounds, counts: counts}
}

// The finder doubles the size until a size misses an SLO or fails, and
// reports the largest that held.
func TestFindDensity(t *testing.T) {
	tests := []struct {
		name         string
		start, limit int
		measure      func(n int) (densityResult, error)
		wantBest     int
		wantSizes    []int
		wantLastWhy  string
	}{
		{
			name: "pod startup grows past 5 s at 160 nodes", start: 10, limit: 640,
			measure:  func(n int) (densityResult, error) { return fakeDensity(n), nil },
			wantBest: 80, wantSizes: []int{10, 20, 40, 80, 160},
			wantLastWhy: "missed pod startup p99 7.92s (goal <= 5s)",
		},
		{
			name: "a run that fails ends the steps", start: 10, limit: 640,
			measure: func(n int) (densityResult, error) {
				if n == 40 {
					return densityResult{}, errors.New("every hollow node Ready: not within 2m0s")
				}
				return fakeDensity(n), nil
			},
			wantBest: 20, wantSizes: []int{10, 20, 40},
			wantLastWhy: "failed: every hollow node Ready: not within 2m0s",
		},
		{
			name: "slow mutations miss the API SLO", start: 5, limit: 640,
			measure: func(n int) (densityResult, error) {
				d := fakeDensity(1)
				if n >= 20 {
					d.api["patch"] = fakeHistogram(2, 1000)
				}
				return d, nil
			},
			wantBest: 10, wantSizes: []int{5, 10, 20},
			wantLastWhy: "missed mutating API calls p99 4950.5 ms (1100 calls) (goal <= 1 s)",
		},
		{
			name: "every size up to the limit held", start: 10, limit: 50,
			measure:  func(int) (densityResult, error) { return fakeDensity(1), nil },
			wantBest: 40, wantSizes: []int{10, 20, 40}, wantLastWhy: "every SLO held",
		},
		{
			name: "the first size misses", start: 200, limit: 640,
			measure:  func(n int) (densityResult, error) { return fakeDensity(n), nil },
			wantBest: 0, wantSizes: []int{200},
			wantLastWhy: "missed pod startup p99 9.9s (goal <= 5s)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tried []int
			best, steps, err := findDensity(context.Background(), tt.start, tt.limit, func(_ context.Context, n int) (densityResult, error) {
				tried = append(tried, n)
				return tt.measure(n)
			}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if best != tt.wantBest || !slices.Equal(tried, tt.wantSizes) || len(steps) != len(tried) {
				t.Fatalf("best %d after %v (%d steps), want %d after %v", best, tried, len(steps), tt.wantBest, tt.wantSizes)
			}
			if why := steps[len(steps)-1].why; why != tt.wantLastWhy {
				t.Fatalf("last step: %q, want %q", why, tt.wantLastWhy)
			}
		})
	}
}

// The finder refuses a bad range and stops when its context ends.
func TestFindDensityStops(t *testing.T) {
	if _, _, err := findDensity(context.Background(), 20, 10, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "want 1 <= start <= max") {
		t.Fatalf("bad range: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, _, err := findDensity(ctx, 10, 640, func(context.Context, int) (densityResult, error) {
		calls++
		cancel()
		return densityResult{}, context.Canceled
	}, io.Discard)
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("after cancel: %v, %d calls", err, calls)
	}
}

// The SLO checks: each class against its limit; a class with no calls holds.
func TestDensitySLOs(t *testing.T) {
	d := fakeDensity(1)
	delete(d.api, "list")
	d.api["get"] = fakeHistogram(2, 10)
	got := map[string]bool{}
	for _, c := range d.slos() {
		got[c.name] = c.held
	}
	want := map[string]bool{"pod startup p99": true, "mutating API calls p99": true, "single-object reads p99": false, "lists p99": true}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s held %v, want %v (all %v)", k, got[k], v, got)
		}
	}
	if d.held() {
		t.Error("held with slow reads")
	}
	if (densityResult{}).held() {
		t.Error("a run with no pod startups held")
	}
}

// A count that stops growing for the limit is a stall.
func TestStallCheck(t *testing.T) {
	s := stallCheck{limit: time.Hour}
	if s.progress(1) != nil || s.progress(1) != nil {
		t.Fatal("stalled within the limit")
	}
	s.since = s.since.Add(-2 * time.Hour)
	if err := s.progress(1); err == nil || !strings.Contains(err.Error(), "stuck at 1") {
		t.Fatalf("no stall after the limit: %v", err)
	}
	if s.progress(2) != nil {
		t.Fatal("stalled while growing")
	}
}

// parseStat reads the parent pid and the four CPU times of a stat line
// whose command holds spaces and parentheses.
func TestParseStat(t *testing.T) {
	line := "1234 (orch (bench) x) S 77 1234 1234 0 -1 4194560 100 0 0 0 150 50 30 20 20 0 8 0 100 0 0"
	ppid, cpu, err := parseStat([]byte(line))
	if err != nil || ppid != 77 || cpu != 2500*time.Millisecond {
		t.Fatalf("ppid %d cpu %v err %v", ppid, cpu, err)
	}
	if _, _, err := parseStat([]byte("12 (x) S 1")); err == nil {
		t.Fatal("short stat parsed")
	}
}
