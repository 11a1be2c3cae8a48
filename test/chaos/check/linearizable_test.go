package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// at is tick n of a test history.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

func create(c int, key, v, rv string, call, ret int) Op {
	return Op{ClientID: c, Kind: Create, Key: key, Value: v, Call: at(call), Return: at(ret), Outcome: OK, RV: rv}
}

func update(c int, key, v, expect, rv string, call, ret int) Op {
	return Op{ClientID: c, Kind: Update, Key: key, Value: v, ExpectRV: expect, Call: at(call), Return: at(ret), Outcome: OK, RV: rv}
}

func del(c int, key string, call, ret int) Op {
	return Op{ClientID: c, Kind: Delete, Key: key, Call: at(call), Return: at(ret), Outcome: OK}
}

func get(c int, key, v, rv string, call, ret int) Op {
	return Op{ClientID: c, Kind: Get, Key: key, Call: at(call), Return: at(ret), Outcome: OK, GotValue: v, RV: rv, Found: true}
}

func getNone(c int, key string, call, ret int) Op {
	return Op{ClientID: c, Kind: Get, Key: key, Call: at(call), Return: at(ret), Outcome: OK}
}

// failed turns op into a definite failure with reason.
func failed(op Op, reason string) Op {
	op.Outcome, op.Reason, op.RV = Failed, reason, ""
	return op
}

// unknown turns op into one whose answer never came back.
func unknown(op Op) Op {
	op.Outcome, op.Return, op.RV = Unknown, time.Time{}, ""
	return op
}

const a, b = "ns/a", "ns/b"

