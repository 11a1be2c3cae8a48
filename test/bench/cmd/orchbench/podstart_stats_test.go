package main

import (
	"testing"
	"time"
)

func msd(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestSummarizeDurations(t *testing.T) {
	twenty := msd(20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want durStats
	}{
		{"empty", nil, durStats{}},
		{"one", msd(7), durStats{N: 1, Median: 7 * time.Millisecond, P90: 7 * time.Millisecond, Min: 7 * time.Millisecond, Max: 7 * time.Millisecond}},
		{"odd count, unsorted", msd(30, 10, 20), durStats{N: 3, Median: 20 * time.Millisecond, P90: 30 * time.Millisecond,
			Min: 10 * time.Millisecond, Max: 30 * time.Millisecond}},
		{"even count: mean of the middle two", msd(40, 10, 20, 30), durStats{N: 4, Median: 25 * time.Millisecond,
			P90: 40 * time.Millisecond, Min: 10 * time.Millisecond, Max: 40 * time.Millisecond}},
		{"twenty: p90 is the 18th", twenty, durStats{N: 20, Median: 10500 * time.Microsecond, P90: 18 * time.Millisecond,
			Min: time.Millisecond, Max: 20 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tc.in...)
			if got := summarizeDurations(tc.in); got != tc.want {
				t.Errorf("summarizeDurations(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatalf("summarizeDurations reordered its input: %v, was %v", tc.in, in)
				}
			}
		})
	}
}

func TestPairedMedianDiff(t *testing.T) {
	for _, tc := range []struct {
		name          string
		anchor, other []time.Duration
		want          time.Duration
		wantErr       bool
	}{
		{"same", msd(10, 20, 30), msd(10, 20, 30), 0, false},
		{"a constant shift survives a drift", msd(100, 200, 300, 400), msd(105, 205, 305, 405), 5 * time.Millisecond, false},
		{"faster", msd(50, 50, 50), msd(40, 45, 70), -5 * time.Millisecond, false},
		{"counts differ", msd(1, 2), msd(1), 0, true},
		{"no samples", nil, nil, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pairedMedianDiff(tc.anchor, tc.other)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("pairedMedianDiff = %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseStartedContainer(t *testing.T) {
	const line = `time=2026-12-03T22:10:01.123Z level=INFO msg="started container" subsystem=runtime id=abc pod=default/ps-sleep-b0-r03 container=c pid=4242 create=12.5ms task=48.25ms start=3.1ms`
	for _, tc := range []struct {
		name, line, pod string
		want            startSplit
		wantOK, wantErr bool
	}{
		{"the pod's line", line, "default/ps-sleep-b0-r03",
			startSplit{Create: 12500 * time.Microsecond, Task: 48250 * time.Microsecond, Start: 3100 * time.Microsecond}, true, false},
		{"another pod", line, "default/ps-sleep-b0-r3", startSplit{}, false, false},
		{"another message", `time=x level=INFO msg="pod stopped and deleted" pod=default/ps-sleep-b0-r03`, "default/ps-sleep-b0-r03",
			startSplit{}, false, false},
		{"a bad duration", `msg="started container" pod=default/p create=soon task=1ms start=1ms`, "default/p", startSplit{}, false, true},
		{"a missing duration", `msg="started container" pod=default/p create=1ms task=1ms`, "default/p", startSplit{}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := parseStartedContainer(tc.line, tc.pod)
			if (err != nil) != tc.wantErr || ok != tc.wantOK || got != tc.want {
				t.Errorf("parseStartedContainer = %+v, %v, %v; want %+v, %v (error %v)", got, ok, err, tc.want, tc.wantOK, tc.wantErr)
			}
		})
	}
	if got := (startSplit{Create: 1, Task: 2, Start: 3}).Total(); got != 6 {
		t.Errorf("Total = %v, want 6ns", got)
	}
}

func TestSignTestRank(t *testing.T) {
	for _, tc := range []struct {
		n     int
		alpha float64
		want  int
	}{
		{5, 0.025, 0},  // P(X <= 0) = 1/32 > 2.5%: no 95% interval
		{6, 0.025, 1},  // 1/64
		{20, 0.025, 6}, // P(X <= 5) = 2.07%, P(X <= 6) = 5.77%
		{40, 0.025, 14},
		{20, 0.005, 4}, // 99%: P(X <= 3) = 0.13%, P(X <= 4) = 0.59%
	} {
		if got := signTestRank(tc.n, tc.alpha); got != tc.want {
			t.Errorf("signTestRank(%d, %v) = %d, want %d", tc.n, tc.alpha, got, tc.want)
		}
	}
}

func TestPairedMedianCI(t *testing.T) {
	var anchor, other []time.Duration
	for i := 1; i <= 20; i++ { // differences 1..20 ms, in scrambled order
		anchor = append(anchor, 100*time.Millisecond)
		other = append(other, 100*time.Millisecond+time.Duration((i*7)%20+1)*time.Millisecond)
	}
	for _, tc := range []struct {
		name          string
		anchor, other []time.Duration
		lo, hi        time.Duration
		ok            bool
	}{
		{"twenty: the 6th and 15th differences", anchor, other, 6 * time.Millisecond, 15 * time.Millisecond, true},
		{"too few for 95%", msd(1, 2, 3), msd(2, 3, 4), 0, 0, false},
		{"counts differ", msd(1, 2), msd(1), 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi, ok := pairedMedianCI(tc.anchor, tc.other, 0.95)
			if lo != tc.lo || hi != tc.hi || ok != tc.ok {
				t.Errorf("pairedMedianCI = [%v, %v] %v; want [%v, %v] %v", lo, hi, ok, tc.lo, tc.hi, tc.ok)
			}
		})
	}
}
