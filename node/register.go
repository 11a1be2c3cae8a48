package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/wait"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// registration is what the agent keeps of its Node across restarts, so it
// can run its pods while no master answers.
type registration struct {
	UID     string `json:"uid"`
	PodCIDR string `json:"podCIDR"`
}

func (a *Agent) registrationPath() string { return filepath.Join(a.cfg.StateDir, "node.json") }

// register makes sure the Node object exists and carries this agent's
// labels and endpoint; it returns the node's pod CIDR. When no master
// answers it falls back to the last registration saved on disk.
func (a *Agent) register(ctx context.Context) (*net.IPNet, error) {
	var saved registration
	if b, err := os.ReadFile(a.registrationPath()); err == nil {
		_ = json.Unmarshal(b, &saved)
	}
	waited := 0
	for attempt := 0; ; attempt++ {
		n, err := a.registerOnce(ctx)
		if err == nil && n.Spec.PodCIDR == "" {
			// Registered while the cluster CIDR had no free subnet: NotReady
			// until the leader's node IPAM gives one (as a kubelet whose
			// network plugin has no pod CIDR yet).
			if err := a.postNoPodCIDR(ctx); err != nil {
				a.log.Warn("node status update failed", "err", err)
			}
			if waited == 0 {
				a.log.Warn("the node has no pod CIDR yet (the cluster CIDR may be full); waiting for one")
			}
			waited++
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("register node %s: waiting for a pod CIDR: %w", a.cfg.Name, ctx.Err())
			case <-time.After(max(min(a.cfg.HeartbeatInterval, 2*time.Second), 100*time.Millisecond)):
			}
			continue
		}
		if err == nil {
			_, cidr, err := net.ParseCIDR(n.Spec.PodCIDR)
			if err != nil {
				return nil, fmt.Errorf("register node %s: pod CIDR %q: %w", a.cfg.Name, n.Spec.PodCIDR, err)
			}
			b, _ := json.Marshal(registration{UID: n.UID, PodCIDR: n.Spec.PodCIDR})
			if err := writeFileAtomic(a.registrationPath(), b, 0o600); err != nil {
				return nil, fmt.Errorf("register node %s: %w", a.cfg.Name, err)
			}
			uid := n.UID
			a.nodeUID.Store(&uid)
			a.log.Info("registered", "podCIDR", n.Spec.PodCIDR, "uid", n.UID)
			return cidr, nil
		}
		if v1.CodeOf(err) == 401 || v1.CodeOf(err) == 403 {
			return nil, fmt.Errorf("register node %s: %w", a.cfg.Name, err)
		}
		if saved.PodCIDR != "" {
			_, cidr, perr := net.ParseCIDR(saved.PodCIDR)
			if perr == nil {
				uid := saved.UID
				a.nodeUID.Store(&uid)
				a.log.Warn("no master answers; running with the saved registration", "podCIDR", saved.PodCIDR, "err", err)
				return cidr, nil
			}
		}
		a.log.Warn("register failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("register node %s: %w", a.cfg.Name, err)
		case <-time.After(wait.Jitter(min(time.Duration(attempt+1)*500*time.Millisecond, 5*time.Second), 0.5)):
		}
	}
}

