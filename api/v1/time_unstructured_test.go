package v1

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
)

// TestTimeToUnstructured: converting an object with times to unstructured
// content gives what decoding its JSON gives, for the zero time, times in
// other zones and with fractions, as Time and as MicroTime.
func TestTimeToUnstructured(t *testing.T) {
	type times struct {
		T     Time       `json:"t"`
		P     *Time      `json:"p,omitempty"`
		M     MicroTime  `json:"m"`
		MP    *MicroTime `json:"mp,omitempty"`
		Slice []Time     `json:"slice,omitempty"`
	}
	zone := time.FixedZone("x", -7*3600)
	at := time.Date(2026, 12, 5, 7, 1, 2, 345678901, zone)
	for _, tc := range []struct {
		name string
		in   times
	}{
		{"zero", times{}},
		{"set", times{T: Time{at}, P: &Time{at}, M: MicroTime{at}, MP: &MicroTime{at}, Slice: []Time{{at}, {}}}},
		{"rounded", times{T: NewTime(at), M: NewMicroTime(at)}},
		{"zero pointers", times{P: &Time{}, MP: &MicroTime{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&tc.in)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(&tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ToUnstructured = %#v, the JSON decodes to %#v", got, want)
			}
		})
	}
}
