package v1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// MicroTime is a timestamp with microsecond precision, encoded as
// Kubernetes' metav1.MicroTime ("2006-01-02T15:04:05.000000Z07:00"); the
// zero value encodes as null.
type MicroTime struct {
	time.Time
}

// microTimeLayout is metav1.RFC3339Micro.
const microTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// NewMicroTime wraps t in UTC, truncated to microseconds as it would be
// after a round trip.
func NewMicroTime(t time.Time) MicroTime { return MicroTime{t.UTC().Truncate(time.Microsecond)} }

// MarshalJSON implements json.Marshaler.
func (t MicroTime) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	u := t.UTC()
	if y := u.Year(); y < minTimeYear || y > maxTimeYear {
		return nil, fmt.Errorf("time %s is outside the years %04d-%04d in UTC", u.Format(time.RFC3339), minTimeYear, maxTimeYear)
	}
	b := make([]byte, 0, len(microTimeLayout)+2)
	b = append(b, '"')
	b = u.AppendFormat(b, microTimeLayout)
	return append(b, '"'), nil
}

// ToUnstructured is the time as unstructured content holds it, as
// Time.ToUnstructured: the string MarshalJSON quotes, or nil.
func (t MicroTime) ToUnstructured() any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(microTimeLayout)
}

// UnmarshalJSON implements json.Unmarshaler. Like metav1.MicroTime it
// reads RFC 3339 with microseconds, and also accepts whole seconds (what
// an RFC 3339 writer without fractions sends).
func (t *MicroTime) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time must be an RFC 3339 string: %w", err)
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	p, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("time %q is not RFC 3339: %w", s, err)
	}
	u := p.UTC()
	if y := u.Year(); y < minTimeYear || y > maxTimeYear {
		return fmt.Errorf("time %q is outside the years %04d-%04d in UTC", s, minTimeYear, maxTimeYear)
	}
	t.Time = u.Truncate(time.Microsecond)
	return nil
}
