package main

import (
	"strings"
	"testing"
	"time"
)

// msSeq returns durations of 1..n milliseconds in a shuffled order.
func msSeq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration((i*7)%n+1) * time.Millisecond // 7 is prime to the sizes used
	}
	return out
}

func TestSummarizeTail(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want tailStats
	}{
		{"none", nil, tailStats{}},
		{"one", []time.Duration{5 * ms}, tailStats{N: 1, Median: 5 * ms, P99: 5 * ms, Min: 5 * ms, Max: 5 * ms}},
		{"odd count, unsorted", []time.Duration{9 * ms, 1 * ms, 4 * ms}, tailStats{N: 3, Median: 4 * ms, P99: 9 * ms, Min: ms, Max: 9 * ms}},
		{"even count: mean of the middle two", []time.Duration{4 * ms, 1 * ms, 2 * ms, 8 * ms}, tailStats{N: 4, Median: 3 * ms, P99: 8 * ms, Min: ms, Max: 8 * ms}},
		{"50 samples: p99 is the largest", msSeq(50), tailStats{N: 50, Median: 25500 * time.Microsecond, P99: 50 * ms, Min: ms, Max: 50 * ms}},
		{"100 samples: p99 is the 99th", msSeq(100), tailStats{N: 100, Median: 50500 * time.Microsecond, P99: 99 * ms, Min: ms, Max: 100 * ms}},
		{"200 samples: p99 is the 198th", msSeq(200), tailStats{N: 200, Median: 100500 * time.Microsecond, P99: 198 * ms, Min: ms, Max: 200 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tc.in...)
			if got := summarizeTail(tc.in); got != tc.want {
				t.Errorf("summarizeTail = %+v, want %+v", got, tc.want)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatalf("input reordered: %v", tc.in)
				}
			}
		})
	}
}

func TestRatio(t *testing.T) {
	for _, tc := range []struct {
		orch, bare time.Duration
		want       float64
		wantErr    bool
	}{
		{130 * time.Millisecond, 100 * time.Millisecond, 1.3, false},
		{50 * time.Millisecond, 100 * time.Millisecond, 0.5, false},
		{time.Second, 0, 0, true},
		{time.Second, -time.Millisecond, 0, true},
	} {
		got, err := ratio(tc.orch, tc.bare)
		if (err != nil) != tc.wantErr {
			t.Errorf("ratio(%v, %v) error %v, want error %v", tc.orch, tc.bare, err, tc.wantErr)
		}
		if diff := got - tc.want; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("ratio(%v, %v) = %v, want %v", tc.orch, tc.bare, got, tc.want)
		}
	}
}

// samples makes one bareSample per pair of Running and Answered milliseconds.
func samples(pairs ...[2]int) []bareSample {
	var out []bareSample
	for _, p := range pairs {
		out = append(out, bareSample{Running: time.Duration(p[0]) * time.Millisecond, Answered: time.Duration(p[1]) * time.Millisecond})
	}
	return out
}

func TestSummarizeBare(t *testing.T) {
	c := bareCase{Name: "sequential", Sequential: true,
		Orch: samples([2]int{200, 260}, [2]int{100, 130}, [2]int{300, 390}),
		Bare: samples([2]int{80, 100}, [2]int{120, 150}, [2]int{40, 50})}
	s, err := summarizeBare(c)
	if err != nil {
		t.Fatal(err)
	}
	if s.OrchAnswer.Median != 260*time.Millisecond || s.BareAnswer.Median != 100*time.Millisecond {
		t.Errorf("answer medians orch %v, bare %v; want 260ms, 100ms", s.OrchAnswer.Median, s.BareAnswer.Median)
	}
	if s.AnswerRatio != 2.6 || s.AnswerP99 != 2.6 || s.RunningRatio != 2.5 {
		t.Errorf("ratios: answer %v, answer p99 %v, running %v; want 2.6, 2.6, 2.5", s.AnswerRatio, s.AnswerP99, s.RunningRatio)
	}
	if s.SpanRatio != 0 || s.OrchSpan.N != 0 {
		t.Errorf("span figures without bursts: %v, %+v", s.SpanRatio, s.OrchSpan)
	}

	burst := c
	burst.Sequential, burst.Name = false, "3 at once"
	burst.OrchSpans = []time.Duration{600 * time.Millisecond, 400 * time.Millisecond}
	burst.BareSpans = []time.Duration{200 * time.Millisecond, 300 * time.Millisecond}
	if s, err = summarizeBare(burst); err != nil {
		t.Fatal(err)
	}
	if s.SpanRatio != 2 {
		t.Errorf("span ratio %v, want 2 (medians 500ms and 250ms)", s.SpanRatio)
	}

	for _, bad := range []bareCase{
		{Name: "no orch samples", Bare: c.Bare},
		{Name: "no bare samples", Orch: c.Orch},
		{Name: "bare answers at zero", Orch: c.Orch, Bare: samples([2]int{0, 0})},
		{Name: "bursts on one side only", Orch: c.Orch, Bare: c.Bare, OrchSpans: burst.OrchSpans},
	} {
		if _, err := summarizeBare(bad); err == nil {
			t.Errorf("%s: no error", bad.Name)
		} else if !strings.Contains(err.Error(), bad.Name) {
			t.Errorf("%s: error %q does not name the case", bad.Name, err)
		}
	}
}

