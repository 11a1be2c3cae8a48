package apiserver

import (
	"encoding/json"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// BenchmarkCreatePath measures the CPU a master spends on a pod create
// before proposing it: strict decode, defaulting, validation, encoding the
// command and proving it round-trips (fsm.Verify, as cluster.Apply does),
// for the 1 KiB pod of `make bench`.
func BenchmarkCreatePath(b *testing.B) {
	pod := &v1.Pod{
		ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default",
			Labels:      map[string]string{"app": "bench", "tier": "web"},
			Annotations: map[string]string{"note": strings.Repeat("x", 420)}},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "web", Image: "busybox:1.35",
			Command: []string{"httpd", "-f", "-p", "8080"},
			Ports:   []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	}
	body, err := json.Marshal(pod)
	if err != nil {
		b.Fatal(err)
	}
	req := &request{verb: "create", namespace: "default"}
	req.resource, _ = v1.ResourceByName("pods")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := checkDepth(body, 100); err != nil {
			b.Fatal(err)
		}
		obj, err := decodeObject(req, body)
		if err != nil {
			b.Fatal(err)
		}
		prepareCreate(obj)
		v1.Default(obj)
		if err := v1.Validate(obj); err != nil {
			b.Fatal(err)
		}
		cmd, err := fsm.NewCreate(obj)
		if err != nil {
			b.Fatal(err)
		}
		if err := fsm.Verify(cmd); err != nil {
			b.Fatal(err)
		}
	}
}
