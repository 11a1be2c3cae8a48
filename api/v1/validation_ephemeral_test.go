package v1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	"strings"
	"testing"
)

func debugContainer(name string) EphemeralContainer {
	return EphemeralContainer{EphemeralContainerCommon: EphemeralContainerCommon{Name: name, Image: "busybox:1.35",
		Stdin: true, TTY: true}, TargetContainerName: "web"}
}

// Ephemeral containers are checked as Kubernetes does: unique names across
// the pod, an existing target, and no ports, probes, resources or subPath.
func TestValidateEphemeralContainers(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(p *Pod)
		wantField string // "" for valid
		wantMsg   string
	}{
		{name: "valid", mutate: func(p *Pod) {}},
		{name: "no target", mutate: func(p *Pod) { p.Spec.EphemeralContainers[0].TargetContainerName = "" }},
		{name: "missing target", mutate: func(p *Pod) { p.Spec.EphemeralContainers[0].TargetContainerName = "nope" },
			wantField: "spec.ephemeralContainers[0].targetContainerName", wantMsg: "Not found"},
		{name: "name of a container", mutate: func(p *Pod) { p.Spec.EphemeralContainers[0].Name = "web" },
			wantField: "spec.ephemeralContainers[0].name", wantMsg: "Duplicate value"},
		{name: "no image", mutate: func(p *Pod) { p.Spec.EphemeralContainers[0].Image = "" },
			wantField: "spec.ephemeralContainers[0].image", wantMsg: "Required value"},
		{name: "ports", mutate: func(p *Pod) {
			p.Spec.EphemeralContainers[0].Ports = []ContainerPort{{ContainerPort: 80, Protocol: ProtocolTCP}}
		}, wantField: "spec.ephemeralContainers[0].ports", wantMsg: "Forbidden: cannot be set for an Ephemeral Container"},
		{name: "readiness probe", mutate: func(p *Pod) {
			p.Spec.EphemeralContainers[0].ReadinessProbe = &Probe{ProbeHandler: ProbeHandler{Exec: &ExecAction{Command: []string{"true"}}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
		}, wantField: "spec.ephemeralContainers[0].readinessProbe", wantMsg: "cannot be set for an Ephemeral Container"},
		{name: "resources", mutate: func(p *Pod) {
			p.Spec.EphemeralContainers[0].Resources.Limits = ResourceList{ResourceCPU: resource.MustParse("100m")}
		}, wantField: "spec.ephemeralContainers[0].resources", wantMsg: "cannot be set for an Ephemeral Container"},
		{name: "subPath", mutate: func(p *Pod) {
			p.Spec.EphemeralContainers[0].VolumeMounts = []VolumeMount{{Name: "scratch", MountPath: "/s", SubPath: "x"}}
		}, wantField: "spec.ephemeralContainers[0].volumeMounts[0].subPath", wantMsg: "cannot be set for an Ephemeral Container"},
		{name: "shareProcessNamespace with hostPID", mutate: func(p *Pod) {
			p.Spec.ShareProcessNamespace, p.Spec.HostPID = new(true), true
		}, wantField: "spec.shareProcessNamespace", wantMsg: "ShareProcessNamespace and HostPID cannot both be enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			p.Spec.EphemeralContainers = []EphemeralContainer{debugContainer("debugger-abc")}
			tt.mutate(p)
			Default(p)
			err := Validate(p)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if CodeOf(err) != 422 || !namesField(err, tt.wantField) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Validate = %v, want 422 on %s with %q", err, tt.wantField, tt.wantMsg)
			}
		})
	}
}

// Through the subresource ephemeral containers may only be added; a regular
// update may not change them at all.
func TestEphemeralContainersUpdate(t *testing.T) {
	old := validPod()
	old.Spec.EphemeralContainers = []EphemeralContainer{debugContainer("d1")}
	Default(old)
	tests := []struct {
		name    string
		list    []EphemeralContainer
		wantMsg string
	}{
		{name: "add", list: []EphemeralContainer{debugContainer("d1"), debugContainer("d2")}},
		{name: "keep", list: []EphemeralContainer{debugContainer("d1")}},
		{name: "reorder and add", list: []EphemeralContainer{debugContainer("d2"), debugContainer("d1")}},
		{name: "remove", list: nil, wantMsg: `existing ephemeral containers "d1" may not be removed`},
		{name: "change", list: func() []EphemeralContainer {
			d := debugContainer("d1")
			d.Image = "alpine:3"
			return []EphemeralContainer{d}
		}(), wantMsg: `existing ephemeral containers "d1" may not be changed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := DeepCopy(old)
			next.Spec.EphemeralContainers = tt.list
			Default(next)
			err := ValidateEphemeralContainersUpdate(next, old)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("got %v", err)
				}
			} else if CodeOf(err) != 422 || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("got %v, want 422 with %q", err, tt.wantMsg)
			}
			if tt.name == "keep" {
				return
			}
			// The same change as a regular pod update is refused.
			if err := ValidateUpdate(next, old); CodeOf(err) != 422 || !strings.Contains(err.Error(), "pod updates may not change fields") {
				t.Errorf("regular update: got %v", err)
			}
		})
	}
}
