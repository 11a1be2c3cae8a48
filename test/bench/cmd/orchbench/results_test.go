package main

import (
	"errors"
	"strings"
	"testing"
)

// The summary prints one line per figure in the order expected, with its
// value, goal and verdict; an expected figure nobody reported says so, and
// the sections' errors follow the table and make err non-nil.
func TestResultsSummary(t *testing.T) {
	tests := []struct {
		name      string
		fill      func(r *results)
		wantLines []string // each must appear, in this order
		wantErr   string   // "" for none
	}{
		{
			name: "verdicts",
			fill: func(r *results) {
				r.goal("write rate", "1.62x", ">= 1.5x", true, false)
				r.goal("proxy change", "31.0 ms", "< 20ms", false, false)
				r.goal("density p99", "0.9 s", "<= 5s", true, true)
				r.info("rollout", "12.0 s")
			},
			wantLines: []string{
				"figure        value    goal     verdict",
				"write rate    1.62x    >= 1.5x  met",
				"proxy change  31.0 ms  < 20ms   NOT MET",
				"density p99   0.9 s    <= 5s    NOISY",
				"rollout       12.0 s   -        -",
				"1 met, 1 NOT MET, 1 NOISY, 1 without a goal",
			},
		},
		{
			name: "expected figures keep their place; missing ones name their section",
			fill: func(r *results) {
				r.expect("throughput", "write rate", ">= 1.5x")
				r.expect("pod-starts-bare", "pod start / bare", "<= 1.3x")
				r.expect("proxy", "nft first sync", "< 2s")
				r.goal("nft first sync", "900.0 ms", "< 2s", true, false)
				r.goal("write rate", "1.10x", ">= 1.5x", false, false)
			},
			wantLines: []string{
				"write rate        1.10x",
				"pod start / bare  (section pod-starts-bare reported nothing)  <= 1.3x  NOT MEASURED",
				"nft first sync    900.0 ms",
				"1 met, 1 NOT MET, 1 NOT MEASURED",
			},
		},
		{
			name: "section errors after the table, one line each",
			fill: func(r *results) {
				r.info("rollout", "12.0 s")
				r.fail("density", errors.New("every hollow node Ready:\nnot within 2m0s"))
				r.fail("proxy", nil)
				_ = r.run("secrets", func() error { return errors.New("boom") })
			},
			wantLines: []string{
				"1 without a goal",
				"FAILED: density section: every hollow node Ready: not within 2m0s",
				"FAILED: secrets section: boom",
			},
			wantErr: "density section: every hollow node Ready:\nnot within 2m0s\nsecrets section: boom",
		},
		{
			name:      "nothing",
			fill:      func(*results) {},
			wantLines: []string{"figure  value  goal  verdict", "no figures"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &results{}
			tt.fill(r)
			var b strings.Builder
			if err := r.write(&b); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			rest := out
			for _, l := range tt.wantLines {
				i := strings.Index(rest, l)
				if i < 0 {
					t.Fatalf("want line %q (in order) in:\n%s", l, out)
				}
				rest = rest[i+len(l):]
			}
			err := r.err()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err %v, want none", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// A figure reported twice keeps the latest value in its first place.
func TestResultsReplace(t *testing.T) {
	r := &results{}
	r.info("a", "1")
	r.info("b", "2")
	r.goal("a", "3", "< 4", true, false)
	if len(r.figures) != 2 || r.figures[0].value != "3" || r.figures[0].verdict != verdictMet {
		t.Fatalf("figures %+v", r.figures)
	}
}