func TestLinearizable(t *testing.T) {
	tests := []struct {
		name string
		ops  []Op
		ok   bool
	}{
		// Create
		{"create then get", []Op{create(0, a, "1", "5", 0, 1), get(1, a, "1", "5", 2, 3)}, true},
		{"get before create", []Op{getNone(1, a, 0, 1), create(0, a, "1", "5", 2, 3)}, true},
		{"two creates both OK", []Op{create(0, a, "1", "5", 0, 1), create(1, a, "2", "6", 2, 3)}, false},
		{"concurrent creates both OK", []Op{create(0, a, "1", "5", 0, 3), create(1, a, "2", "6", 1, 4)}, false},
		{"concurrent creates, one AlreadyExists", []Op{create(0, a, "1", "5", 0, 3), failed(create(1, a, "2", "", 1, 4), ReasonAlreadyExists)}, true},
		{"AlreadyExists on absent key", []Op{failed(create(1, a, "2", "", 0, 1), ReasonAlreadyExists)}, false},
		{"create rv not above deleted rv", []Op{create(0, a, "1", "5", 0, 1), del(0, a, 2, 3), create(0, a, "2", "4", 4, 5)}, false},
		{"unknown create later seen", []Op{unknown(create(0, a, "1", "", 0, 0)), getNone(1, a, 1, 2), get(1, a, "1", "7", 10, 11)}, true},
		{"unknown create never seen", []Op{unknown(create(0, a, "1", "", 0, 0)), getNone(1, a, 1, 2)}, true},
		{"unknown create, other create wins", []Op{unknown(create(0, a, "1", "", 0, 0)), create(1, a, "2", "6", 1, 2), get(1, a, "2", "6", 3, 4)}, true},
		{"unknown create seen then gone", []Op{unknown(create(0, a, "1", "", 0, 0)), get(1, a, "1", "7", 1, 2), getNone(1, a, 3, 4)}, false},
		{"unknown create seen before call", []Op{get(1, a, "1", "7", 0, 1), unknown(create(0, a, "1", "", 2, 0))}, false},
		// Update
		{"CAS chain", []Op{create(0, a, "1", "5", 0, 1), update(0, a, "2", "5", "7", 2, 3), update(1, a, "3", "7", "9", 4, 5), get(1, a, "3", "9", 6, 7)}, true},
		{"unconditional update", []Op{create(0, a, "1", "5", 0, 1), update(0, a, "2", "", "7", 2, 3), get(1, a, "2", "7", 4, 5)}, true},
		{"stale read after acked update", []Op{create(0, a, "1", "5", 0, 1), update(0, a, "2", "5", "7", 2, 3), get(1, a, "1", "5", 4, 5)}, false},
		{"read concurrent with update sees old", []Op{create(0, a, "1", "5", 0, 1), update(0, a, "2", "5", "7", 2, 6), get(1, a, "1", "5", 3, 4)}, true},
		{"read concurrent with update sees new", []Op{create(0, a, "1", "5", 0, 1), update(0, a, "2", "5", "7", 2, 6), get(1, a, "2", "7", 3, 4)}, true},
		{"CAS succeeded with stale ExpectRV", []Op{create(0, a, "1", "5", 0, 1), update(0, a, "2", "5", "7", 2, 3), update(1, a, "3", "5", "9", 4, 5)}, false},
		{"conflict on stale ExpectRV", []Op{create(0, a, "1", "5", 0, 1), update(0, a, "2", "5", "7", 2, 3), failed(update(1, a, "3", "5", "", 4, 5), ReasonConflict)}, true},
		{"conflict on matching ExpectRV", []Op{create(0, a, "1", "5", 0, 1), failed(update(1, a, "3", "5", "", 2, 3), ReasonConflict)}, false},
		{"update rv going back", []Op{create(0, a, "1", "7", 0, 1), update(0, a, "2", "7", "5", 2, 3)}, false},
		{"update NotFound on absent key", []Op{failed(update(0, a, "2", "5", "", 0, 1), ReasonNotFound)}, true},
		{"update NotFound on existing key", []Op{create(0, a, "1", "5", 0, 1), failed(update(0, a, "2", "5", "", 2, 3), ReasonNotFound)}, false},
		{"update OK on absent key", []Op{update(0, a, "2", "", "5", 0, 1)}, false},
		{"unknown update seen, then CAS on its rv", []Op{create(0, a, "1", "5", 0, 1), unknown(update(0, a, "2", "5", "", 2, 0)),
			get(1, a, "2", "8", 3, 4), update(1, a, "3", "8", "9", 5, 6), get(1, a, "3", "9", 7, 8)}, true},
		{"unknown update CAS'd blindly", []Op{create(0, a, "1", "5", 0, 1), unknown(update(0, a, "2", "5", "", 2, 0)),
			update(1, a, "3", "8", "9", 5, 6)}, true},
		{"unknown update CAS'd with an old rv", []Op{create(0, a, "1", "5", 0, 1), update(0, a, "2", "5", "6", 2, 3),
			unknown(update(0, a, "3", "6", "", 4, 0)), update(1, a, "4", "5", "9", 5, 6)}, false},
		{"unknown update applied late", []Op{create(0, a, "1", "5", 0, 1), unknown(update(0, a, "2", "5", "", 2, 0)),
			get(1, a, "1", "5", 3, 4), get(1, a, "2", "8", 5, 6)}, true},
		{"unknown update undone", []Op{create(0, a, "1", "5", 0, 1), unknown(update(0, a, "2", "5", "", 2, 0)),
			get(1, a, "2", "8", 3, 4), get(1, a, "1", "5", 5, 6)}, false},
		{"unknown update seen with an old rv", []Op{create(0, a, "1", "5", 0, 1), unknown(update(0, a, "2", "5", "", 2, 0)),
			get(1, a, "2", "5", 3, 4)}, false},
		// Delete
		{"create delete get", []Op{create(0, a, "1", "5", 0, 1), del(0, a, 2, 3), getNone(1, a, 4, 5)}, true},
		{"read after acked delete", []Op{create(0, a, "1", "5", 0, 1), del(0, a, 2, 3), get(1, a, "1", "5", 4, 5)}, false},
		{"two deletes both OK", []Op{create(0, a, "1", "5", 0, 1), del(0, a, 2, 3), del(1, a, 4, 5)}, false},
		{"delete NotFound on absent key", []Op{failed(del(0, a, 0, 1), ReasonNotFound)}, true},
		{"delete NotFound on existing key", []Op{create(0, a, "1", "5", 0, 1), failed(del(0, a, 2, 3), ReasonNotFound)}, false},
		{"unknown delete then recreate", []Op{create(0, a, "1", "5", 0, 1), unknown(del(0, a, 2, 0)), getNone(1, a, 3, 4), create(1, a, "2", "9", 5, 6)}, true},
		{"unknown delete not applied", []Op{create(0, a, "1", "5", 0, 1), unknown(del(0, a, 2, 0)), get(1, a, "1", "5", 3, 4)}, true},
		// Get
		{"get on empty key", []Op{getNone(0, a, 0, 1)}, true},
		{"get finds a never created key", []Op{get(0, a, "1", "5", 0, 1)}, false},
		{"get wrong rv", []Op{create(0, a, "1", "5", 0, 1), get(1, a, "1", "6", 2, 3)}, false},
		{"get NotFound reason", []Op{failed(getNone(0, a, 0, 1), ReasonNotFound), create(0, a, "1", "5", 2, 3)}, true},
		{"unknown get dropped", []Op{unknown(get(0, a, "x", "", 0, 0)), create(0, a, "1", "5", 2, 3)}, true},
		// Dropped failures
		{"503 create had no effect", []Op{failed(create(0, a, "1", "", 0, 1), "ServiceUnavailable"), getNone(1, a, 2, 3)}, true},
		{"422 update had no effect", []Op{create(0, a, "1", "5", 0, 1), failed(update(0, a, "2", "5", "", 2, 3), "Invalid"), get(1, a, "1", "5", 4, 5)}, true},
		// Partitioning
		{"two keys interleaved", []Op{create(0, a, "1", "5", 0, 3), create(1, b, "x", "6", 1, 2), update(0, b, "y", "6", "8", 4, 5),
			get(1, a, "1", "5", 4, 6), get(0, b, "y", "8", 7, 8)}, true},
		{"same rv on two keys is not a per-key matter", []Op{create(0, a, "1", "5", 0, 1), create(1, b, "1", "5", 0, 1)}, true},
		{"violation on one key of two", []Op{create(0, a, "1", "5", 0, 1), create(1, b, "x", "6", 0, 1), update(0, b, "y", "6", "8", 2, 3),
			get(1, b, "x", "6", 4, 5), get(0, a, "1", "5", 4, 5)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Linearizable(tt.ops, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != tt.ok || res.TimedOut {
				t.Fatalf("OK = %v (timed out %v), want %v; info: %s", res.OK, res.TimedOut, tt.ok, res.Info)
			}
			if !res.OK && res.Info == "" {
				t.Fatal("violation without Info")
			}
			t.Logf("%+v", res)
		})
	}
}

func TestLinearizableResult(t *testing.T) {
	ops := []Op{
		create(0, a, "1", "5", 0, 1), create(1, b, "x", "6", 0, 1),
		update(0, b, "y", "6", "8", 2, 3),
		get(1, b, "x", "6", 4, 5), // stale
		unknown(update(0, a, "2", "5", "", 4, 0)),
		failed(update(1, a, "2", "5", "", 6, 7), "ServiceUnavailable"),
	}
	path := filepath.Join(t.TempDir(), "viz.html")
	res, err := Linearizable(ops, 10*time.Second, WithVisualization(path))
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Keys: 2, Ops: 5, Unknown: 1, Dropped: 1, Visualization: path}
	got := res
	got.Info = ""
	if got != want {
		t.Errorf("result = %+v, want %+v", got, want)
	}
	for _, s := range []string{"key ns/b", `Get ns/b -> OK value="x" rv=6`} {
		if !strings.Contains(res.Info, s) {
			t.Errorf("Info %q does not contain %q", res.Info, s)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("visualization not written: %v", err)
	}
}

func TestLinearizableInvalid(t *testing.T) {
	bad := func(f func(*Op)) []Op {
		op := create(0, a, "1", "5", 0, 1)
		f(&op)
		return []Op{op}
	}
	tests := []struct {
		name string
		ops  []Op
	}{
		{"zero kind", bad(func(op *Op) { op.Kind = 0 })},
		{"zero outcome", bad(func(op *Op) { op.Outcome = 0 })},
		{"empty key", bad(func(op *Op) { op.Key = "" })},
		{"bad rv", bad(func(op *Op) { op.RV = "abc" })},
		{"zero rv", bad(func(op *Op) { op.RV = "0" })},
		{"bad expectRV", bad(func(op *Op) { op.ExpectRV = "-1" })},
		{"return before call", bad(func(op *Op) { op.Return = at(-1) })},
		{"no return on OK", bad(func(op *Op) { op.Return = time.Time{} })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Linearizable(tt.ops, time.Second); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestLinearizableEmpty(t *testing.T) {
	res, err := Linearizable(nil, time.Second)
	if err != nil || !res.OK || res.Keys != 0 {
		t.Fatalf("got %+v, %v", res, err)
	}
}