func TestBareGoalLines(t *testing.T) {
	bare := samples([2]int{80, 100}, [2]int{80, 100}, [2]int{80, 100})
	for _, tc := range []struct {
		name        string
		c           bareCase
		wantGoals   []string // the names of the goal lines, in order
		wantMet     []bool
		wantSpan    bool
		wantInValue string // in the first line's value
	}{
		{"sequential within both goals",
			bareCase{Name: "sequential", Sequential: true, Bare: bare, Orch: samples([2]int{100, 120}, [2]int{110, 130}, [2]int{900, 1000})},
			[]string{"pod start sequential, orch/bare to the first TCP answer (medians)", "pod start sequential, orch create → Running with an IP p99"},
			[]bool{true, true}, false, "x1.30 (orch 130.0ms, bare 100.0ms"},
		{"sequential over both goals",
			bareCase{Name: "sequential", Sequential: true, Bare: bare, Orch: samples([2]int{100, 131}, [2]int{110, 140}, [2]int{1000, 1100})},
			[]string{"pod start sequential, orch/bare to the first TCP answer (medians)", "pod start sequential, orch create → Running with an IP p99"},
			[]bool{false, false}, false, "x1.40"},
		{"burst: the ratio goal only, and the spans",
			bareCase{Name: "3 at once", Bare: bare, Orch: samples([2]int{100, 120}, [2]int{100, 120}, [2]int{5000, 5000}),
				OrchSpans: []time.Duration{time.Second}, BareSpans: []time.Duration{500 * time.Millisecond}},
			[]string{"pod start 3 at once, orch/bare to the first TCP answer (medians)"},
			[]bool{true}, true, "x1.20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := summarizeBare(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			lines := bareGoalLines(s)
			var goals []goalLine
			span := false
			for _, l := range lines {
				if l.HasGoal {
					goals = append(goals, l)
				}
				span = span || strings.Contains(l.Name, "whole burst")
			}
			if len(goals) != len(tc.wantGoals) {
				t.Fatalf("goal lines %v, want %v", goals, tc.wantGoals)
			}
			for i, g := range goals {
				if g.Name != tc.wantGoals[i] || g.Met != tc.wantMet[i] {
					t.Errorf("goal line %d: %q met %v, want %q met %v", i, g.Name, g.Met, tc.wantGoals[i], tc.wantMet[i])
				}
			}
			if !strings.Contains(lines[0].Value, tc.wantInValue) {
				t.Errorf("first line %q, want %q in it", lines[0], tc.wantInValue)
			}
			if span != tc.wantSpan {
				t.Errorf("span line present %v, want %v", span, tc.wantSpan)
			}
			verdict := "NOT MET"
			if tc.wantMet[0] {
				verdict = "met"
			}
			if got := lines[0].String(); !strings.HasSuffix(got, "(goal <= 1.3x bare) "+verdict) {
				t.Errorf("printed %q, want it to end in the goal and %s", got, verdict)
			}
		})
	}
}

func TestABBA(t *testing.T) {
	var order []int
	for r := range 4 {
		for k := range 2 {
			order = append(order, abba(r, k, 2))
		}
	}
	want := []int{0, 1, 1, 0, 0, 1, 1, 0}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
}
