package check

import "testing"

func TestCheckNoLostWrites(t *testing.T) {
	tests := []struct {
		name    string
		acked   map[string]string
		final   map[string]string
		deleted map[string]bool
		wantErr string
	}{
		{"none", nil, nil, nil, ""},
		{"all present", map[string]string{a: "3", b: "1"}, map[string]string{a: "3", b: "1"}, nil, ""},
		{"unacked keys not checked", map[string]string{a: "3"}, map[string]string{a: "3", b: "9"}, nil, ""},
		{"lost value", map[string]string{a: "3", b: "1"}, map[string]string{a: "2", b: "1"}, nil, `key ns/a: acknowledged value "3" lost: read "2"`},
		{"lost key", map[string]string{a: "3"}, map[string]string{}, nil, "key ns/a: acknowledged value \"3\" lost: key absent"},
		{"deleted after write", map[string]string{a: "3"}, map[string]string{}, map[string]bool{a: true}, ""},
		{"deleted only", nil, map[string]string{}, map[string]bool{a: true}, ""},
		{"deleted false is no delete", map[string]string{a: "3"}, map[string]string{}, map[string]bool{a: false}, "lost: key absent"},
		{"resurrected", map[string]string{a: "3"}, map[string]string{a: "3"}, map[string]bool{a: true}, "deleted (acknowledged) but read back"},
		{"all violations reported", map[string]string{a: "3", b: "1"}, map[string]string{}, nil, "key ns/a: acknowledged value \"3\" lost: key absent\nkey ns/b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, CheckNoLostWrites(tt.acked, tt.final, tt.deleted), tt.wantErr)
		})
	}
}

func TestCheckRVs(t *testing.T) {
	tests := []struct {
		name    string
		ops     []Op
		wantErr string
	}{
		{"none", nil, ""},
		{"increasing", []Op{create(0, a, "1", "5", 0, 1), create(1, b, "1", "6", 2, 3), update(0, a, "2", "5", "8", 4, 5)}, ""},
		{"concurrent in any order", []Op{create(0, a, "1", "9", 0, 3), create(1, b, "1", "6", 1, 4)}, ""},
		{"touching intervals are concurrent", []Op{create(0, a, "1", "9", 0, 2), create(1, b, "1", "6", 2, 4)}, ""},
		{"gets and failures ignored", []Op{create(0, a, "1", "5", 0, 1), get(1, a, "1", "5", 2, 3),
			failed(create(1, a, "1", "", 4, 5), ReasonAlreadyExists), unknown(update(0, a, "2", "", "", 6, 0))}, ""},
		{"duplicate across keys", []Op{create(0, a, "1", "5", 0, 3), create(1, b, "1", "5", 1, 4)}, "rv 5 returned twice"},
		{"going back in real time", []Op{create(0, a, "1", "7", 0, 1), create(1, b, "1", "6", 2, 3)}, "rv 6 of [client 1: Create ns/b"},
		{"going back after a long write", []Op{create(0, a, "1", "9", 0, 10), create(1, b, "1", "5", 1, 2), update(1, b, "2", "", "8", 11, 12)},
			"rv 8 of [client 1: Update ns/b"},
		{"equal is not greater", []Op{create(0, a, "1", "7", 0, 1), update(0, a, "1", "", "7", 2, 3)}, "rv 7 returned twice"},
		{"bad rv", []Op{create(0, a, "1", "x", 0, 1)}, "not a positive integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, CheckRVs(tt.ops), tt.wantErr)
		})
	}
}
