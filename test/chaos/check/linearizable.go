package check

import (
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"
)

// Result is the verdict of [Linearizable].
type Result struct {
	// OK is true when the history is linearizable. It is false both for a
	// violation and for a timeout (see TimedOut).
	OK bool
	// TimedOut is true when the checker gave up before deciding; no
	// violation was found in the time it had.
	TimedOut bool
	// Keys is the number of keys (partitions) checked.
	Keys int
	// Ops is the number of ops checked, Unknown ops included.
	Ops int
	// Unknown is the number of ops with an unknown outcome checked.
	Unknown int
	// Dropped is the number of ops left out: failures that had no effect
	// and tell nothing (e.g. 503), and Gets with no answer.
	Dropped int
	// Info describes a violation: the first failing key (in key order),
	// the longest prefix porcupine could linearize and the op it could
	// not place after it. Empty when OK.
	Info string
	// Visualization is the path of the HTML visualization, when requested
	// with WithVisualization and written.
	Visualization string
}

// Option configures [Linearizable].
type Option func(*options)

type options struct {
	visualization string
}

// WithVisualization writes porcupine's HTML visualization of the history
// (and of the partial linearizations of a failing key) to path.
func WithVisualization(path string) Option {
	return func(o *options) { o.visualization = path }
}

// Linearizable checks that ops, the history of every request made against
// the API, is linearizable with respect to the per-key object model described
// in the package documentation. timeout bounds each porcupine run (0: no
// limit); a violation or a visualization costs a second, verbose run.
//
// The error is for a history that cannot be interpreted (invalid kind,
// outcome or resourceVersion, missing timestamps) or a visualization that
// could not be written; a violation is reported in the Result.
func Linearizable(ops []Op, timeout time.Duration, opts ...Option) (Result, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	history, res, err := toPorcupine(ops)
	if err != nil {
		return Result{}, err
	}
	model := keyModel()
	parts := model.Partition(history)
	res.Keys = len(parts)

	switch porcupine.CheckOperationsTimeout(model, history, timeout) {
	case porcupine.Ok:
		res.OK = true
	case porcupine.Unknown:
		res.TimedOut = true
		res.Info = fmt.Sprintf("timed out after %v without finding a violation", timeout)
	case porcupine.Illegal:
		res.Info = diagnose(parts, timeout)
	}

	if o.visualization != "" {
		_, info := porcupine.CheckOperationsVerbose(model, history, timeout)
		if err := porcupine.VisualizePath(model, info, o.visualization); err != nil {
			return res, fmt.Errorf("write visualization: %w", err)
		}
		res.Visualization = o.visualization
	}
	return res, nil
}

// toPorcupine validates ops and converts those that are not dropped into
// porcupine operations, counting them in a Result. Timestamps are
// nanoseconds since the earliest call; unknown outcomes return after
// everything else.
func toPorcupine(ops []Op) ([]porcupine.Operation, Result, error) {
	var res Result
	if len(ops) == 0 {
		return nil, res, nil
	}
	base := ops[0].Call
	for i, op := range ops {
		if err := op.validate(); err != nil {
			return nil, res, fmt.Errorf("op %d (%v): %w", i, op, err)
		}
		if op.Call.Before(base) {
			base = op.Call
		}
	}
	var last int64
	history := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		if op.dropped() {
			res.Dropped++
			continue
		}
		expectRV, _ := parseRV(op.ExpectRV) // validated
		rv, _ := parseRV(op.RV)
		p := porcupine.Operation{
			ClientId: op.ClientID,
			Input:    input{key: op.Key, kind: op.Kind, value: op.Value, expectRV: expectRV},
			Call:     int64(op.Call.Sub(base)),
			Output: output{outcome: op.Outcome, reason: op.Reason, rv: rv,
				value: op.GotValue, found: op.Found},
			Metadata: op,
		}
		last = max(last, p.Call)
		if op.Outcome == Unknown {
			res.Unknown++
		} else {
			p.Return = int64(op.Return.Sub(base))
			last = max(last, p.Return)
		}
		history = append(history, p)
	}
	for i := range history {
		if history[i].Output.(output).outcome == Unknown {
			history[i].Return = last + 1
		}
	}
	res.Ops = len(history)
	return history, res, nil
}

// diagnose finds the first key whose sub-history is not linearizable and
// describes where porcupine got stuck, within timeout overall (0: no limit).
func diagnose(parts [][]porcupine.Operation, timeout time.Duration) string {
	model := keyModel()
	model.Partition = nil
	deadline := time.Now().Add(timeout)
	for _, part := range parts {
		left := time.Duration(0)
		if timeout > 0 {
			if left = time.Until(deadline); left <= 0 {
				return "not linearizable (timed out finding the failing key)"
			}
		}
		result, info := porcupine.CheckOperationsVerbose(model, part, left)
		switch result {
		case porcupine.Ok:
			continue
		case porcupine.Unknown:
			return "not linearizable (timed out finding the failing key)"
		}
		key := part[0].Input.(input).key
		var longest []porcupine.Operation
		for _, l := range info.PartialLinearizationsOperations()[0] {
			if len(l) > len(longest) {
				longest = l
			}
		}
		return fmt.Sprintf("key %s: %d ops not linearizable; %s", key, len(part), stuck(part, longest))
	}
	return "not linearizable (failing key not found)"
}

// stuck describes the longest linearizable prefix of part and the op with
// the earliest return that is not in it: the op that cannot be placed.
func stuck(part, prefix []porcupine.Operation) string {
	var blocked *porcupine.Operation
	for i := range part {
		p := &part[i]
		if placed(p, prefix) {
			continue
		}
		if blocked == nil || p.Return < blocked.Return {
			blocked = p
		}
	}
	s := fmt.Sprintf("longest linearizable prefix has %d ops", len(prefix))
	if n := len(prefix); n > 0 {
		s += fmt.Sprintf(", ending with [%v]", prefix[n-1].Metadata)
	}
	if blocked != nil {
		s += fmt.Sprintf("; cannot place [%v]", blocked.Metadata)
	}
	return s
}

// placed reports whether p is one of the ops of prefix.
func placed(p *porcupine.Operation, prefix []porcupine.Operation) bool {
	for _, q := range prefix {
		if q.Call == p.Call && q.ClientId == p.ClientId && q.Input == p.Input {
			return true
		}
	}
	return false
}
