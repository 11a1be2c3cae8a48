package v1

import "testing"

func TestFieldSelectorExactMatch(t *testing.T) {
	tests := []struct {
		kind, sel, field string
		want             string
		found            bool
	}{
		{"Pod", "spec.nodeName=n1", "spec.nodeName", "n1", true},
		{"Pod", "spec.nodeName==n1", "spec.nodeName", "n1", true},
		{"Pod", "spec.nodeName=", "spec.nodeName", "", true},
		{"Pod", "spec.nodeName!=n1", "spec.nodeName", "", false},
		{"Pod", "status.phase=Running,spec.nodeName=n2", "spec.nodeName", "n2", true},
		{"Pod", "status.phase=Running", "spec.nodeName", "", false},
		{"Node", "metadata.name=n1", "metadata.name", "n1", true},
		{"Node", "metadata.name=n1", "metadata.namespace", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.sel+"/"+tt.field, func(t *testing.T) {
			fs, err := ParseFieldSelector(tt.kind, tt.sel)
			if err != nil {
				t.Fatal(err)
			}
			got, found := fs.ExactMatch(tt.field)
			if got != tt.want || found != tt.found {
				t.Errorf("ExactMatch(%q) = %q, %v; want %q, %v", tt.field, got, found, tt.want, tt.found)
			}
		})
	}
	var none *FieldSelector
	if _, found := none.ExactMatch("spec.nodeName"); found {
		t.Error("a nil selector requires a value")
	}
}
