package check

import (
	"errors"
	"fmt"
	"sort"
)

// CheckNoLostWrites checks that no acknowledged write was lost.
//
// acked maps each key to the value of its last acknowledged write, deletedAck
// marks the keys whose last acknowledged op was a Delete (after any write in
// acked), and final is what a read of every key returned at the end (absent
// keys are missing from it). The caller keeps in acked and deletedAck only
// keys that no op of unknown outcome touched after their last acknowledged
// op; for the others, use [Linearizable].
//
// Every acknowledged value must be read back, and every acknowledged delete
// must still hold: a key in deletedAck must be absent from final (a
// resurrected object is a lost delete). Keys of final found in neither map
// are not checked. All violations are reported, in key order.
func CheckNoLostWrites(acked map[string]string, final map[string]string, deletedAck map[string]bool) error {
	keys := make([]string, 0, len(acked)+len(deletedAck))
	for k := range acked {
		keys = append(keys, k)
	}
	for k, del := range deletedAck {
		if _, dup := acked[k]; del && !dup {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		got, ok := final[k]
		switch {
		case deletedAck[k] && ok:
			errs = append(errs, fmt.Errorf("key %s: deleted (acknowledged) but read back with value %q", k, got))
		case deletedAck[k]:
		case !ok:
			errs = append(errs, fmt.Errorf("key %s: acknowledged value %q lost: key absent", k, acked[k]))
		case got != acked[k]:
			errs = append(errs, fmt.Errorf("key %s: acknowledged value %q lost: read %q", k, acked[k], got))
		}
	}
	return errors.Join(errs...)
}

// rvWrite is an OK write with its parsed resourceVersion.
type rvWrite struct {
	op Op
	rv uint64
}

// CheckRVs checks the resourceVersions returned by OK writes (Create and
// Update with a non-empty RV):
//   - they are unique, across keys as well (each is the index of a distinct
//     Raft entry);
//   - they respect real time: a write that returned before another was
//     called has a smaller RV.
//
// It returns the first violation of each kind.
func CheckRVs(ops []Op) error {
	var writes []rvWrite
	for i, op := range ops {
		if op.Outcome != OK || (op.Kind != Create && op.Kind != Update) || op.RV == "" {
			continue
		}
		rv, err := parseRV(op.RV)
		if err != nil {
			return fmt.Errorf("op %d (%v): %w", i, op, err)
		}
		if op.Return.Before(op.Call) {
			return fmt.Errorf("op %d (%v): returned before it was called", i, op)
		}
		writes = append(writes, rvWrite{op: op, rv: rv})
	}
	var errs []error
	byRV := map[uint64]Op{}
	for _, w := range writes {
		if prev, dup := byRV[w.rv]; dup {
			errs = append(errs, fmt.Errorf("rv %d returned twice: [%v] and [%v]", w.rv, prev, w.op))
			break
		}
		byRV[w.rv] = w.op
	}
	if err := checkRVOrder(writes); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkRVOrder checks that every write has a larger RV than all the writes
// that returned before it was called. Writes are swept in call order while
// the writes that have returned by then are folded into a running maximum.
func checkRVOrder(writes []rvWrite) error {
	byCall := append([]rvWrite(nil), writes...)
	sort.SliceStable(byCall, func(i, j int) bool { return byCall[i].op.Call.Before(byCall[j].op.Call) })
	byReturn := append([]rvWrite(nil), writes...)
	sort.SliceStable(byReturn, func(i, j int) bool { return byReturn[i].op.Return.Before(byReturn[j].op.Return) })
	var maxDone *rvWrite
	r := 0
	for _, w := range byCall {
		for r < len(byReturn) && byReturn[r].op.Return.Before(w.op.Call) {
			if maxDone == nil || byReturn[r].rv > maxDone.rv {
				maxDone = &byReturn[r]
			}
			r++
		}
		if maxDone != nil && w.rv <= maxDone.rv {
			return fmt.Errorf("rv %d of [%v] is not greater than rv %d of [%v], which returned before it was called",
				w.rv, w.op, maxDone.rv, maxDone.op)
		}
	}
	return nil
}
