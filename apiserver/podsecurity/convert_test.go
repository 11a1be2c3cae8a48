package podsecurity

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	v1 "orch.io/orch/api/v1"
)

// TestToNamespaceMatchesConvert: the direct conversion of a namespace
// gives the library the same name, labels and annotations as the JSON
// round trip, and does not share the label map with the stored object.
func TestToNamespaceMatchesConvert(t *testing.T) {
	for _, tc := range []struct {
		name string
		ns   *v1.Namespace
	}{
		{"no labels", &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "a"}}},
		{"levels", &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "b", UID: "u-1", ResourceVersion: "7",
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted",
				"pod-security.kubernetes.io/warn-version": "v1.30"},
			Annotations: map[string]string{"note": "x"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := toNamespace(tc.ns)
			want, err := convert(tc.ns)
			if err != nil {
				t.Fatal(err)
			}
			w := want.(*corev1.Namespace)
			if got.Name != w.Name || got.UID != w.UID || got.ResourceVersion != w.ResourceVersion ||
				!reflect.DeepEqual(got.Labels, w.Labels) || !reflect.DeepEqual(got.Annotations, w.Annotations) {
				t.Fatalf("toNamespace = %+v, the JSON conversion = %+v", got.ObjectMeta, w.ObjectMeta)
			}
			if got.Labels != nil {
				got.Labels["changed"] = "yes"
				if _, ok := tc.ns.Labels["changed"]; ok {
					t.Fatal("the converted namespace shares its labels with the stored one")
				}
			}
		})
	}
}
