package v1

import (
	"bytes"
	"encoding/json"

	"k8s.io/apimachinery/pkg/labels"
)

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }

// LabelsOf returns the labels of an object as a labels.Set.
func LabelsOf(obj Object) labels.Set { return labels.Set(obj.GetObjectMeta().Labels) }

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
