package check

import (
	"strings"
	"testing"
	"time"
)

func ev(typ, key string, rv uint64) Event { return Event{Type: typ, Key: key, RV: rv} }

func TestCheckWatch(t *testing.T) {
	tests := []struct {
		name    string
		events  []Event
		start   uint64
		wantErr string // "" for no error
	}{
		{"empty", nil, 5, ""},
		{"ordered", []Event{ev(Added, a, 6), ev(Modified, a, 7), ev(Deleted, a, 9), ev(Added, a, 10)}, 5, ""},
		{"shared RV", []Event{ev(Added, a, 6), ev(Added, b, 6), ev(Modified, a, 7)}, 5, ""},
		{"first event of a key may be anything", []Event{ev(Modified, a, 6), ev(Deleted, b, 7)}, 5, ""},
		{"at start RV", []Event{ev(Modified, a, 5)}, 5, "not after start RV"},
		{"before start RV", []Event{ev(Modified, a, 6), ev(Modified, b, 3)}, 5, "not after start RV"},
		{"reorder", []Event{ev(Modified, a, 8), ev(Modified, b, 7)}, 5, "reordered"},
		{"duplicate", []Event{ev(Modified, a, 7), ev(Modified, a, 7)}, 5, "duplicate"},
		{"duplicate with event between", []Event{ev(Modified, a, 7), ev(Modified, b, 7), ev(Modified, a, 7)}, 5, "duplicate"},
		{"added twice", []Event{ev(Added, a, 6), ev(Added, a, 7)}, 5, "ADDED for an object"},
		{"modified after deleted", []Event{ev(Deleted, a, 6), ev(Modified, a, 7)}, 5, "after DELETED"},
		{"invalid type", []Event{ev("BOOKMARK", a, 6)}, 5, "invalid type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, CheckWatch(tt.events, tt.start), tt.wantErr)
		})
	}
}

func TestCheckWatchAgainst(t *testing.T) {
	history := []Event{
		ev(Added, a, 3), ev(Added, b, 4), ev(Modified, a, 6), ev(Modified, b, 6),
		ev(Deleted, a, 7), ev(Modified, b, 9), ev(Added, a, 10),
	}
	tests := []struct {
		name    string
		events  []Event
		start   uint64
		wantErr string
	}{
		{"all", history, 0, ""},
		{"from start RV", history[2:], 4, ""},
		{"start RV between entries", history[2:], 5, ""},
		{"start RV at the end", nil, 10, ""},
		{"shared RV in another order", []Event{ev(Modified, b, 6), ev(Modified, a, 6), ev(Deleted, a, 7), ev(Modified, b, 9), ev(Added, a, 10)}, 4, ""},
		{"gap", []Event{ev(Modified, a, 6), ev(Modified, b, 6), ev(Modified, b, 9), ev(Added, a, 10)}, 4, "gap: missing [DELETED ns/a@7]"},
		{"gap at start", history[3:], 4, "missing [MODIFIED ns/a@6]"},
		{"gap at end", history[2:6], 4, "gap: missing [ADDED ns/a@10]"},
		{"half of a shared RV", []Event{ev(Modified, a, 6), ev(Deleted, a, 7), ev(Modified, b, 9), ev(Added, a, 10)}, 4, "missing [MODIFIED ns/b@6]"},
		{"duplicate", append(append([]Event{}, history[2:]...), ev(Added, a, 10)), 4, "duplicate"},
		{"reorder", []Event{ev(Modified, a, 6), ev(Modified, b, 6), ev(Modified, b, 9), ev(Deleted, a, 7), ev(Added, a, 10)}, 4, "reordered"},
		{"event before start RV", history[1:], 4, "not after start RV"},
		{"extra event", append(append([]Event{}, history[2:]...), ev(Modified, a, 11)), 4, "unexpected [MODIFIED ns/a@11]"},
		{"wrong event", []Event{ev(Modified, a, 6), ev(Modified, b, 6), ev(Deleted, a, 7), ev(Deleted, b, 9), ev(Added, a, 10)}, 4,
			"at RV 9: missing [MODIFIED ns/b@9], unexpected [DELETED ns/b@9]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, CheckWatchAgainst(tt.events, tt.start, history), tt.wantErr)
		})
	}
	t.Run("invalid history", func(t *testing.T) {
		checkErr(t, CheckWatchAgainst(nil, 0, []Event{ev(Added, a, 5), ev(Added, b, 4)}), "invalid history")
	})
}

// checkErr fails unless err contains want, or is nil when want is "".
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func TestCheckWritesSeen(t *testing.T) {
	at := time.Unix(0, 0)
	ok := func(kind OpKind, key, rv string) Op {
		return Op{Kind: kind, Key: key, RV: rv, Outcome: OK, Call: at, Return: at}
	}
	history := []Event{{Added, "a", 5}, {Modified, "a", 7}, {Deleted, "a", 9}, {Added, "b", 11}}
	for _, tc := range []struct {
		name  string
		ops   []Op
		fails bool
	}{
		{"all seen", []Op{ok(Create, "a", "5"), ok(Update, "a", "7"), ok(Delete, "a", ""), ok(Create, "b", "11")}, false},
		{"write without RV is not checked", []Op{ok(Create, "a", ""), ok(Create, "b", "")}, false},
		{"unknown writes explain events", []Op{{Kind: Create, Key: "a", Outcome: Unknown, Call: at}, ok(Create, "b", "11")}, false},
		{"acknowledged write missing", []Op{ok(Create, "a", "5"), ok(Update, "a", "8"), ok(Create, "b", "11")}, true},
		{"write seen under another key", []Op{ok(Create, "a", "11"), ok(Create, "b", "11")}, true},
		{"delete event is not a write", []Op{ok(Create, "a", "9"), ok(Create, "b", "11")}, true},
		{"event of a key no write touched", []Op{ok(Create, "a", "5")}, true},
		{"failed writes explain nothing", []Op{ok(Create, "a", "5"), {Kind: Create, Key: "b", Outcome: Failed, Reason: "Unreachable", Call: at, Return: at}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckWritesSeen(tc.ops, history)
			if (err != nil) != tc.fails {
				t.Fatalf("err = %v, want failure %v", err, tc.fails)
			}
		})
	}
}
