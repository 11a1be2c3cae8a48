package v1

import (
	"slices"
	"testing"
)

func TestPodSecretNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		refs []LocalObjectRef
		want []string
	}{
		{"none", nil, nil},
		{"in order", []LocalObjectRef{{Name: "b"}, {Name: "a"}}, []string{"b", "a"}},
		{"once each", []LocalObjectRef{{Name: "a"}, {Name: "b"}, {Name: "a"}}, []string{"a", "b"}},
		{"empty names skipped", []LocalObjectRef{{Name: ""}, {Name: "a"}}, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PodSecretNames(&PodSpec{ImagePullSecrets: tc.refs}); !slices.Equal(got, tc.want) {
				t.Errorf("PodSecretNames = %q, want %q", got, tc.want)
			}
		})
	}
}
