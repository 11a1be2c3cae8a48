package apiserver

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/apiserver/podsecurity"
	"orch.io/orch/fsm"
)

// cpuTime is the CPU time the process has used (user and system, every
// thread: the garbage collector's work counts).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU runs loop b.N times and reports the process's CPU time per
// iteration as cpu-ns/op: on a machine shared with other work, wall time
// per op measures the contention; CPU time much less so.
func reportCPU(b *testing.B, loop func()) {
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	for i := 0; i < b.N; i++ {
		loop()
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// benchPod is the 1 KiB pod of `make bench`.
func benchPod() *v1.Pod {
	return &v1.Pod{
		ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default",
			Labels:      map[string]string{"app": "bench", "tier": "web"},
			Annotations: map[string]string{"note": strings.Repeat("x", 420)}},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "web", Image: "busybox:1.35",
			Command: []string{"httpd", "-f", "-p", "8080"},
			Ports:   []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	}
}

// benchServer is a server with only what the write path before proposing
// needs: the field managers.
func benchServer(b *testing.B) *Server {
	b.Helper()
	fields, err := newFieldManagers()
	if err != nil {
		b.Fatal(err)
	}
	return &Server{fields: fields}
}

// benchRequest is the request of verb on pod "web" (or its subresource).
func benchRequest(verb, name, sub string) *request {
	req := &request{verb: verb, namespace: "default", name: name, sub: sub}
	req.resource, _ = v1.ResourceByName("pods")
	return req
}

// benchCreate runs the create path of body as s.create does before proposing.
func benchCreate(ctx context.Context, b *testing.B, s *Server, req *request, body []byte) *v1.Pod {
	if err := checkDepth(body, 100); err != nil {
		b.Fatal(err)
	}
	obj, err := decodeObject(req, body)
	if err != nil {
		b.Fatal(err)
	}
	prepareCreate(obj)
	v1.Default(obj)
	if err := s.trackUpdate(ctx, req, obj, nil); err != nil {
		b.Fatal(err)
	}
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
	return obj.(*v1.Pod)
}

// BenchmarkCreatePath measures the CPU a master spends on a pod create
// before proposing it: strict decode, defaulting, managedFields,
// validation, encoding the command and proving it round-trips
// (fsm.Verify, as cluster.Apply does), for the 1 KiB pod of `make bench`.
func BenchmarkCreatePath(b *testing.B) {
	body, err := json.Marshal(benchPod())
	if err != nil {
		b.Fatal(err)
	}
	s, req := benchServer(b), benchRequest("create", "", "")
	ctx := withManager(context.Background(), "", "orchbench/v1")
	reportCPU(b, func() { benchCreate(ctx, b, s, req, body) })
}

// storedPod is the bench pod as a create by orchbench stored it.
func storedPod(b *testing.B, s *Server) *v1.Pod {
	body, err := json.Marshal(benchPod())
	if err != nil {
		b.Fatal(err)
	}
	ctx := withManager(context.Background(), "", "orchbench/v1")
	p := benchCreate(ctx, b, s, benchRequest("create", "", ""), body)
	p.ResourceVersion = "7"
	return p
}

// BenchmarkUpdatePath measures a pod update (a controller relabelling it,
// sending back the object it read) before proposing: strict decode,
// defaulting, managedFields against the stored object, validation,
// encoding and Verify.
func BenchmarkUpdatePath(b *testing.B) {
	s := benchServer(b)
	old := storedPod(b, s)
	next := v1.DeepCopy(old)
	next.Labels["rollout"] = "2"
	body, err := json.Marshal(next)
	if err != nil {
		b.Fatal(err)
	}
	req := benchRequest("update", "web", "")
	ctx := withManager(context.Background(), "", "orch-controller/v1")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		obj, err := decodeObject(req, body)
		if err != nil {
			b.Fatal(err)
		}
		v1.Default(obj)
		if err := s.trackUpdate(ctx, req, obj, old); err != nil {
			b.Fatal(err)
		}
		if err := v1.ValidateUpdate(obj, old); err != nil {
			b.Fatal(err)
		}
		cmd, err := fsm.NewUpdate(obj, false)
		if err != nil {
			b.Fatal(err)
		}
		if err := fsm.Verify(cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatusUpdatePath measures a node agent's pod status update
// (running, ready, with its IP) before proposing: strict decode, the
// stored object with the new status, managedFields of the status writer,
// validation, encoding and Verify.
func BenchmarkStatusUpdatePath(b *testing.B) {
	s := benchServer(b)
	old := storedPod(b, s)
	old.Spec.NodeName = "n1"
	next := v1.DeepCopy(old)
	now := v1.NewTime(time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC))
	next.Status = v1.PodStatus{Phase: v1.PodRunning, HostIP: "10.0.0.1", PodIP: "10.244.1.5",
		PodIPs: []v1.PodIP{{IP: "10.244.1.5"}}, StartTime: &now,
		Conditions: []v1.PodCondition{
			{Type: v1.PodScheduled, Status: v1.ConditionTrue, LastTransitionTime: now},
			{Type: "Initialized", Status: v1.ConditionTrue, LastTransitionTime: now},
			{Type: "ContainersReady", Status: v1.ConditionTrue, LastTransitionTime: now},
			{Type: "Ready", Status: v1.ConditionTrue, LastTransitionTime: now}},
		ContainerStatuses: []v1.ContainerStatus{{Name: "web", Image: "busybox:1.35", Ready: true,
			ContainerID: "containerd://" + strings.Repeat("a", 64)}}}
	body, err := json.Marshal(next)
	if err != nil {
		b.Fatal(err)
	}
	req := benchRequest("update", "web", "status")
	ctx := withManager(context.Background(), "", "orch-node/n1")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in, err := decodeObject(req, body)
		if err != nil {
			b.Fatal(err)
		}
		obj := v1.DeepCopy(v1.Object(old))
		v1.CopyStatus(obj, in)
		if err := s.trackUpdate(ctx, req, obj, old); err != nil {
			b.Fatal(err)
		}
		if err := v1.ValidateUpdate(obj, old); err != nil {
			b.Fatal(err)
		}
		cmd, err := fsm.NewUpdate(obj, true)
		if err != nil {
			b.Fatal(err)
		}
		if err := fsm.Verify(cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyPath measures a server-side apply to a stored pod (kubectl
// apply --server-side adding a label) before proposing: the applied
// configuration decoded, merged into the stored object with
// managedFields, the result decoded, validated, encoded and Verified.
func BenchmarkApplyPath(b *testing.B) {
	s := benchServer(b)
	old := storedPod(b, s)
	cfg := benchPod()
	cfg.APIVersion, cfg.Kind = "v1", "Pod"
	cfg.Labels["rollout"] = "2"
	raw, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	req := benchRequest("patch", "web", "")
	fm, err := s.fields.get(req.resource, "")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		patch, err := decodeApplyPatch(raw, 100)
		if err != nil {
			b.Fatal(err)
		}
		obj, err := appliedObject(req, fm, old, patch, "kubectl", false)
		if err != nil {
			b.Fatal(err)
		}
		if err := v1.ValidateUpdate(obj, old); err != nil {
			b.Fatal(err)
		}
		cmd, err := fsm.NewUpdate(obj, false)
		if err != nil {
			b.Fatal(err)
		}
		if err := fsm.Verify(cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// benchNamespaces is a podsecurity.Store holding the "default" namespace
// with no Pod Security labels (the cluster defaults apply) and no pods.
type benchNamespaces struct{}

func (benchNamespaces) Namespace(_ context.Context, name string) (*v1.Namespace, error) {
	if name != "default" {
		return nil, v1.NewNotFound("namespaces", name)
	}
	return &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default", UID: "ns-uid", ResourceVersion: "1"}}, nil
}

func (benchNamespaces) Pods(context.Context, string) ([]*v1.Pod, error) { return nil, nil }

// BenchmarkCreateAdmitPath is BenchmarkCreatePath with what else a pod
// create costs the master that serves it: Pod Security admission at the
// default policy (baseline in every mode) and the record the response is
// written from.
func BenchmarkCreateAdmitPath(b *testing.B) {
	body, err := json.Marshal(benchPod())
	if err != nil {
		b.Fatal(err)
	}
	s, req := benchServer(b), benchRequest("create", "", "")
	if s.podSecurity, err = podsecurity.New(podsecurity.Config{}, benchNamespaces{}, nil, nil); err != nil {
		b.Fatal(err)
	}
	ctx := withManager(context.Background(), "", "orchbench/v1")
	reportCPU(b, func() {
		p := benchCreate(ctx, b, s, req, body)
		if err := s.admitPodSecurity(ctx, req, p, nil); err != nil {
			b.Fatal(err)
		}
		p.ResourceVersion = "7"
		if _, err := fsm.NewRecord(p, nil).JSON(); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkTrackCreate measures a pod create's managedFields alone:
// through the field manager, and from the entry remembered for the
// pod's shape (every create of the bench pod after the first).
func BenchmarkTrackCreate(b *testing.B) {
	for _, remembered := range []bool{false, true} {
		name := "fieldmanager"
		if remembered {
			name = "shape"
		}
		b.Run(name, func(b *testing.B) {
			s, req := benchServer(b), benchRequest("create", "", "")
			ctx := withManager(context.Background(), "", "orchbench/v1")
			p := benchPod()
			v1.Default(p)
			track := s.trackWrite
			if remembered {
				track = s.trackUpdate
			}
			reportCPU(b, func() {
				p.ManagedFields = nil
				if err := track(ctx, req, p, nil); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
