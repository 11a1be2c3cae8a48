package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// durStats summarizes the samples of one build and variant.
type durStats struct {
	N        int
	Median   time.Duration
	P90      time.Duration
	Min, Max time.Duration
}

// summarizeDurations returns the median (the mean of the two middle samples
// for an even count), the 90th percentile by nearest rank (the 18th of 20),
// the minimum and the maximum; all zero for no samples.
func summarizeDurations(d []time.Duration) durStats {
	if len(d) == 0 {
		return durStats{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return durStats{N: len(s), Median: medianSorted(s), P90: nearestRank(s, 0.9), Min: s[0], Max: s[len(s)-1]}
}

func medianSorted(s []time.Duration) time.Duration {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// nearestRank is the q-quantile of sorted s by the nearest-rank method:
// the smallest sample with at least q of the samples at or below it.
func nearestRank(s []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// pairedMedianDiff is the median of other[i] - anchor[i]: the builds were
// measured alternately, so sample i of each was taken at nearly the same
// time and the pairing cancels slow drifts of the machine's load. It is an
// error when the counts differ.
func pairedMedianDiff(anchor, other []time.Duration) (time.Duration, error) {
	if len(anchor) != len(other) || len(anchor) == 0 {
		return 0, fmt.Errorf("paired difference of %d and %d samples", len(anchor), len(other))
	}
	d := make([]time.Duration, len(anchor))
	for i := range anchor {
		d[i] = other[i] - anchor[i]
	}
	slices.Sort(d)
	return medianSorted(d), nil
}

// pairedMedianCI is a distribution-free confidence interval (at least conf,
// e.g. 0.95) for the median of other[i] - anchor[i], from the sign test:
// the k-th smallest and k-th largest difference, with k the largest rank
// such that P(Binomial(n, 1/2) < k) <= (1-conf)/2 (for n = 20 and 95%: the
// 6th and 15th of the sorted differences, 95.9%). It reports false when n
// is too small for any such interval (n < 6 at 95%).
func pairedMedianCI(anchor, other []time.Duration, conf float64) (lo, hi time.Duration, ok bool) {
	n := len(anchor)
	if n != len(other) || n == 0 {
		return 0, 0, false
	}
	d := make([]time.Duration, n)
	for i := range anchor {
		d[i] = other[i] - anchor[i]
	}
	slices.Sort(d)
	k := signTestRank(n, (1-conf)/2)
	if k < 1 {
		return 0, 0, false
	}
	return d[k-1], d[n-k], true
}

// signTestRank is the largest k with P(Binomial(n, 1/2) <= k-1) <= alpha,
// 0 when there is none.
func signTestRank(n int, alpha float64) int {
	cdf, k := 0.0, 0
	lgN, _ := math.Lgamma(float64(n + 1))
	for i := 0; i < n; i++ {
		lgI, _ := math.Lgamma(float64(i + 1))
		lgR, _ := math.Lgamma(float64(n - i + 1))
		cdf += math.Exp(lgN - lgI - lgR - float64(n)*math.Ln2)
		if cdf > alpha {
			break
		}
		k = i + 1
	}
	return k
}

// startSplit is the node-side time of one container start, as the agent
// logs it: containerd's container create (snapshot and OCI spec), the task
// create (the shim and runc create) and the task start.
type startSplit struct {
	Create, Task, Start time.Duration
}

// Total is the sum of the three parts.
func (s startSplit) Total() time.Duration { return s.Create + s.Task + s.Start }

// parseStartedContainer reads the agent's `started container` log line (the
// slog text format of orchd) for a container of pod ("namespace/name"). It
// reports false for any other line.
func parseStartedContainer(line, pod string) (startSplit, bool, error) {
	if !strings.Contains(line, `msg="started container"`) {
		return startSplit{}, false, nil
	}
	var s startSplit
	var seen int
	match := false
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		var dst *time.Duration
		switch k {
		case "pod":
			match = v == pod
			continue
		case "create":
			dst = &s.Create
		case "task":
			dst = &s.Task
		case "start":
			dst = &s.Start
		default:
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return startSplit{}, false, fmt.Errorf("started container line %q: %s: %w", line, k, err)
		}
		*dst = d
		seen++
	}
	if !match {
		return startSplit{}, false, nil
	}
	if seen != 3 {
		return startSplit{}, false, fmt.Errorf("started container line %q: want create, task and start durations", line)
	}
	return s, true, nil
}

// ms formats a duration in milliseconds with one decimal.
func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// signedMS formats a difference in milliseconds with its sign.
func signedMS(d time.Duration) string {
	return fmt.Sprintf("%+.1fms", float64(d)/float64(time.Millisecond))
}
