package v1

import (
	"bytes"
	"crypto/rand"
	"encoding/json"

	"k8s.io/apimachinery/pkg/labels"
)

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }

// LabelsOf returns the labels of an object as a labels.Set.
func LabelsOf(obj Object) labels.Set { return labels.Set(obj.GetObjectMeta().Labels) }

// JSONEqual reports whether a and b encode to the same JSON: equality of API
// values as the API sees them (nil and empty fields with omitempty agree).
func JSONEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// CopyStatus sets dst's status to src's (both of the same kind); kinds
// without a status subresource (Resource.HasStatus) are left alone.
func CopyStatus(dst, src Object) {
	if r, err := ResourceOf(dst); err != nil || !r.HasStatus {
		return
	}
	d, ok1 := statusField(dst)
	s, ok2 := statusField(src)
	if ok1 && ok2 && d.Type() == s.Type() {
		d.Set(s)
	}
}

const suffixAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// GenerateName returns prefix plus the 5 random characters Kubernetes
// appends for metadata.generateName (no vowels, so no words).
func GenerateName(prefix string) string {
	b := make([]byte, 5)
	rand.Read(b)
	for i := range b {
		b[i] = suffixAlphabet[int(b[i])%len(suffixAlphabet)]
	}
	return prefix + string(b)
}

// SetPodCondition returns a new slice with c in place of the condition of
// its type (appended if absent). When the status does not change, the old
// lastTransitionTime is kept.
func SetPodCondition(conds []PodCondition, c PodCondition) []PodCondition {
	out := make([]PodCondition, 0, len(conds)+1)
	found := false
	for _, x := range conds {
		if x.Type != c.Type {
			out = append(out, x)
			continue
		}
		if x.Status == c.Status {
			c.LastTransitionTime = x.LastTransitionTime
		}
		out, found = append(out, c), true
	}
	if !found {
		out = append(out, c)
	}
	return out
}

// SetNodeCondition is SetPodCondition for node conditions.
func SetNodeCondition(conds []NodeCondition, c NodeCondition) []NodeCondition {
	out := make([]NodeCondition, 0, len(conds)+1)
	found := false
	for _, x := range conds {
		if x.Type != c.Type {
			out = append(out, x)
			continue
		}
		if x.Status == c.Status {
			c.LastTransitionTime = x.LastTransitionTime
		}
		out, found = append(out, c), true
	}
	if !found {
		out = append(out, c)
	}
	return out
}
