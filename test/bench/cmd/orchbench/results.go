package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
)

// The end-of-run summary: every section reports its figures into one
// results collector as it runs, each with its goal and whether the goal
// was met, and a full run ends by printing them as one table. Figures a
// full run is expected to give (issue 17's list) are named up front, so a
// section that did not run or failed leaves a visible hole, not a missing
// line. A section's error is kept and fails the run after the table.

// verdict is how a figure stands against its goal.
type verdict int

const (
	// verdictInfo is a figure with no goal.
	verdictInfo verdict = iota
	// verdictMet is a figure within its goal on a quiet machine.
	verdictMet
	// verdictNotMet is a figure outside its goal on a quiet machine.
	verdictNotMet
	// verdictNoisy is a figure taken while other processes took more CPU
	// than bench.NoisyOther allows: neither met nor missed.
	verdictNoisy
	// verdictMissing is an expected figure no section reported.
	verdictMissing
)

func (v verdict) String() string {
	switch v {
	case verdictMet:
		return "met"
	case verdictNotMet:
		return "NOT MET"
	case verdictNoisy:
		return "NOISY"
	case verdictMissing:
		return "NOT MEASURED"
	default:
		return "-"
	}
}

// figure is one line of the summary.
type figure struct {
	name, value, goal string
	verdict           verdict
	// section names who reports it, for an expected figure not reported.
	section string
}

// sectionError is a section's failure.
type sectionError struct {
	section string
	err     error
}

// results collects the figures of one run. The zero value is ready; it is
// safe for concurrent use.
type results struct {
	mu      sync.Mutex
	figures []figure
	errs    []sectionError
}

// expect names a figure section should report; until it does, the summary
// shows it as not measured.
func (r *results) expect(section, name, goal string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := r.find(name); i >= 0 {
		return
	}
	r.figures = append(r.figures, figure{name: name, goal: goal, verdict: verdictMissing, section: section})
}

// find returns the index of the figure called name, or -1. Called with mu held.
func (r *results) find(name string) int {
	for i, f := range r.figures {
		if f.name == name {
			return i
		}
	}
	return -1
}

// put records a figure, in the place an expect gave it if any.
func (r *results) put(f figure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := r.find(f.name); i >= 0 {
		f.section = r.figures[i].section
		r.figures[i] = f
		return
	}
	r.figures = append(r.figures, f)
}

// goal records a figure beside its goal: met says whether the value is
// within it, noisy whether the machine was too busy for either verdict.
func (r *results) goal(name, value, goal string, met, noisy bool) {
	v := verdictNotMet
	switch {
	case noisy:
		v = verdictNoisy
	case met:
		v = verdictMet
	}
	r.put(figure{name: name, value: value, goal: goal, verdict: v})
}

// info records a figure that has no goal.
func (r *results) info(name, value string) {
	r.put(figure{name: name, value: value, verdict: verdictInfo})
}

// fail records a section's error; nil is ignored.
func (r *results) fail(section string, err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, sectionError{section: section, err: err})
}

// run runs one section and records its error (returned too).
func (r *results) run(section string, f func() error) error {
	err := f()
	r.fail(section, err)
	return err
}

// err joins the sections' errors, each naming its section; nil when none
// failed.
func (r *results) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, e := range r.errs {
		errs = append(errs, fmt.Errorf("%s section: %w", e.section, e.err))
	}
	return errors.Join(errs...)
}

// write prints the summary table: one line per figure (value, goal,
// verdict), then the counts of each verdict and the sections that failed.
func (r *results) write(w io.Writer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tgoal\tverdict")
	counts := map[verdict]int{}
	for _, f := range r.figures {
		value, goal := f.value, f.goal
		if f.verdict == verdictMissing {
			value = "(section " + f.section + " reported nothing)"
		}
		if goal == "" {
			goal = "-"
		}
		counts[f.verdict]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.name, oneLine(value), goal, f.verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var parts []string
	for _, v := range []verdict{verdictMet, verdictNotMet, verdictNoisy, verdictMissing, verdictInfo} {
		if counts[v] > 0 {
			name := v.String()
			if v == verdictInfo {
				name = "without a goal"
			}
			parts = append(parts, fmt.Sprintf("%d %s", counts[v], name))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "no figures")
	}
	fmt.Fprintf(w, "%s\n", strings.Join(parts, ", "))
	for _, e := range r.errs {
		fmt.Fprintf(w, "FAILED: %s section: %s\n", e.section, oneLine(e.err.Error()))
	}
	return nil
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
