package fsm

import (
	"encoding/json"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// TestRecordResource: a record names its resource from its type, and a
// lazy record does so without decoding its bytes.
func TestRecordResource(t *testing.T) {
	pods, _ := v1.ResourceByName("pods")
	services, _ := v1.ResourceByName("services")
	raw, err := json.Marshal(benchPod("res"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		rec     *Record
		want    string
		decoded bool // the record holds its object after Resource
	}{
		{"lazy pod", NewLazyRecord(pods, raw), "pods", false},
		{"lazy service, undecodable bytes", NewLazyRecord(services, []byte("{not json")), "services", false},
		{"record of an object", NewRecord(benchPod("res"), nil), "pods", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.rec.Resource()
			if err != nil || got.Name != tc.want {
				t.Fatalf("Resource() = %q, %v; want %q", got.Name, err, tc.want)
			}
			if d := tc.rec.decoded(); d != tc.decoded {
				t.Errorf("decoded after Resource() = %v, want %v", d, tc.decoded)
			}
		})
	}
}