func (a *Agent) registerOnce(ctx context.Context) (*v1.Node, error) {
	var cur v1.Node
	err := a.cfg.Client.Get(ctx, "nodes", "", a.cfg.Name, &cur)
	if v1.IsNotFound(err) {
		n := &v1.Node{ObjectMeta: v1.ObjectMeta{Name: a.cfg.Name, Labels: a.labels(), Annotations: a.annotations()},
			Spec: v1.NodeSpec{Taints: a.cfg.Taints}}
		n.Status = a.nodeStatus(nil)
		if err := a.cfg.Client.Create(ctx, n); err != nil && !v1.IsAlreadyExists(err) {
			return nil, err
		} else if err == nil {
			return n, nil
		}
		err = a.cfg.Client.Get(ctx, "nodes", "", a.cfg.Name, &cur)
	}
	if err != nil {
		return nil, err
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": a.labels(), "annotations": a.annotations()}})
	var out v1.Node
	if err := a.cfg.Client.Patch(ctx, "nodes", "", a.cfg.Name, patch, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (a *Agent) labels() map[string]string {
	l := map[string]string{v1.LabelHostname: a.cfg.Name, v1.LabelOS: "linux", v1.LabelArch: runtime.GOARCH}
	for k, v := range a.cfg.Labels {
		l[k] = v
	}
	return l
}

func (a *Agent) annotations() map[string]string {
	if a.cfg.AgentCertSHA256 == "" {
		return nil
	}
	return map[string]string{v1.AnnotationAgentCertSHA256: a.cfg.AgentCertSHA256}
}

// heartbeat keeps the node's status up to date until ctx ends: every
// HeartbeatInterval it computes the status and writes it only if it differs
// from the stored one (heartbeat times aside) or NodeStatusReportFrequency
// passed since its last write, as the kubelet does since node leases: the
// lease (leaseLoop) is the heartbeat, so a node at rest costs the cluster
// one small lease renewal per interval instead of a whole Node write.
func (a *Agent) heartbeat(ctx context.Context) {
	var lastReport time.Time
	for {
		pctx, cancel := context.WithTimeout(ctx, a.cfg.HeartbeatInterval)
		if reported, err := a.syncNodeStatus(pctx, lastReport); err != nil {
			if ctx.Err() == nil {
				a.log.Warn("node status update failed", "err", err)
			}
		} else if reported {
			lastReport = a.cfg.Now()
		}
		cancel()
		if !a.nextBeat(ctx) {
			return
		}
	}
}

// syncNodeStatus writes the node's status if it changed or the last report
// (lastReport, zero for none yet) is NodeStatusReportFrequency old, and
// says whether it wrote. The stored Node is read without a linearizable
// read (stale=true): a stale copy costs at most one extra write.
func (a *Agent) syncNodeStatus(ctx context.Context, lastReport time.Time) (bool, error) {
	var cur v1.Node
	if err := a.cfg.Client.Get(ctx, "nodes", "", a.cfg.Name, &cur, client.Stale()); err != nil {
		return false, err
	}
	st := a.nodeStatus(cur.Status.Condition(v1.NodeReady))
	due := lastReport.IsZero() || a.cfg.Now().Sub(lastReport) >= a.cfg.NodeStatusReportFrequency
	if !due && !nodeStatusChanged(&st, &cur.Status) {
		return false, nil
	}
	patch, _ := json.Marshal(map[string]any{"status": st})
	if err := a.cfg.Client.PatchStatus(ctx, "nodes", "", a.cfg.Name, patch, nil); err != nil {
		return false, err
	}
	return true, nil
}

// nodeStatusChanged reports whether the status the agent would write
// differs from the stored one other than in its conditions' heartbeat and
// transition times (the kubelet's nodeStatusHasChanged).
func nodeStatusChanged(want, stored *v1.NodeStatus) bool {
	strip := func(s *v1.NodeStatus) v1.NodeStatus {
		c := *s
		c.Conditions = make([]v1.NodeCondition, len(s.Conditions))
		for i, cond := range s.Conditions {
			cond.LastHeartbeatTime, cond.LastTransitionTime = v1.Time{}, v1.Time{}
			c.Conditions[i] = cond
		}
		return c
	}
	return !v1.JSONEqual(strip(want), strip(stored))
}

// NoPodCIDRMessage is the Ready condition's message of a node that has no
// pod CIDR yet, in the words of a kubelet whose network is not ready.
const NoPodCIDRMessage = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:the node has no spec.podCIDR yet"

// postNoPodCIDR writes the status of a node waiting for its pod CIDR:
// Ready False, so nothing is scheduled to it and its heartbeat goes on.
func (a *Agent) postNoPodCIDR(ctx context.Context) error {
	st := a.nodeStatus(nil)
	st.Conditions[0].Status, st.Conditions[0].Reason, st.Conditions[0].Message = v1.ConditionFalse, "KubeletNotReady", NoPodCIDRMessage
	patch, _ := json.Marshal(map[string]any{"status": st})
	return a.cfg.Client.PatchStatus(ctx, "nodes", "", a.cfg.Name, patch, nil)
}

// nodeStatus is the status the agent reports; prev is the Ready condition
// it last saw stored (its transition time is kept while Ready stays True).
func (a *Agent) nodeStatus(prev *v1.NodeCondition) v1.NodeStatus {
	now := v1.NewTime(a.cfg.Now())
	ready := v1.NodeCondition{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "NodeReady",
		Message: "the node agent is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}
	if prev != nil && prev.Status == v1.ConditionTrue {
		ready.LastTransitionTime = prev.LastTransitionTime
	}
	capacity := a.capacity()
	st := v1.NodeStatus{
		Capacity: capacity, Allocatable: capacity, Phase: "Running",
		Conditions:      []v1.NodeCondition{ready},
		DaemonEndpoints: v1.NodeDaemonEndpoints{KubeletEndpoint: v1.DaemonEndpoint{Port: a.cfg.AgentPort}},
		NodeInfo: v1.NodeSystemInfo{
			KernelVersion: kernelVersion(), OperatingSystem: runtime.GOOS, Architecture: runtime.GOARCH,
			ContainerRuntimeVersion: a.cfg.RuntimeVersion, KubeletVersion: a.agentVersion(),
		},
	}
	if a.cfg.NodeIP != "" {
		st.Addresses = append(st.Addresses, v1.NodeAddress{Type: "InternalIP", Address: a.cfg.NodeIP})
	}
	st.Addresses = append(st.Addresses, v1.NodeAddress{Type: "Hostname", Address: a.cfg.Name})
	return st
}

// capacity is what the host offers: its CPUs, its memory and 110 pods,
// unless the config overrides them.
func (a *Agent) capacity() v1.ResourceList {
	out := v1.ResourceList{
		v1.ResourceCPU:  *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		v1.ResourcePods: *resource.NewQuantity(110, resource.DecimalSI),
	}
	if mem := memTotal(); mem > 0 {
		out[v1.ResourceMemory] = *resource.NewQuantity(mem, resource.BinarySI)
	}
	for k, v := range a.cfg.Capacity {
		out[k] = v
	}
	return out
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func kernelVersion() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

// writeFileAtomic writes b to path through a temporary file and a rename;
// the file gets perm (0600 for the agent's own files), a missing directory 0700.
func writeFileAtomic(path string, b []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := path + ".tmp"
	_ = os.Remove(tmp) // WriteFile keeps the mode of a file that exists
	if err := os.WriteFile(tmp, b, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// agentVersion is the nodeInfo.kubeletVersion the node reports: the agent's
// semantic version, as a kubelet reports its own.
func (a *Agent) agentVersion() string {
	if a.cfg.AgentVersion == "" {
		return "v0.0.0-master+unknown"
	}
	return a.cfg.AgentVersion
}
