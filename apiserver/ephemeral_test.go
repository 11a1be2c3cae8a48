package apiserver

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	v1 "orch.io/orch/api/v1"
)

// debugPatch is the strategic merge patch kubectl debug sends: the two-way
// patch from the pod to the pod with one more ephemeral container.
func debugPatch(t *testing.T, pod *v1.Pod, name string) []byte {
	t.Helper()
	before, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	after := v1.DeepCopy(pod)
	after.Spec.EphemeralContainers = append(after.Spec.EphemeralContainers, v1.EphemeralContainer{
		EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: name, Image: "busybox:1.35", Stdin: true, TTY: true,
			TerminationMessagePolicy: "File"},
		TargetContainerName: "c"})
	afterJS, err := json.Marshal(after)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strategicpatch.CreateTwoWayMergePatch(before, afterJS, &corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEphemeralContainersSubresource(t *testing.T) {
	e := newTestEnv(t)
	e.createPod(t, "p", map[string]string{"app": "web"})
	sub := podPath("p") + "/ephemeralcontainers"
	smp := withContentType("application/strategic-merge-patch+json")

	// GET answers the pod.
	if got := decode[v1.Pod](t, e.expectCode(t, http.StatusOK, http.MethodGet, sub, nil)); got.Name != "p" || got.Kind != "Pod" {
		t.Fatalf("GET ephemeralcontainers = %+v", got)
	}

	// kubectl debug's strategic merge patch adds one, then another.
	for i, name := range []string{"debugger-1", "debugger-2"} {
		b := e.expectCode(t, http.StatusOK, http.MethodPatch, sub, debugPatch(t, e.getPod(t, "p"), name), smp)
		got := decode[v1.Pod](t, b)
		if len(got.Spec.EphemeralContainers) != i+1 || got.Spec.EphemeralContainers[i].Name != name ||
			got.Spec.EphemeralContainers[i].TargetContainerName != "c" || got.Spec.EphemeralContainers[i].ImagePullPolicy != v1.PullIfNotPresent {
			t.Fatalf("after adding %s: %+v", name, got.Spec.EphemeralContainers)
		}
	}

	tests := []struct {
		name   string
		method string
		path   string
		body   func(p *v1.Pod) any
		opts   []reqOpt
		code   int
		msg    string
	}{
		{name: "remove through the subresource", method: http.MethodPatch, path: sub,
			body: func(*v1.Pod) any { return `{"spec":{"ephemeralContainers":[{"name":"debugger-1","$patch":"delete"}]}}` },
			opts: []reqOpt{smp}, code: 422, msg: `existing ephemeral containers \"debugger-1\" may not be removed`},
		{name: "change through the subresource", method: http.MethodPatch, path: sub,
			body: func(*v1.Pod) any {
				return `{"spec":{"ephemeralContainers":[{"name":"debugger-1","image":"alpine:3"}]}}`
			},
			opts: []reqOpt{smp}, code: 422, msg: `existing ephemeral containers \"debugger-1\" may not be changed`},
		{name: "ports", method: http.MethodPatch, path: sub,
			body: func(*v1.Pod) any {
				return `{"spec":{"ephemeralContainers":[{"name":"d3","image":"busybox","ports":[{"containerPort":80}]}]}}`
			},
			opts: []reqOpt{smp}, code: 422, msg: "spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container"},
		{name: "unknown target", method: http.MethodPatch, path: sub,
			body: func(*v1.Pod) any {
				return `{"spec":{"ephemeralContainers":[{"name":"d3","image":"busybox","targetContainerName":"nope"}]}}`
			},
			opts: []reqOpt{smp}, code: 422, msg: "spec.ephemeralContainers[0].targetContainerName: Not found"},
		{name: "a regular update may not add one", method: http.MethodPut, path: podPath("p"),
			body: func(p *v1.Pod) any {
				p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, v1.EphemeralContainer{
					EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: "d3", Image: "busybox"}})
				return p
			}, code: 422, msg: "pod updates may not change fields"},
		{name: "a regular patch may not remove one", method: http.MethodPatch, path: podPath("p"),
			body: func(*v1.Pod) any { return `{"spec":{"ephemeralContainers":null}}` },
			opts: []reqOpt{withContentType("application/merge-patch+json")}, code: 422, msg: "pod updates may not change fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.getPod(t, "p")
			st := e.expectStatus(t, tt.code, tt.method, tt.path, tt.body(v1.DeepCopy(before)), tt.opts...)
			if raw, _ := json.Marshal(st); !strings.Contains(string(raw), tt.msg) {
				t.Errorf("status %s does not say %q", raw, tt.msg)
			}
			if after := e.getPod(t, "p"); after.ResourceVersion != before.ResourceVersion {
				t.Errorf("a refused write changed the pod")
			}
		})
	}

	t.Run("other changes through the subresource are dropped", func(t *testing.T) {
		p := e.getPod(t, "p")
		p.Labels = map[string]string{"app": "changed"}
		p.Spec.Containers[0].Image = "alpine:3"
		got := decode[v1.Pod](t, e.expectCode(t, http.StatusOK, http.MethodPut, sub, p))
		if got.Labels["app"] != "web" || got.Spec.Containers[0].Image != "busybox" || len(got.Spec.EphemeralContainers) != 2 {
			t.Fatalf("PUT ephemeralcontainers changed more than the list: %v %s", got.Labels, got.Spec.Containers[0].Image)
		}
	})
}
