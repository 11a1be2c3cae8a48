package v1

import (
	"strings"
	"testing"
)

// TestVolumeSources: defaulting makes a volume without a source an
// emptyDir but leaves one with another source alone, and a volume with two
// sources is refused with Kubernetes' wording (Pod Security's restricted
// volume check, which allows a volume with an emptyDir, relies on it).
func TestVolumeSources(t *testing.T) {
	tests := []struct {
		name      string
		vol       Volume
		emptyDir  bool   // after defaulting
		wantError string // "" if valid (hostPath aside, refused until supported)
	}{
		{name: "no source", vol: Volume{Name: "v"}, emptyDir: true},
		{name: "emptyDir", vol: Volume{Name: "v", EmptyDir: &EmptyDirVolumeSource{}}, emptyDir: true},
		{name: "hostPath", vol: Volume{Name: "v", HostPath: &HostPathVolumeSource{Path: "/x"}}},
		{name: "both", vol: Volume{Name: "v", EmptyDir: &EmptyDirVolumeSource{}, HostPath: &HostPathVolumeSource{Path: "/x"}}, emptyDir: true,
			wantError: "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Pod{ObjectMeta: ObjectMeta{Name: "p", Namespace: DefaultNamespace},
				Spec: PodSpec{Volumes: []Volume{tt.vol}, Containers: []Container{{Name: "c", Image: "busybox"}}}}
			Default(p)
			if got := p.Spec.Volumes[0].EmptyDir != nil; got != tt.emptyDir {
				t.Errorf("emptyDir after defaulting: %v, want %v", got, tt.emptyDir)
			}
			err := Validate(p)
			if tt.wantError != "" && (err == nil || !strings.Contains(err.Error(), tt.wantError)) {
				t.Errorf("Validate = %v, want %q", err, tt.wantError)
			}
			if tt.wantError == "" && err != nil && !strings.Contains(err.Error(), "hostPath") {
				t.Errorf("Validate = %v", err)
			}
			if err != nil && strings.Contains(err.Error(), "a volume source is required") {
				t.Errorf("Validate = %v: the volume has a source", err)
			}
		})
	}
}
