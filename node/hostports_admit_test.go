package node

import (
	"log/slog"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestAdmitHostPorts(t *testing.T) {
	pod := func(uid string, hostNetwork bool, phase string, ports ...v1.ContainerPort) *v1.Pod {
		return &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: uid, Namespace: "default", UID: uid},
			Spec:   v1.PodSpec{HostNetwork: hostNetwork, Containers: []v1.Container{{Name: "c", Ports: ports}}},
			Status: v1.PodStatus{Phase: phase}}
	}
	tcp := func(ip string, port int32) v1.ContainerPort {
		return v1.ContainerPort{ContainerPort: port, HostPort: port, HostIP: ip, Protocol: "TCP"}
	}
	type step struct {
		pod      *v1.Pod
		started  bool     // the worker already has containers (adopted)
		gone     bool     // the pod is torn down instead of synced
		rejected bool     // want NodePorts
		seed     []v1.Pod // the node's first list, before this step
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"free ports", []step{
			{pod: pod("a", false, v1.PodPending, tcp("", 80))},
			{pod: pod("b", false, v1.PodPending, tcp("", 81))},
		}},
		{"taken port", []step{
			{pod: pod("a", false, v1.PodPending, tcp("", 80))},
			{pod: pod("b", false, v1.PodPending, tcp("10.0.0.1", 80)), rejected: true},
			{pod: pod("b", false, v1.PodPending, tcp("10.0.0.1", 80)), rejected: true}, // stays rejected
		}},
		{"held by a hostNetwork pod", []step{
			{pod: pod("h", true, v1.PodRunning, tcp("", 9100))},
			{pod: pod("b", false, v1.PodPending, tcp("", 9100)), rejected: true},
		}},
		{"other address", []step{
			{pod: pod("a", false, v1.PodPending, tcp("10.0.0.1", 80))},
			{pod: pod("b", false, v1.PodPending, tcp("10.0.0.2", 80))},
		}},
		{"freed by a finished pod", []step{
			{pod: pod("a", false, v1.PodPending, tcp("", 80))},
			{pod: pod("a", false, v1.PodSucceeded, tcp("", 80))},
			{pod: pod("b", false, v1.PodPending, tcp("", 80))},
		}},
		{"freed by a deleted pod", []step{
			{pod: pod("a", false, v1.PodPending, tcp("", 80))},
			{pod: pod("a", false, v1.PodPending), gone: true},
			{pod: pod("b", false, v1.PodPending, tcp("", 80))},
		}},
		{"a running pod is never rejected", []step{
			{pod: pod("a", false, v1.PodPending, tcp("", 80))},
			{pod: pod("b", false, v1.PodPending, tcp("", 80)), started: true},
		}},
		{"rejected before an agent restart", []step{
			{pod: func() *v1.Pod {
				p := pod("b", false, v1.PodFailed, tcp("", 80))
				p.Status.Reason, p.Status.Message = ReasonNodePorts, MessageNodePorts
				return p
			}(), rejected: true},
		}},
		{"running pods listed at start hold their ports", []step{
			{seed: []v1.Pod{*pod("a", false, v1.PodRunning, tcp("", 80))},
				pod: pod("b", false, v1.PodPending, tcp("", 80)), rejected: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Agent{}
			workers := map[string]*podWorker{}
			for i, st := range tc.steps {
				if st.seed != nil {
					a.seedHostPorts(st.seed)
				}
				w := workers[st.pod.UID]
				if w == nil {
					w = &podWorker{a: a, uid: st.pod.UID, log: slog.New(slog.DiscardHandler), containers: map[string]*containerState{}}
					workers[st.pod.UID] = w
				}
				if st.started {
					w.containers["c"] = &containerState{name: "c", running: true}
				}
				if st.gone {
					a.setHostPorts(st.pod.UID, nil, "")
					delete(workers, st.pod.UID)
					continue
				}
				got := w.admitHostPorts(st.pod)
				w.terminal = got
				switch {
				case st.rejected && (got == nil || got.reason != ReasonNodePorts || got.message != MessageNodePorts):
					t.Errorf("step %d (%s): %+v, want rejected with reason NodePorts", i, st.pod.Name, got)
				case !st.rejected && got != nil:
					t.Errorf("step %d (%s): rejected: %+v", i, st.pod.Name, got)
				}
			}
		})
	}
}
