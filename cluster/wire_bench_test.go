package cluster

import (
	"encoding/binary"
	"encoding/json"
	"testing"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// BenchmarkAppendAnswerCreatedPod is the leader's encoding of a forwarded
// create's answer: a record just applied, holding the ~1 KiB pod's bytes
// undecoded, as the FSM stores a create.
func BenchmarkAppendAnswerCreatedPod(b *testing.B) {
	pods, _ := v1.ResourceByName("pods")
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "bench-0001", Namespace: "default", UID: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
		ResourceVersion: "12345", Labels: map[string]string{"app": "bench", "tier": "load"}},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "main", Image: "registry.example/bench:1.0",
			Command: []string{"/bin/sh", "-c", "sleep 3600"}, Env: []v1.EnvVar{{Name: "MODE", Value: "bench"}}}}}}
	v1.SetTypeMeta(pod)
	raw, err := json.Marshal(pod)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		rec := fsm.NewLazyRecord(pods, raw)
		if out, err = appendAnswer(out[:0], fsm.Result{Record: rec}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadFrames splits a forwarded batch of 64 ~1.2 KiB commands,
// as the leader does for each batch a follower forwards.
func BenchmarkReadFrames(b *testing.B) {
	cmd := make([]byte, 1200)
	var body []byte
	for range 64 {
		body = append(binary.AppendUvarint(body, uint64(len(cmd))), cmd...)
	}
	b.ReportAllocs()
	for b.Loop() {
		cmds, err := readFrames(body)
		if err != nil || len(cmds) != 64 {
			b.Fatalf("readFrames: %d commands, %v", len(cmds), err)
		}
	}
}
