package node

import (
	"maps"
	"slices"
	"sync"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/net/hostport"
)

// HostPorts programs the DNAT of the node's pods' host ports from the full
// list of mappings (net/hostport implements it). Update must not block.
type HostPorts interface {
	Update(mappings []hostport.Mapping)
}

// hostPortTable is the host-port mappings of the node's pods, by pod UID.
// Workers set a pod's once its sandbox (and so its IP) is known and forget
// them when the pod is torn down; every change hands the whole table to
// Config.HostPorts. The zero value is ready to use.
type hostPortTable struct {
	mu     sync.Mutex
	byPod  map[string][]hostport.Mapping
	seeded bool
	// claims are the host ports of the pods the node admitted, hostNetwork
	// pods included (admitHostPorts), by pod UID.
	claims map[string]hostPortClaim
}

// podHostPorts are the DNAT mappings a pod needs on its node: one per
// container port with a hostPort, to the pod's IP. A hostNetwork pod needs
// none: its containers bind the node's ports themselves.
func podHostPorts(pod *v1.Pod, podIP string) []hostport.Mapping {
	if pod == nil || pod.Spec.HostNetwork || podIP == "" {
		return nil
	}
	var out []hostport.Mapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			out = append(out, hostport.Mapping{Pod: pod.Namespace + "/" + pod.Name, HostIP: p.HostIP, HostPort: p.HostPort,
				Protocol: p.Protocol, PodIP: podIP, ContainerPort: p.ContainerPort})
		}
	}
	return out
}

// seedHostPorts fills the table, the first time only, from the pods the node lists
// when it starts, with the pod IPs they reported: a restarted agent keeps
// the rules of the pods it is about to adopt, and drops those of pods
// deleted while it was down, before its workers catch up.
func (a *Agent) seedHostPorts(pods []v1.Pod) {
	t := &a.hostPorts
	t.mu.Lock()
	if t.seeded {
		t.mu.Unlock()
		return
	}
	t.seeded = true
	t.claimRunning(pods)
	if t.byPod == nil {
		t.byPod = map[string][]hostport.Mapping{}
	}
	for i := range pods {
		p := &pods[i]
		if _, ok := t.byPod[p.UID]; !ok && !p.Terminal() && p.DeletionTimestamp == nil {
			if ms := podHostPorts(p, p.Status.PodIP); len(ms) > 0 {
				t.byPod[p.UID] = ms
			}
		}
	}
	all := t.all()
	t.mu.Unlock()
	if a.cfg.HostPorts != nil {
		a.cfg.HostPorts.Update(all)
	}
}

// setHostPorts records the pod's mappings (none when pod is nil: the pod is
// gone, and its claim too) and hands the table to Config.HostPorts if they
// changed and the table was seeded.
func (a *Agent) setHostPorts(uid string, pod *v1.Pod, podIP string) {
	ms := podHostPorts(pod, podIP)
	t := &a.hostPorts
	t.mu.Lock()
	if pod == nil {
		delete(t.claims, uid)
	}
	old, had := t.byPod[uid]
	if (len(ms) == 0 && !had) || (had && slices.Equal(old, ms)) {
		t.mu.Unlock()
		return
	}
	if t.byPod == nil {
		t.byPod = map[string][]hostport.Mapping{}
	}
	if len(ms) == 0 {
		delete(t.byPod, uid)
	} else {
		t.byPod[uid] = ms
	}
	all, seeded := t.all(), t.seeded
	t.mu.Unlock()
	// Until the first list of the node's pods, what runs is not known in
	// full: the rules stay as a previous agent left them.
	if a.cfg.HostPorts != nil && seeded {
		a.cfg.HostPorts.Update(all)
	}
}

// all is every mapping, by pod UID order (under mu).
func (t *hostPortTable) all() []hostport.Mapping {
	var out []hostport.Mapping
	for _, uid := range slices.Sorted(maps.Keys(t.byPod)) {
		out = append(out, t.byPod[uid]...)
	}
	return out
}
