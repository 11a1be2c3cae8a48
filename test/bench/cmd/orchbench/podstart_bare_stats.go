package main

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// bareSample is one pod start, timed from the moment the start was asked
// for: for orch, just before the create request; for the bare anchor,
// just before the sandbox is made.
type bareSample struct {
	// Started is when the start was asked for.
	Started time.Time
	// Running is orch's create → Running with a pod IP seen by a watch,
	// or the anchor's start → containerd's task start returned.
	Running time.Duration
	// Answered is the start → the first TCP connection accepted by the
	// pod's server, dialled from the node's network namespace to the pod IP.
	Answered time.Duration
}

// bareCase is one case of the section (one pod at a time, or a burst
// started at once) with the samples of both sides, in run order.
type bareCase struct {
	// Name names the case in the output: "sequential", "50 at once".
	Name string
	// Sequential marks the case the p99 goal applies to.
	Sequential bool
	Orch, Bare []bareSample
	// OrchSpans and BareSpans are, for a burst, how long each burst took
	// from its first start asked for to its last TCP answer.
	OrchSpans, BareSpans []time.Duration
}

// tailStats are the figures of one set of samples: median (the mean of the
// two middle samples for an even count), 99th percentile by nearest rank
// (the largest sample for n <= 100), minimum, maximum; zero for none.
type tailStats struct {
	N        int
	Median   time.Duration
	P99      time.Duration
	Min, Max time.Duration
}

