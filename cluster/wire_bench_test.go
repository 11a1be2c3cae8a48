package cluster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"testing"
	"time"

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

// BenchmarkForwardedCreates is the replicated part of a write as a whole:
// 64 writers create namespaces through a follower of a three-member group
// (in one process: forwarding over mutual TLS, raft, each member's log
// store and FSM). Its allocs/op are every member's allocations per write;
// its ns/op depend on the machine's load and are not a figure to quote.
func BenchmarkForwardedCreates(b *testing.B) {
	for _, store := range []string{LogStoreWAL, LogStoreBoltDB} {
		b.Run("store="+store, func(b *testing.B) { benchForwardedCreates(b, store) })
	}
}

func benchForwardedCreates(b *testing.B, store string) {
	g := NewTestGroup(b, 3, TestOptions{RaftTimeout: steadyRaftTimeout, LogStore: store})
	follower := g.Followers(g.WaitLeader(b))[0]
	cmds := make(chan []byte, 1024)
	go func() {
		defer close(cmds)
		for i := 0; ; i++ {
			select {
			case cmds <- createCmd(b, newNamespace(fmt.Sprintf("fwd-%07d", i))):
			case <-b.Context().Done():
				return
			}
		}
	}()
	b.SetParallelism(32) // 64 writers on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(b.Context(), 10*time.Second)
			_, err := follower.Apply(ctx, <-cmds)
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
