package v1

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

// The downward API's fields and resources are checked with Kubernetes'
// rules and wording, in env and in downwardAPI volumes.
func TestValidateDownwardAPI(t *testing.T) {
	env := func(src EnvVarSource) func(*PodSpec) {
		return func(s *PodSpec) { s.Containers[0].Env[1].ValueFrom = &src }
	}
	field := func(path string) EnvVarSource {
		return EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: path}}
	}
	res := func(r, div string) *ResourceFieldSelector {
		s := &ResourceFieldSelector{Resource: r}
		if div != "" {
			s.Divisor = resource.MustParse(div)
		}
		return s
	}
	vol := func(items ...DownwardAPIVolumeFile) func(*PodSpec) {
		return func(s *PodSpec) {
			s.Volumes = append(s.Volumes, Volume{Name: "podinfo", DownwardAPI: &DownwardAPIVolumeSource{Items: items}})
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*PodSpec)
		field  string // "" = valid
		msg    string
	}{
		{"env spec.serviceAccountName", env(field("spec.serviceAccountName")), "", ""},
		{"env status.podIPs", env(field("status.podIPs")), "", ""},
		{"env status.hostIPs", env(field("status.hostIPs")), "", ""},
		{"env a label", env(field("metadata.labels['app']")), "", ""},
		{"env an annotation", env(field("metadata.annotations['example.com/Build']")), "", ""},
		{"env all labels", env(field("metadata.labels")), "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath", `Unsupported value: "metadata.labels"`},
		{"env status.phase", env(field("status.phase")), "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath", "supported values"},
		{"env unknown field", env(field("spec.nope")), "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath",
			"error converting fieldPath: field label not supported: spec.nope"},
		{"env subscript of the name", env(field("metadata.name['x']")), "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath",
			"field label does not support subscript"},
		{"env bad label key", env(field("metadata.labels['-x']")), "spec.containers[0].env[1].valueFrom.fieldRef", "name part must consist of alphanumeric characters"},
		{"env apiVersion v2", env(EnvVarSource{FieldRef: &ObjectFieldSelector{APIVersion: "v2", FieldPath: "metadata.name"}}),
			"spec.containers[0].env[1].valueFrom.fieldRef.apiVersion", "supported values"},
		{"env no fieldPath", env(field("")), "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath", "Required"},
		{"env requests.cpu", env(EnvVarSource{ResourceFieldRef: res("requests.cpu", "1m")}), "", ""},
		{"env limits.memory in Mi", env(EnvVarSource{ResourceFieldRef: res("limits.memory", "1Mi")}), "", ""},
		{"env limits.ephemeral-storage", env(EnvVarSource{ResourceFieldRef: res("limits.ephemeral-storage", "1Gi")}), "", ""},
		{"env cpu in 10m", env(EnvVarSource{ResourceFieldRef: res("limits.cpu", "10m")}),
			"spec.containers[0].env[1].valueFrom.resourceFieldRef.divisor", "only divisor's values 1m and 1 are supported with the cpu resource"},
		{"env memory in 2", env(EnvVarSource{ResourceFieldRef: res("requests.memory", "2")}),
			"spec.containers[0].env[1].valueFrom.resourceFieldRef.divisor", "supported with the memory resource"},
		{"env limits.pods", env(EnvVarSource{ResourceFieldRef: res("limits.pods", "")}),
			"spec.containers[0].env[1].valueFrom.resourceFieldRef.resource", "supported values"},
		{"env both", env(EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "metadata.name"}, ResourceFieldRef: res("limits.cpu", "")}),
			"spec.containers[0].env[1].valueFrom", "may not have more than one field specified at a time"},
		{"volume labels and annotations", vol(
			DownwardAPIVolumeFile{Path: "labels", FieldRef: &ObjectFieldSelector{FieldPath: "metadata.labels"}},
			DownwardAPIVolumeFile{Path: "a/annotations", FieldRef: &ObjectFieldSelector{FieldPath: "metadata.annotations"}, Mode: new(int32(0o400))},
			DownwardAPIVolumeFile{Path: "cpu", ResourceFieldRef: &ResourceFieldSelector{ContainerName: "web", Resource: "limits.cpu"}},
		), "", ""},
		{"volume spec.nodeName", vol(DownwardAPIVolumeFile{Path: "node", FieldRef: &ObjectFieldSelector{FieldPath: "spec.nodeName"}}),
			"spec.volumes[1].downwardAPI.items[0].fieldRef.fieldPath", "supported values"},
		{"volume resource without container", vol(DownwardAPIVolumeFile{Path: "cpu", ResourceFieldRef: res("limits.cpu", "")}),
			"spec.volumes[1].downwardAPI.items[0].resourceFieldRef.containerName", "Required"},
		{"volume neither", vol(DownwardAPIVolumeFile{Path: "x"}),
			"spec.volumes[1].downwardAPI.items[0]", "one of fieldRef and resourceFieldRef is required"},
		{"volume both", vol(DownwardAPIVolumeFile{Path: "x", FieldRef: &ObjectFieldSelector{FieldPath: "metadata.name"},
			ResourceFieldRef: &ResourceFieldSelector{ContainerName: "web", Resource: "limits.cpu"}}),
			"spec.volumes[1].downwardAPI.items[0]", "fieldRef and resourceFieldRef can not be specified simultaneously"},
		{"volume path ..data", vol(DownwardAPIVolumeFile{Path: "..data", FieldRef: &ObjectFieldSelector{FieldPath: "metadata.name"}}),
			"spec.volumes[1].downwardAPI.items[0].path", "must not start with '..'"},
		{"volume absolute path", vol(DownwardAPIVolumeFile{Path: "/etc/x", FieldRef: &ObjectFieldSelector{FieldPath: "metadata.name"}}),
			"spec.volumes[1].downwardAPI.items[0].path", "must be a relative path"},
		{"volume bad mode", vol(DownwardAPIVolumeFile{Path: "x", FieldRef: &ObjectFieldSelector{FieldPath: "metadata.name"}, Mode: new(int32(0o1000))}),
			"spec.volumes[1].downwardAPI.items[0].mode", "0777"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			tc.mutate(&p.Spec)
			Default(p)
			err := Validate(p)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid pod refused: %v", err)
				}
				return
			}
			wantInvalid(t, err, tc.field)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

// A downwardAPI volume's files default to 0644, as Kubernetes'.
func TestDefaultDownwardAPIVolume(t *testing.T) {
	p := validPod()
	p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "podinfo", DownwardAPI: &DownwardAPIVolumeSource{}})
	Default(p)
	if m := p.Spec.Volumes[1].DownwardAPI.DefaultMode; m == nil || *m != 0o644 {
		t.Fatalf("defaultMode %v, want 0644", m)
	}
	if p.Spec.Volumes[1].EmptyDir != nil {
		t.Fatal("a downwardAPI volume got an emptyDir too")
	}
}
