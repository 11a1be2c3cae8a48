package node

import (
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"

	v1 "orch.io/orch/api/v1"
)

func TestAdmit(t *testing.T) {
	nodeA := &user.DefaultInfo{Name: "system:node:a", Groups: []string{"system:nodes"}}
	selfNode := &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "a"}, Spec: v1.NodeSpec{PodCIDR: "10.244.1.0/24"},
		Status: v1.NodeStatus{Addresses: []v1.NodeAddress{{Type: "InternalIP", Address: "192.168.0.10"}}}}
	node := func(name string, change func(*v1.Node)) *v1.Node {
		n := &v1.Node{ObjectMeta: v1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, "disk": "ssd"}},
			Spec: v1.NodeSpec{PodCIDR: "10.244.1.0/24", Taints: []v1.Taint{{Key: "k", Effect: v1.TaintNoSchedule}}}}
		if change != nil {
			change(n)
		}
		return n
	}
	pod := func(nodeName string, change func(*v1.Pod)) *v1.Pod {
		p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec: v1.PodSpec{NodeName: nodeName, Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}
		if change != nil {
			change(p)
		}
		return p
	}
	upd := func(res, sub, name string, obj, old v1.Object) Attributes {
		return Attributes{User: nodeA, Operation: Update, Resource: res, Subresource: sub, Name: name, Object: obj, OldObject: old, Node: selfNode}
	}
	for _, tc := range []struct {
		name string
		a    Attributes
		want string // "" admits
	}{
		{"create own lease", Attributes{User: nodeA, Operation: Create, Resource: "leases", Name: "a", Namespace: NodeLeaseNamespace}, ""},
		{"update own lease", Attributes{User: nodeA, Operation: Update, Resource: "leases", Name: "a", Namespace: NodeLeaseNamespace}, ""},
		{"create other's lease", Attributes{User: nodeA, Operation: Create, Resource: "leases", Name: "b", Namespace: NodeLeaseNamespace},
			`leases "b" is forbidden: can only access node lease with the same name as the requesting node`},
		{"create a lease elsewhere", Attributes{User: nodeA, Operation: Create, Resource: "leases", Name: "a", Namespace: "default"},
			`can only access leases in the "kube-node-lease" system namespace`},
		{"register itself", Attributes{User: nodeA, Operation: Create, Resource: "nodes", Name: "a", Object: node("a", func(n *v1.Node) { n.Spec.PodCIDR = "" })}, ""},
		{"register another node", Attributes{User: nodeA, Operation: Create, Resource: "nodes", Name: "b", Object: node("b", func(n *v1.Node) { n.Spec.PodCIDR = "" })},
			`nodes "b" is forbidden: node "a" is not allowed to modify node "b"`},
		{"register with a pod CIDR", Attributes{User: nodeA, Operation: Create, Resource: "nodes", Name: "a", Object: node("a", nil)}, "not allowed to set its podCIDR"},
		{"register with a restricted label", Attributes{User: nodeA, Operation: Create, Resource: "nodes", Name: "a",
			Object: node("a", func(n *v1.Node) { n.Spec.PodCIDR = ""; n.Labels["node-restriction.kubernetes.io/pci"] = "true" })},
			`node "a" is not allowed to set the following labels: node-restriction.kubernetes.io/pci`},
		{"own labels in the kubelet's set", upd("nodes", "", "a", node("a", func(n *v1.Node) {
			n.Labels["topology.kubernetes.io/zone"] = "z1"
			n.Labels["node.kubernetes.io/role"] = "x"
			n.Labels["example.com/gpu"] = "yes"
		}), node("a", nil)), ""},
		{"other kubernetes.io label", upd("nodes", "", "a", node("a", func(n *v1.Node) { n.Labels["node-role.kubernetes.io/master"] = "" }), node("a", nil)),
			"is not allowed to modify labels: node-role.kubernetes.io/master"},
		{"remove a restricted label", upd("nodes", "", "a", node("a", nil), node("a", func(n *v1.Node) { n.Labels["a.node-restriction.kubernetes.io/x"] = "1" })),
			"a.node-restriction.kubernetes.io/x"},
		{"taints", upd("nodes", "", "a", node("a", func(n *v1.Node) { n.Spec.Taints = nil }), node("a", nil)), `node "a" is not allowed to modify taints`},
		{"pod CIDR", upd("nodes", "", "a", node("a", func(n *v1.Node) { n.Spec.PodCIDR = "10.244.2.0/24" }), node("a", nil)), "not allowed to modify its podCIDR"},
		{"update without pod CIDR keeps it", upd("nodes", "", "a", node("a", func(n *v1.Node) { n.Spec.PodCIDR = "" }), node("a", nil)), ""},
		{"other node's status", upd("nodes", "status", "b", node("b", nil), node("b", nil)), `node "a" is not allowed to modify node "b"`},
		{"own pod status", upd("pods", "status", "p", pod("a", func(p *v1.Pod) { p.Status.PodIP = "10.244.1.5"; p.Status.HostIP = "192.168.0.10" }), pod("a", nil)), ""},
		{"other's pod status", upd("pods", "status", "p", pod("b", nil), pod("b", nil)),
			`node "a" can only update pod status for pods with spec.nodeName set to itself`},
		{"forged pod IP", upd("pods", "status", "p", pod("a", func(p *v1.Pod) { p.Status.PodIP = "10.244.2.5" }), pod("a", nil)),
			`node "a" cannot set pod IP "10.244.2.5": it is outside the node's pod CIDR "10.244.1.0/24"`},
		{"forged pod IPs", upd("pods", "status", "p", pod("a", func(p *v1.Pod) { p.Status.PodIPs = []v1.PodIP{{IP: "10.96.0.1"}} }), pod("a", nil)),
			`cannot set pod IP "10.96.0.1"`},
		{"forged host IP", upd("pods", "status", "p", pod("a", func(p *v1.Pod) { p.Status.HostIP = "192.168.0.11" }), pod("a", nil)),
			`cannot set hostIP "192.168.0.11"`},
		{"hostNetwork pod with the node's IP", upd("pods", "status", "p",
			pod("a", func(p *v1.Pod) { p.Spec.HostNetwork = true; p.Status.PodIP = "192.168.0.10" }), pod("a", func(p *v1.Pod) { p.Spec.HostNetwork = true })), ""},
		{"hostNetwork pod with another IP", upd("pods", "status", "p",
			pod("a", func(p *v1.Pod) { p.Spec.HostNetwork = true; p.Status.PodIP = "10.244.1.5" }), pod("a", func(p *v1.Pod) { p.Spec.HostNetwork = true })),
			"of a hostNetwork pod: it is not an address of the node"},
		{"unchanged IP outside the CIDR", upd("pods", "status", "p", pod("a", func(p *v1.Pod) { p.Status.PodIP = "10.9.9.9"; p.Status.Phase = "Running" }),
			pod("a", func(p *v1.Pod) { p.Status.PodIP = "10.9.9.9" })), ""},
		{"labels through status", upd("pods", "status", "p", pod("a", func(p *v1.Pod) { p.Labels["app"] = "db" }), pod("a", nil)),
			`node "a" cannot update labels through pod status`},
		{"spec through status", upd("pods", "status", "p", pod("a", func(p *v1.Pod) { p.Spec.Containers[0].Image = "evil" }), pod("a", nil)),
			"cannot update the pod's spec through pod status"},
		{"create pod", Attributes{User: nodeA, Operation: Create, Resource: "pods", Name: "p", Object: pod("a", nil)},
			`pods "p" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "a" can only create mirror pods`},
		{"create mirror pod", Attributes{User: nodeA, Operation: Create, Resource: "pods", Name: "p",
			Object: pod("a", func(p *v1.Pod) { p.Annotations = map[string]string{mirrorPodAnnotation: "x"} })}, "orch has no mirror pods"},
		{"delete own pod", Attributes{User: nodeA, Operation: Delete, Resource: "pods", Name: "p", OldObject: pod("a", nil)}, ""},
		{"delete other's pod", Attributes{User: nodeA, Operation: Delete, Resource: "pods", Name: "p", OldObject: pod("b", nil)},
			`node "a" can only delete pods with spec.nodeName set to itself`},
		{"not a node", Attributes{User: &user.DefaultInfo{Name: "admin"}, Operation: Update, Resource: "nodes", Name: "b", Object: node("b", nil), OldObject: node("b", nil)}, ""},
		{"unknown node", Attributes{User: &user.DefaultInfo{Name: "x", Groups: []string{"system:nodes"}}, Operation: Update, Resource: "nodes", Name: "b"},
			`could not determine node from user "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Admit(tc.a)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if v1.CodeOf(err) != 403 {
				t.Fatalf("code %d, want 403", v1.CodeOf(err))
			}
		})
	}
}
