package check

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"
)

// simulate returns a history of n random ops by clients on keys, produced
// by a correct store: each op takes effect at a point between its call and
// return, with a fresh cluster-wide RV. About one write in unknownEvery has
// its answer lost (and is applied or not, at random).
func simulate(r *rand.Rand, n, clients int, keys []string, unknownEvery int) []Op {
	type obj struct {
		value string
		rv    uint64
	}
	type pending struct {
		op      Op
		at      int // linearization point
		applied bool
	}
	ps := make([]pending, n)
	free := make([]int, clients) // next tick each client is free
	for i := range ps {
		c := r.IntN(clients)
		call := free[c] + r.IntN(3)
		lin := call + r.IntN(5)
		ret := lin + r.IntN(5)
		free[c] = ret + 1
		op := Op{ClientID: c, Kind: OpKind(1 + r.IntN(4)), Key: keys[r.IntN(len(keys))], Call: at(call), Return: at(ret)}
		op.Value = strconv.Itoa(i)
		ps[i] = pending{op: op, at: lin, applied: true}
		if op.Kind != Get && r.IntN(unknownEvery) == 0 {
			ps[i].op.Outcome = Unknown
			ps[i].op.Return = time.Time{}
			ps[i].applied = r.IntN(2) == 0
			ps[i].at += r.IntN(50) // may land long after the client gave up
			free[c] = call + 1
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].at < ps[j].at })
	store := map[string]obj{}
	var rv uint64
	for i := range ps {
		op := &ps[i].op
		cur, exists := store[op.Key]
		if op.Kind == Update && r.IntN(2) == 0 && exists {
			expect := cur.rv
			if expect > 1 && r.IntN(2) == 0 {
				expect-- // stale
			}
			op.ExpectRV = strconv.FormatUint(expect, 10)
		}
		unknown := op.Outcome == Unknown
		if unknown && !ps[i].applied {
			continue
		}
		if !unknown {
			op.Outcome = OK
		}
		fail := func(reason string) {
			if !unknown {
				op.Outcome, op.Reason = Failed, reason
			}
		}
		switch op.Kind {
		case Create:
			if exists {
				fail(ReasonAlreadyExists)
				break
			}
			rv++
			store[op.Key] = obj{op.Value, rv}
		case Update:
			if !exists {
				fail(ReasonNotFound)
				break
			}
			if op.ExpectRV != "" && op.ExpectRV != strconv.FormatUint(cur.rv, 10) {
				fail(ReasonConflict)
				break
			}
			rv++
			store[op.Key] = obj{op.Value, rv}
		case Delete:
			if !exists {
				fail(ReasonNotFound)
				break
			}
			rv++ // the delete is a Raft entry too
			delete(store, op.Key)
		case Get:
			op.Found, op.GotValue = exists, cur.value
			if exists {
				op.RV = strconv.FormatUint(cur.rv, 10)
			}
			continue
		}
		if op.Outcome == OK && op.Kind != Delete {
			op.RV = strconv.FormatUint(rv, 10)
		}
	}
	ops := make([]Op, len(ps))
	for i, p := range ps {
		ops[i] = p.op
		if ops[i].Outcome == 0 { // unapplied, and never answered
			ops[i].Outcome = Unknown
		}
	}
	return ops
}

func TestLinearizableRandom(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		ops := simulate(r, 300, 5, []string{a, b, "ns/c"}, 8)
		res, err := Linearizable(ops, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK {
			t.Fatalf("seed %d: %+v", seed, res)
		}
		if err := CheckRVs(ops); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// TestLinearizableRandomStale makes one read of a correct history return a
// value that was overwritten before the read was called: always a violation.
func TestLinearizableRandomStale(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	ops := []Op{create(0, a, "0", "1", 0, 1), update(0, a, "1", "1", "2", 2, 3)}
	ops = append(ops, simulateOther(r, 200)...)
	ops = append(ops, get(1, a, "0", "1", 4, 5))
	res, err := Linearizable(ops, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK {
		t.Fatalf("stale read accepted: %+v", res)
	}
}

// simulateOther is a correct random history on keys other than a, with RVs
// above those used on a.
func simulateOther(r *rand.Rand, n int) []Op {
	ops := simulate(r, n, 4, []string{b, "ns/c"}, 8)
	for i := range ops {
		for _, p := range []*string{&ops[i].RV, &ops[i].ExpectRV} {
			if v, err := strconv.ParseUint(*p, 10, 64); err == nil {
				*p = strconv.FormatUint(v+10, 10)
			}
		}
	}
	return ops
}
