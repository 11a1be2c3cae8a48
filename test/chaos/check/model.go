package check

import (
	"fmt"
	"hash/fnv"
	"sort"

	"github.com/anishathalye/porcupine"
)

// input is the porcupine input of an op.
type input struct {
	key      string
	kind     OpKind
	value    string
	expectRV uint64 // 0: unconditional
}

// output is the porcupine output of an op.
type output struct {
	outcome Outcome // OK, Failed (informative reason only) or Unknown
	reason  string
	rv      uint64 // 0: not reported
	value   string // Get
	found   bool   // Get
}

// state is the model of one key; see the package documentation.
type state struct {
	exists bool
	value  string
	rv     uint64 // 0 while exists: written by an unknown-outcome op, not yet seen
	floor  uint64 // largest resourceVersion known to be assigned to this key
}

// written is the state after a write of value that got resourceVersion rv
// (0 if not reported) over s, or false if rv is not possible.
func (s state) written(value string, rv uint64) (state, bool) {
	if rv == 0 {
		return state{exists: true, value: value, floor: s.floor}, true
	}
	if rv <= s.floor {
		return state{}, false
	}
	return state{exists: true, value: value, rv: rv, floor: rv}, true
}

// matches reports whether an Update with expectRV may pass its precondition
// on s, and the state with rv pinned down by the match.
func (s state) matches(expectRV uint64) (state, bool) {
	switch {
	case !s.exists:
		return s, false
	case expectRV == 0 || s.rv == expectRV:
		return s, true
	case s.rv == 0 && expectRV > s.floor:
		s.rv, s.floor = expectRV, expectRV
		return s, true
	}
	return s, false
}

// applied returns the states after in was applied with out.rv as its
// resourceVersion; nil if it could not have been.
func applied(s state, in input, rv uint64) []any {
	var next state
	ok := false
	switch in.kind {
	case Create:
		if !s.exists {
			next, ok = s.written(in.value, rv)
		}
	case Update:
		if m, match := s.matches(in.expectRV); match {
			next, ok = m.written(in.value, rv)
		}
	case Delete:
		if s.exists {
			next, ok = state{floor: s.floor}, true
		}
	}
	if !ok {
		return nil
	}
	return []any{next}
}

// step is the nondeterministic step function: all states s can move to by
// taking in and answering out.
func step(st, in, out any) []any {
	s, i, o := st.(state), in.(input), out.(output)
	switch o.outcome {
	case Unknown:
		// Applied at some point after the call, or never.
		return append([]any{s}, applied(s, i, 0)...)
	case Failed:
		if failedOn(s, i, o.reason) {
			return []any{s}
		}
		return nil
	}
	if i.kind != Get {
		return applied(s, i, o.rv)
	}
	if !o.found {
		if s.exists {
			return nil
		}
		return []any{s}
	}
	if !s.exists || s.value != o.value {
		return nil
	}
	switch {
	case o.rv == 0 || o.rv == s.rv:
		return []any{s}
	case s.rv == 0 && o.rv > s.floor:
		s.rv, s.floor = o.rv, o.rv
		return []any{s}
	}
	return nil
}

// failedOn reports whether a precondition failure with reason is possible
// for in on s.
func failedOn(s state, in input, reason string) bool {
	switch reason {
	case ReasonAlreadyExists:
		return s.exists
	case ReasonNotFound:
		return !s.exists
	case ReasonConflict:
		if !s.exists {
			return true
		}
		// An unknown rv could be anything but the expected one.
		return in.expectRV != 0 && s.rv != in.expectRV
	}
	return false
}

// keyModel is the per-key model, partitioned by key.
func keyModel() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Partition: partitionByKey,
		Init:      func() []any { return []any{state{}} },
		Step:      step,
		Equal:     func(a, b any) bool { return a.(state) == b.(state) },
		Hash: func(st any) uint64 {
			s := st.(state)
			h := fnv.New64a()
			fmt.Fprintf(h, "%t\x00%s\x00%d\x00%d", s.exists, s.value, s.rv, s.floor)
			return h.Sum64()
		},
		DescribeOperation: describeOperation,
		DescribeState:     describeState,
	}
	return nm.ToModel()
}

// partitionByKey splits a history by key, keys in sorted order so the
// partition order is deterministic.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		k := op.Input.(input).key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, byKey[k])
	}
	return parts
}

func describeOperation(in, out any) string {
	i, o := in.(input), out.(output)
	s := i.kind.String() + "(" + i.key
	switch i.kind {
	case Create:
		s += fmt.Sprintf(", %q", i.value)
	case Update:
		s += fmt.Sprintf(", %q, expect=%d", i.value, i.expectRV)
	}
	s += ") -> "
	switch {
	case o.outcome == Failed:
		return s + o.reason
	case o.outcome == Unknown:
		return s + "?"
	case i.kind == Get && !o.found:
		return s + "not found"
	case i.kind == Get:
		return s + fmt.Sprintf("%q@%d", o.value, o.rv)
	}
	return s + fmt.Sprintf("ok@%d", o.rv)
}

func describeState(st any) string {
	s := st.(state)
	rv := "?"
	if s.rv != 0 {
		rv = fmt.Sprint(s.rv)
	}
	if !s.exists {
		return fmt.Sprintf("absent (floor %d)", s.floor)
	}
	return fmt.Sprintf("%q@%s (floor %d)", s.value, rv, s.floor)
}
