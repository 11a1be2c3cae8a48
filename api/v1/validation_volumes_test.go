package v1

import (
	"strings"
	"testing"
)

func TestValidateVolumes(t *testing.T) {
	hostPath := func(path string, typ HostPathType) *HostPathVolumeSource {
		return &HostPathVolumeSource{Path: path, Type: &typ}
	}
	tests := []struct {
		name   string
		edit   func(p *Pod)
		field  string // "" when valid
		substr string
	}{
		{name: "emptyDir", edit: func(p *Pod) {}},
		{name: "hostPath", edit: func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "scratch", HostPath: hostPath("/var/log", HostPathDirectory)}
		}},
		{name: "hostPath of every type", edit: func(p *Pod) {
			p.Spec.Volumes = nil
			for i, typ := range supportedHostPathTypes {
				p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "v" + string(rune('a'+i)), HostPath: hostPath("/x", HostPathType(typ))})
			}
			p.Spec.Volumes[0].Name = "scratch"
		}},
		{name: "hostPath without a path", field: "spec.volumes[0].hostPath.path", substr: "Required value", edit: func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "scratch", HostPath: &HostPathVolumeSource{}}
		}},
		{name: "hostPath with '..'", field: "spec.volumes[0].hostPath.path", substr: "must not contain '..'", edit: func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "scratch", HostPath: hostPath("/var/../etc", HostPathUnset)}
		}},
		{name: "hostPath of an unknown type", field: "spec.volumes[0].hostPath.type", substr: "Unsupported value: \"Fifo\"", edit: func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "scratch", HostPath: hostPath("/x", "Fifo")}
		}},
		{name: "two volume types", field: "spec.volumes[0].hostPath", substr: "may not specify more than 1 volume type", edit: func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "scratch", EmptyDir: &EmptyDirVolumeSource{}, HostPath: hostPath("/x", HostPathUnset)}
		}},
		{name: "subPath", edit: func(p *Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = "a/b" }},
		{name: "absolute subPath", field: "spec.containers[0].volumeMounts[0].subPath", substr: "must be a relative path", edit: func(p *Pod) {
			p.Spec.Containers[0].VolumeMounts[0].SubPath = "/etc"
		}},
		{name: "subPath with '..'", field: "spec.containers[0].volumeMounts[0].subPath", substr: "must not contain '..'", edit: func(p *Pod) {
			p.Spec.Containers[0].VolumeMounts[0].SubPath = "a/../../b"
		}},
		{name: "subPath named '..x' is a name", edit: func(p *Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = "..x" }},
		{name: "readOnly mount", edit: func(p *Pod) { p.Spec.Containers[0].VolumeMounts[0].ReadOnly = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.edit(p)
			Default(p)
			err := Validate(p)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			wantInvalid(t, err, tt.field)
			if !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("message %q does not mention %q", err.Error(), tt.substr)
			}
		})
	}
}

// A hostPath volume is not given an emptyDir by defaulting, and its type
// defaults to the unset one, as in Kubernetes.
func TestDefaultHostPathVolume(t *testing.T) {
	p := validPod()
	p.Spec.Volumes = []Volume{{Name: "h", HostPath: &HostPathVolumeSource{Path: "/x"}}, {Name: "e"}}
	Default(p)
	h, e := p.Spec.Volumes[0], p.Spec.Volumes[1]
	if h.EmptyDir != nil || h.HostPath.Type == nil || *h.HostPath.Type != HostPathUnset {
		t.Errorf("hostPath volume defaulted to %+v", h)
	}
	if e.EmptyDir == nil {
		t.Errorf("volume without a source defaulted to %+v", e)
	}
}
