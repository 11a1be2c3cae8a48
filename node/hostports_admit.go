package node

import (
	v1 "orch.io/orch/api/v1"
)

// The kubelet's words when its NodePorts admission rejects a pod.
const (
	ReasonNodePorts  = "NodePorts"
	MessageNodePorts = "Pod was rejected: Predicate NodePorts failed: " + v1.HostPortsConflictMessage
)

// hostPortClaim is the host ports an admitted pod holds on the node.
type hostPortClaim struct {
	ports []v1.HostPort
	// done: the pod's phase (as the API last said) is Succeeded or Failed,
	// so its ports are free again, as the scheduler counts them.
	done bool
}

// admitHostPorts is the kubelet's NodePorts admission: a pod the node has
// not started yet whose host ports conflict with those of a pod the node
// admitted before is rejected (Failed, reason NodePorts) and never gets a
// sandbox. The scheduler and the binding check keep this from happening to
// scheduled pods; it catches pods created with spec.nodeName set. A pod
// that already runs (adopted after an agent restart) is admitted as it is.
// It is called on every sync, and also tracks when a pod's ports free up.
func (w *podWorker) admitHostPorts(pod *v1.Pod) *terminalReason {
	if w.terminal != nil && w.terminal.reason == ReasonNodePorts {
		return w.terminal
	}
	if pod.Status.Phase == v1.PodFailed && pod.Status.Reason == ReasonNodePorts {
		return &terminalReason{ReasonNodePorts, pod.Status.Message}
	}
	t := &w.a.hostPorts
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.claims[w.uid]; ok {
		c.done = pod.Terminal()
		t.claims[w.uid] = c
		return nil
	}
	want := v1.PodHostPorts(pod)
	if len(want) == 0 || pod.Terminal() {
		return nil
	}
	started := w.sandbox != nil || len(w.containers) > 0 || pod.Status.Phase == v1.PodRunning
	if !started {
		var used v1.HostPortSet
		for uid, c := range t.claims {
			if uid != w.uid && !c.done {
				used.Add(c.ports...)
			}
		}
		if port, conflict := used.Conflict(want); conflict {
			w.log.Warn("pod rejected: its host port is taken", "pod", pod.Namespace+"/"+pod.Name, "port", port.String())
			return &terminalReason{ReasonNodePorts, MessageNodePorts}
		}
	}
	if t.claims == nil {
		t.claims = map[string]hostPortClaim{}
	}
	t.claims[w.uid] = hostPortClaim{ports: want}
	return nil
}

// claimRunning records, under t.mu, the host ports of the pods a node lists
// as running when it starts, before their workers catch up.
func (t *hostPortTable) claimRunning(pods []v1.Pod) {
	if t.claims == nil {
		t.claims = map[string]hostPortClaim{}
	}
	for i := range pods {
		p := &pods[i]
		if _, ok := t.claims[p.UID]; ok || p.Status.Phase != v1.PodRunning {
			continue
		}
		if ports := v1.PodHostPorts(p); len(ports) > 0 {
			t.claims[p.UID] = hostPortClaim{ports: ports}
		}
	}
}
