package chaos

import (
	"fmt"
	"testing"
	"time"

	"orch.io/orch/test/chaos/check"
)

func TestLastAcked(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond) }
	w := func(kind check.OpKind, key, value string, call, ret int, out check.Outcome) check.Op {
		op := check.Op{Kind: kind, Key: key, Value: value, Call: at(call), Outcome: out}
		if out != check.Unknown {
			op.Return = at(ret)
		}
		return op
	}
	ops := []check.Op{
		// a: two sequential writes, the last one counts.
		w(check.Create, "a", "1", 0, 10, check.OK),
		w(check.Update, "a", "2", 20, 30, check.OK),
		// b: created then deleted.
		w(check.Create, "b", "1", 0, 10, check.OK),
		w(check.Delete, "b", "", 20, 30, check.OK),
		// c: an unknown write: left to the linearizability check.
		w(check.Create, "c", "1", 0, 10, check.OK),
		w(check.Update, "c", "2", 20, 0, check.Unknown),
		// d: the last two acknowledged writes overlap: order unknown.
		w(check.Create, "d", "1", 0, 10, check.OK),
		w(check.Update, "d", "2", 20, 40, check.OK),
		w(check.Update, "d", "3", 30, 50, check.OK),
		// e: failures and reads do not count.
		w(check.Create, "e", "1", 0, 10, check.OK),
		w(check.Update, "e", "2", 20, 30, check.Failed),
		{Kind: check.Get, Key: "e", Call: at(40), Return: at(50), Outcome: check.OK, Found: true, GotValue: "1"},
	}
	acked, deleted, clean := lastAcked(ops)
	if got, want := fmt.Sprint(acked), "map[a:2 e:1]"; got != want {
		t.Errorf("acked = %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(deleted), "map[b:true]"; got != want {
		t.Errorf("deleted = %s, want %s", got, want)
	}
	if clean != 3 {
		t.Errorf("clean = %d, want 3", clean)
	}
}

func TestInWindow(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond) }
	ws := []window{{at(1000), at(2000)}, {at(5000), at(6000)}}
	for _, tc := range []struct {
		call, ret int
		want      bool
	}{
		{1500, 1600, true},  // inside
		{900, 1100, true},   // called before, answered inside
		{900, 950, false},   // entirely before
		{2500, 2600, true},  // within the second after
		{3100, 3200, false}, // between the windows
		{4000, 7000, true},  // spans a window
		{7100, 7200, false}, // after everything
	} {
		if got := inWindow(ws, at(tc.call), at(tc.ret)); got != tc.want {
			t.Errorf("inWindow(%d..%d) = %v, want %v", tc.call, tc.ret, got, tc.want)
		}
	}
}
