package check

import (
	"errors"
	"fmt"
	"sort"
)

// Watch event types.
const (
	Added    = "ADDED"
	Modified = "MODIFIED"
	Deleted  = "DELETED"
)

// Event is one watch event as a client received it. BOOKMARK and ERROR
// events are not Events: the recorder leaves them out.
type Event struct {
	// Type is Added, Modified or Deleted.
	Type string
	// Key is the object's namespace/name.
	Key string
	// RV is the object's resourceVersion in the event.
	RV uint64
}

// String describes the event as "TYPE key@rv".
func (e Event) String() string { return fmt.Sprintf("%s %s@%d", e.Type, e.Key, e.RV) }

// CheckWatch checks one watch stream started at startRV on its own:
//   - every event's RV is strictly greater than startRV;
//   - RVs are non-decreasing (several events may share an RV: one Raft
//     entry can change several objects);
//   - no event (Type, Key, RV) appears twice;
//   - per key, the types make sense: no ADDED while the stream shows the
//     key existing, only ADDED after a DELETED (the first event of a key
//     may be anything: the stream does not show the state at startRV).
//
// It returns the first violation.
func CheckWatch(events []Event, startRV uint64) error {
	if err := checkOrder(events, startRV); err != nil {
		return err
	}
	exists := map[string]bool{} // key -> exists, per the stream so far
	for i, e := range events {
		was, known := exists[e.Key]
		switch {
		case known && was && e.Type == Added:
			return fmt.Errorf("event %d (%v): ADDED for an object the stream shows existing", i, e)
		case known && !was && e.Type != Added:
			return fmt.Errorf("event %d (%v): %s after DELETED", i, e, e.Type)
		}
		exists[e.Key] = e.Type != Deleted
	}
	return nil
}

// checkOrder checks the types, the RVs against startRV and each other, and
// duplicates.
func checkOrder(events []Event, startRV uint64) error {
	seen := map[Event]int{}
	for i, e := range events {
		switch e.Type {
		case Added, Modified, Deleted:
		default:
			return fmt.Errorf("event %d (%v): invalid type", i, e)
		}
		if e.RV <= startRV {
			return fmt.Errorf("event %d (%v): RV not after start RV %d", i, e, startRV)
		}
		if i > 0 && e.RV < events[i-1].RV {
			return fmt.Errorf("event %d (%v): reordered, after event %d (%v)", i, e, i-1, events[i-1])
		}
		if j, dup := seen[e]; dup {
			return fmt.Errorf("event %d (%v): duplicate of event %d", i, e, j)
		}
		seen[e] = i
	}
	return nil
}

// CheckWatchAgainst checks that a watch stream started at startRV is exactly
// the part of history (the canonical, complete sequence of changes, e.g. a
// watch from RV 0 on a healthy cluster, or the changes recorded by the FSM)
// whose RVs are greater than startRV: no gap, no duplicate, no extra event,
// same order. history is cut by the caller to where the stream should have
// ended (a stream that stopped early has a gap at its end).
//
// Events sharing one RV were made by one Raft entry; their relative order
// carries no meaning for clients, so within an RV the events are compared as
// a set. Across RVs the order must be the history's.
func CheckWatchAgainst(events []Event, startRV uint64, history []Event) error {
	if err := CheckWatch(history, 0); err != nil {
		return fmt.Errorf("invalid history: %w", err)
	}
	// Types are left to the comparison: a gap would often show first as a
	// strange type sequence, and "missing X" is the better report.
	if err := checkOrder(events, startRV); err != nil {
		return err
	}
	i := sort.Search(len(history), func(i int) bool { return history[i].RV > startRV })
	want := groupByRV(history[i:])
	got := groupByRV(events)
	for len(want) > 0 || len(got) > 0 {
		switch {
		case len(got) == 0 || (len(want) > 0 && want[0][0].RV < got[0][0].RV):
			return fmt.Errorf("gap: missing %v", want[0])
		case len(want) == 0 || got[0][0].RV < want[0][0].RV:
			return fmt.Errorf("unexpected %v: not in the history", got[0])
		}
		if missing, extra := diff(want[0], got[0]); len(missing)+len(extra) > 0 {
			return fmt.Errorf("at RV %d: missing %v, unexpected %v", want[0][0].RV, missing, extra)
		}
		want, got = want[1:], got[1:]
	}
	return nil
}

// groupByRV splits events sorted by RV into runs of one RV.
func groupByRV(events []Event) [][]Event {
	var groups [][]Event
	for i, e := range events {
		if i == 0 || e.RV != events[i-1].RV {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], e)
	}
	return groups
}

// diff returns the events of want not in got, and of got not in want.
func diff(want, got []Event) (missing, extra []Event) {
	in := map[Event]bool{}
	for _, e := range got {
		in[e] = true
	}
	for _, e := range want {
		if !in[e] {
			missing = append(missing, e)
		}
		delete(in, e)
	}
	for _, e := range got {
		if in[e] {
			extra = append(extra, e)
		}
	}
	return missing, extra
}

// CheckWritesSeen checks a complete watch history (one that ran from before
// the first op to after the last acknowledged one) against the ops: every
// acknowledged Create and Update that reported its resourceVersion appears
// as an ADDED or MODIFIED event of its key at that resourceVersion, and
// every event's resourceVersion is one a write of that key could have made
// (an acknowledged or unknown Create/Update/Delete of the key exists). It
// returns every violation, at most ten.
func CheckWritesSeen(ops []Op, history []Event) error {
	seen := map[Event]bool{}
	keys := map[string]bool{}
	for _, e := range history {
		seen[Event{Key: e.Key, RV: e.RV}] = e.Type != Deleted
		keys[e.Key] = true
	}
	writers := map[string]bool{}
	var errs []error
	for _, op := range ops {
		if op.Kind == Get || op.Outcome == Failed {
			continue
		}
		writers[op.Key] = true
		if op.Outcome != OK || op.Kind == Delete || op.RV == "" {
			continue
		}
		rv, err := parseRV(op.RV)
		if err != nil {
			return err
		}
		if !seen[Event{Key: op.Key, RV: rv}] && len(errs) < 10 {
			errs = append(errs, fmt.Errorf("acknowledged write not in the watch: %v", op))
		}
	}
	for k := range keys {
		if !writers[k] && len(errs) < 10 {
			errs = append(errs, fmt.Errorf("the watch shows key %s, which no write touched", k))
		}
	}
	return errors.Join(errs...)
}
