package fsm

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
)

// benchFields is the managedFields entry the API server stamps on a
// create of benchPod by orchbench.
const benchFields = `{"f:metadata":{"f:annotations":{".":{},"f:note":{}},"f:labels":{".":{},"f:app":{},"f:tier":{}}},` +
	`"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:command":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},` +
	`"f:ports":{".":{},"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:name":{},"f:protocol":{}}},` +
	`"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:restartPolicy":{},` +
	`"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}`

// benchPod is a pod of about 1 KiB once encoded (1.7 KiB with its
// managedFields), as the API benchmark sends and the API server stores it.
func benchPod(name string) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name,
			Labels:      map[string]string{"app": "bench", "tier": "web"},
			Annotations: map[string]string{"note": strings.Repeat("x", 420)}},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "web", Image: "busybox:1.35",
			Command: []string{"httpd", "-f", "-p", "8080"},
			Ports:   []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	}
	v1.Default(p)
	at := v1.NewTime(time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC))
	p.ManagedFields = []v1.ManagedFieldsEntry{{Manager: "orchbench", Operation: v1.ManagedFieldsOperationUpdate,
		APIVersion: "v1", Time: &at, FieldsType: "FieldsV1", FieldsV1: &v1.FieldsV1{Raw: []byte(benchFields)}}}
	return p
}

// BenchmarkApplyCreatePod measures what every master spends applying one
// committed pod create, in batches of 1, 16 and 64 entries as raft hands
// them over, with the process's CPU per create (cpu-ns/op, the garbage
// collector's share included).
func BenchmarkApplyCreatePod(b *testing.B) {
	for _, batch := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			f := NewTestFSM(b)
			MustCreate(b, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}})
			cmds := make([][]byte, b.N)
			for i := range cmds {
				cmd, err := NewCreate(benchPod(fmt.Sprintf("p%08d", i)))
				if err != nil {
					b.Fatal(err)
				}
				cmds[i] = cmd
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := processCPU(b)
			applyInBatches(b, f, 2, cmds, batch)
			b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

// applyInBatches applies cmds from index on, batch entries at a time as
// raft hands them over, and fails on any refused entry.
func applyInBatches(b *testing.B, f *FSM, index uint64, cmds [][]byte, batch int) {
	b.Helper()
	logs := make([]*raft.Log, 0, batch)
	for i := 0; i < len(cmds); i += batch {
		logs = logs[:0]
		for j := i; j < i+batch && j < len(cmds); j++ {
			logs = append(logs, &raft.Log{Index: index, Type: raft.LogCommand, Data: cmds[j]})
			index++
		}
		for _, r := range f.ApplyBatch(logs) {
			if res, ok := r.(Result); !ok || res.Err != nil {
				b.Fatalf("apply: %+v", r)
			}
		}
	}
}

// BenchmarkApplyUpdatePodStatus measures what every master spends applying
// one committed pod status update (a node reporting its pod running), in
// batches of 64 entries, against a store of 10,000 pods.
func BenchmarkApplyUpdatePodStatus(b *testing.B) {
	f := NewTestFSM(b)
	MustCreate(b, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}})
	const pods, batch = 10000, 64
	creates := make([][]byte, pods)
	for i := range creates {
		cmd, err := NewCreate(benchPod(fmt.Sprintf("p%08d", i)))
		if err != nil {
			b.Fatal(err)
		}
		creates[i] = cmd
	}
	applyInBatches(b, f, 2, creates, batch)
	index := uint64(2 + pods)
	cmds := make([][]byte, b.N)
	for i := range cmds {
		p := benchPod(fmt.Sprintf("p%08d", i%pods))
		p.Status.Phase = v1.PodRunning
		p.Status.PodIP = fmt.Sprintf("10.244.%d.%d", i/250%250, i%250+2)
		cmd, err := NewUpdate(p, true)
		if err != nil {
			b.Fatal(err)
		}
		cmds[i] = cmd
	}
	b.ReportAllocs()
	b.ResetTimer()
	applyInBatches(b, f, index, cmds, batch)
}

// BenchmarkApplyCreatePodParts measures the parts of a pod create's apply
// that read its bytes: the JSON check and the resourceVersion splice.
func BenchmarkApplyCreatePodParts(b *testing.B) {
	cmd, err := NewCreate(benchPod("p00000001"))
	if err != nil {
		b.Fatal(err)
	}
	f, ok := readCreateFrame(cmd[1:])
	if !ok {
		b.Fatal("no frame")
	}
	b.Run("valid", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(f.object)))
		for range b.N {
			if !json.Valid(f.object) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("validJSON", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(f.object)))
		for range b.N {
			if !validJSON(f.object) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("splice", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(f.object)))
		for range b.N {
			spliceResourceVersion("Pod", f.object, 12345)
		}
	})
}
