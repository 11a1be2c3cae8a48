package fsm

import (
	"testing"

	v1 "orch.io/orch/api/v1"
)

// TestKeyIndexerWithID: a key of an index that is not unique has room for
// the primary key go-memdb appends, and the same bytes either way.
func TestKeyIndexerWithID(t *testing.T) {
	pods, _ := v1.ResourceByName("pods")
	rec := newKeyedRecord(pods, []byte(`{}`), "default/web-1", "uid-1", "node-a")
	for _, tc := range []struct {
		name    string
		withID  bool
		wantCap int
	}{
		{"unique", false, len("node-a") + 1},
		{"with id", true, len("node-a") + 1 + len("default/web-1") + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := keyIndexer{withID: tc.withID, key: func(r *Record) (string, bool) { return r.NodeName(), true }}
			ok, b, err := ix.FromObject(rec)
			if err != nil || !ok {
				t.Fatalf("FromObject: %v, %v", ok, err)
			}
			if string(b) != "node-a\x00" || cap(b) != tc.wantCap {
				t.Fatalf("FromObject = %q (cap %d), want %q (cap %d)", b, cap(b), "node-a\x00", tc.wantCap)
			}
			if tc.withID {
				full := append(b, "default/web-1\x00"...)
				if &full[0] != &b[0] {
					t.Fatal("appending the primary key copied the key")
				}
			}
		})
	}
}