// summarizeTail returns the tailStats of d.
func summarizeTail(d []time.Duration) tailStats {
	if len(d) == 0 {
		return tailStats{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return tailStats{N: len(s), Median: medianSorted(s), P99: nearestRank(s, 0.99), Min: s[0], Max: s[len(s)-1]}
}

func (s tailStats) String() string {
	return fmt.Sprintf("median %s, p99 %s (min %s, max %s, n=%d)", ms(s.Median), ms(s.P99), ms(s.Min), ms(s.Max), s.N)
}

// ratio is orch / bare; an error when bare is not positive (no figure to
// compare with).
func ratio(orch, bare time.Duration) (float64, error) {
	if bare <= 0 {
		return 0, fmt.Errorf("no bare figure to compare with (%v)", bare)
	}
	return float64(orch) / float64(bare), nil
}

// bareSummary holds a case's figures, side by side.
type bareSummary struct {
	Case                    bareCase
	OrchRunning, OrchAnswer tailStats
	BareRunning, BareAnswer tailStats
	OrchSpan, BareSpan      tailStats
	AnswerRatio, AnswerP99  float64 // medians' and p99s' ratios of the first TCP answer
	RunningRatio, SpanRatio float64 // medians' ratios of Running (vs task started) and of burst spans
}

// summarizeBare computes a case's figures; it is an error when either side
// has no sample (a section that measured nothing must not report a ratio).
func summarizeBare(c bareCase) (bareSummary, error) {
	if len(c.Orch) == 0 || len(c.Bare) == 0 {
		return bareSummary{}, fmt.Errorf("pod start beside bare containerd, %s: %d orch and %d bare samples", c.Name, len(c.Orch), len(c.Bare))
	}
	pick := func(ss []bareSample, f func(bareSample) time.Duration) []time.Duration {
		out := make([]time.Duration, len(ss))
		for i, s := range ss {
			out[i] = f(s)
		}
		return out
	}
	running := func(s bareSample) time.Duration { return s.Running }
	answered := func(s bareSample) time.Duration { return s.Answered }
	s := bareSummary{Case: c,
		OrchRunning: summarizeTail(pick(c.Orch, running)), OrchAnswer: summarizeTail(pick(c.Orch, answered)),
		BareRunning: summarizeTail(pick(c.Bare, running)), BareAnswer: summarizeTail(pick(c.Bare, answered)),
		OrchSpan: summarizeTail(c.OrchSpans), BareSpan: summarizeTail(c.BareSpans)}
	var errs []error
	var err error
	s.AnswerRatio, err = ratio(s.OrchAnswer.Median, s.BareAnswer.Median)
	errs = append(errs, err)
	s.AnswerP99, err = ratio(s.OrchAnswer.P99, s.BareAnswer.P99)
	errs = append(errs, err)
	s.RunningRatio, err = ratio(s.OrchRunning.Median, s.BareRunning.Median)
	errs = append(errs, err)
	if len(c.OrchSpans) > 0 || len(c.BareSpans) > 0 {
		s.SpanRatio, err = ratio(s.OrchSpan.Median, s.BareSpan.Median)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return bareSummary{}, fmt.Errorf("pod start beside bare containerd, %s: %w", c.Name, err)
	}
	return s, nil
}

// Goals of issue 17 for pod start beside bare containerd.
const (
	// bareRatioGoal bounds orch's median pod start (to the first TCP
	// answer) as a multiple of the bare containerd anchor's.
	bareRatioGoal = 1.3
	// bareP99Goal bounds orch's create → Running p99, one pod at a time.
	bareP99Goal = time.Second
)

// goalLine is one figure beside its goal, in the shape of the end-of-run
// summary's entries (name, value, goal, met), so that the section can
// report into it once the summary exists.
type goalLine struct {
	Name, Value, Goal string
	// HasGoal is false for a figure shown for information.
	HasGoal bool
	Met     bool
}

func (g goalLine) String() string {
	if !g.HasGoal {
		return fmt.Sprintf("%s: %s", g.Name, g.Value)
	}
	verdict := "NOT MET"
	if g.Met {
		verdict = "met"
	}
	return fmt.Sprintf("%s: %s (goal %s) %s", g.Name, g.Value, g.Goal, verdict)
}

// bareGoalLines are a case's figures: the ratio of the medians to the
// first TCP answer against the 1.3x goal, and for the sequential case
// orch's create → Running p99 against 1 s; then the rest for information.
func bareGoalLines(s bareSummary) []goalLine {
	c := s.Case
	prefix := "pod start " + c.Name
	lines := []goalLine{{
		Name: prefix + ", orch/bare to the first TCP answer (medians)",
		Value: fmt.Sprintf("x%.2f (orch %s, bare %s; p99s x%.2f: orch %s, bare %s)", s.AnswerRatio,
			ms(s.OrchAnswer.Median), ms(s.BareAnswer.Median), s.AnswerP99, ms(s.OrchAnswer.P99), ms(s.BareAnswer.P99)),
		Goal: fmt.Sprintf("<= %.1fx bare", bareRatioGoal), HasGoal: true, Met: s.AnswerRatio <= bareRatioGoal,
	}}
	if c.Sequential {
		lines = append(lines, goalLine{
			Name:  prefix + ", orch create → Running with an IP p99",
			Value: fmt.Sprintf("%s (median %s; to the first TCP answer p99 %s)", ms(s.OrchRunning.P99), ms(s.OrchRunning.Median), ms(s.OrchAnswer.P99)),
			Goal:  "< " + bareP99Goal.String(), HasGoal: true, Met: s.OrchRunning.P99 < bareP99Goal,
		})
	}
	lines = append(lines,
		goalLine{Name: prefix + ", orch create → Running with an IP", Value: s.OrchRunning.String()},
		goalLine{Name: prefix + ", orch create → first TCP answer", Value: s.OrchAnswer.String()},
		goalLine{Name: prefix + ", bare start → task started", Value: s.BareRunning.String()},
		goalLine{Name: prefix + ", bare start → first TCP answer", Value: s.BareAnswer.String()},
		goalLine{Name: prefix + ", orch Running / bare task started (medians)", Value: fmt.Sprintf("x%.2f", s.RunningRatio)},
	)
	if s.OrchSpan.N > 0 {
		lines = append(lines, goalLine{Name: prefix + ", whole burst to the last TCP answer (medians)",
			Value: fmt.Sprintf("orch %s, bare %s, x%.2f (%d bursts each)", ms(s.OrchSpan.Median), ms(s.BareSpan.Median), s.SpanRatio, s.OrchSpan.N)})
	}
	return lines
}
