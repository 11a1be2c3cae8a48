package node

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	kubeletapis "k8s.io/kubelet/pkg/apis"

	v1 "orch.io/orch/api/v1"
)

// Operation is what an admitted request does.
type Operation string

// Operations, as Kubernetes' admission names them.
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// mirrorPodAnnotation marks a kubelet's mirror pod (orch has none).
const mirrorPodAnnotation = "kubernetes.io/config.mirror"

// Attributes are what Admit looks at.
type Attributes struct {
	// User made the request.
	User user.Info
	// Operation is what the request does.
	Operation Operation
	// Resource is the plural ("pods", "nodes"); Subresource "" or "status".
	Resource, Subresource string
	// Name is the object's name (for a create, the new object's);
	// Namespace its namespace ("" for cluster-scoped kinds).
	Name, Namespace string
	// Object is the object to be written (nil for a delete); OldObject the
	// stored one (nil for a create).
	Object, OldObject v1.Object
	// Node is the requesting node's stored Node, nil when it is not
	// registered: pod IPs are checked against it.
	Node *v1.Node
	// InvolvedPods are, for an event about a pod, the stored pods the
	// event (and the stored event it replaces) are about, by
	// namespace/name; a pod missing from it does not exist.
	InvolvedPods map[string]*v1.Pod
}

// Admit is the NodeRestriction admission: for a node's writes, the checks
// that depend on the object. It returns nil for users that are not nodes,
// and a 403 in Kubernetes' words when a node oversteps: a node may change
// only its own Node, never its taints or pod CIDR after registration nor
// labels outside the kubelet's set; it may update the status (not the
// spec or labels) only of its own pods, with IPs of its own; it may delete
// only its own pods; and it may not create pods.
func Admit(a Attributes) error {
	self, isNode := NodeIdentity(a.User)
	if !isNode {
		return nil
	}
	if self == "" {
		return v1.NewForbiddenFor(a.Resource, a.Name, fmt.Errorf("could not determine node from user %q", a.User.GetName()))
	}
	var err error
	switch a.Resource {
	case "pods":
		err = admitPod(self, a)
	case "nodes":
		err = admitNode(self, a)
	case "leases":
		err = admitLease(self, a)
	case "events":
		err = admitEvent(self, a)
	}
	if err != nil {
		return v1.NewForbiddenFor(a.Resource, a.Name, err)
	}
	return nil
}

func admitPod(self string, a Attributes) error {
	switch {
	case a.Subresource == "status" && a.Operation == Update:
		return admitPodStatus(self, a)
	case a.Subresource == "" && a.Operation == Create:
		pod, ok := a.Object.(*v1.Pod)
		if !ok {
			return fmt.Errorf("unexpected type %T", a.Object)
		}
		if _, mirror := pod.Annotations[mirrorPodAnnotation]; !mirror {
			return fmt.Errorf("pod does not have %q annotation, node %q can only create mirror pods", mirrorPodAnnotation, self)
		}
		return fmt.Errorf("node %q can only create mirror pods, and orch has no mirror pods", self)
	case a.Subresource == "" && a.Operation == Delete:
		old, ok := a.OldObject.(*v1.Pod)
		if !ok {
			return fmt.Errorf("unexpected type %T", a.OldObject)
		}
		if old.Spec.NodeName != self {
			return fmt.Errorf("node %q can only delete pods with spec.nodeName set to itself", self)
		}
		return nil
	case a.Subresource != "" && a.Subresource != "status":
		return fmt.Errorf("unexpected pod subresource %q, only 'status' is allowed", a.Subresource)
	}
	return fmt.Errorf("unexpected operation %q, node %q can only create and delete mirror pods", a.Operation, self)
}

func admitPodStatus(self string, a Attributes) error {
	old, ok := a.OldObject.(*v1.Pod)
	if !ok {
		return fmt.Errorf("unexpected type %T", a.OldObject)
	}
	if old.Spec.NodeName != self {
		return fmt.Errorf("node %q can only update pod status for pods with spec.nodeName set to itself", self)
	}
	pod, ok := a.Object.(*v1.Pod)
	if !ok {
		return fmt.Errorf("unexpected type %T", a.Object)
	}
	if !reflect.DeepEqual(nonEmpty(old.Labels), nonEmpty(pod.Labels)) {
		return fmt.Errorf("node %q cannot update labels through pod status", self)
	}
	if !reflect.DeepEqual(old.Spec, pod.Spec) {
		return fmt.Errorf("node %q cannot update the pod's spec through pod status", self)
	}
	return checkPodIPs(self, a.Node, old, pod)
}

// checkPodIPs refuses pod IPs (and a host IP) the node may not claim: a
// pod's IPs come from the node's pod CIDRs, a hostNetwork pod's and the
// host IP are the node's own addresses. Only addresses that change are
// checked, so a pod keeps its IP if the node's addresses change.
func checkPodIPs(self string, n *v1.Node, old, pod *v1.Pod) error {
	var changed []string
	oldIPs := podIPs(old)
	for _, ip := range podIPs(pod) {
		if !slices.Contains(oldIPs, ip) {
			changed = append(changed, ip)
		}
	}
	hostChanged := pod.Status.HostIP != "" && pod.Status.HostIP != old.Status.HostIP
	if len(changed) == 0 && !hostChanged {
		return nil
	}
	if n == nil {
		return fmt.Errorf("node %q is not registered, so it cannot set pod IPs", self)
	}
	addrs := nodeAddresses(n)
	if hostChanged && !slices.Contains(addrs, pod.Status.HostIP) {
		return fmt.Errorf("node %q cannot set hostIP %q: it is not an address of the node", self, pod.Status.HostIP)
	}
	cidrs := nodePodCIDRs(n)
	for _, s := range changed {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("node %q cannot set pod IP %q: not an IP address", self, s)
		}
		if pod.Spec.HostNetwork {
			if !slices.Contains(addrs, ip.String()) {
				return fmt.Errorf("node %q cannot set pod IP %q of a hostNetwork pod: it is not an address of the node", self, s)
			}
			continue
		}
		inside := false
		for _, c := range cidrs {
			inside = inside || c.Contains(ip)
		}
		if !inside {
			return fmt.Errorf("node %q cannot set pod IP %q: it is outside the node's pod CIDR %q", self, s, n.Spec.PodCIDR)
		}
	}
	return nil
}

func podIPs(p *v1.Pod) []string {
	var out []string
	if p.Status.PodIP != "" {
		out = append(out, p.Status.PodIP)
	}
	for _, ip := range p.Status.PodIPs {
		if ip.IP != "" && !slices.Contains(out, ip.IP) {
			out = append(out, ip.IP)
		}
	}
	return out
}

// nodeAddresses are the node's IP addresses, in canonical form.
func nodeAddresses(n *v1.Node) []string {
	var out []string
	for _, a := range n.Status.Addresses {
		if ip := net.ParseIP(a.Address); ip != nil {
			out = append(out, ip.String())
		}
	}
	return out
}

func nodePodCIDRs(n *v1.Node) []*net.IPNet {
	var out []*net.IPNet
	for _, s := range append([]string{n.Spec.PodCIDR}, n.Spec.PodCIDRs...) {
		if _, c, err := net.ParseCIDR(s); err == nil {
			out = append(out, c)
		}
	}
	return out
}

func admitNode(self string, a Attributes) error {
	if a.Name != self {
		return fmt.Errorf("node %q is not allowed to modify node %q", self, a.Name)
	}
	n, ok := a.Object.(*v1.Node)
	if !ok {
		return fmt.Errorf("unexpected type %T", a.Object)
	}
	switch a.Operation {
	case Create:
		if n.Spec.PodCIDR != "" || len(n.Spec.PodCIDRs) > 0 {
			return fmt.Errorf("node %q is not allowed to set its podCIDR: the masters allocate it", self)
		}
		if forbidden := forbiddenLabels(modifiedLabels(n.Labels, nil)); len(forbidden) > 0 {
			return fmt.Errorf("node %q is not allowed to set the following labels: %s", self, strings.Join(forbidden, ", "))
		}
		return nil
	case Update:
		old, ok := a.OldObject.(*v1.Node)
		if !ok {
			return fmt.Errorf("unexpected type %T", a.OldObject)
		}
		if !reflect.DeepEqual(nonEmpty(n.Spec.Taints), nonEmpty(old.Spec.Taints)) {
			return fmt.Errorf("node %q is not allowed to modify taints", self)
		}
		// An update without them keeps the stored ones (the FSM fills them in).
		if (n.Spec.PodCIDR != "" && n.Spec.PodCIDR != old.Spec.PodCIDR) ||
			(len(n.Spec.PodCIDRs) > 0 && !slices.Equal(n.Spec.PodCIDRs, old.Spec.PodCIDRs)) {
			return fmt.Errorf("node %q is not allowed to modify its podCIDR", self)
		}
		if forbidden := forbiddenLabels(modifiedLabels(n.Labels, old.Labels)); len(forbidden) > 0 {
			return fmt.Errorf("is not allowed to modify labels: %s", strings.Join(forbidden, ", "))
		}
		return nil
	}
	return errors.New("unexpected operation " + string(a.Operation))
}

// nonEmpty maps an empty map or slice to nil, so that absent and empty
// compare equal.
func nonEmpty[T any](v T) any {
	rv := reflect.ValueOf(v)
	if (rv.Kind() == reflect.Map || rv.Kind() == reflect.Slice) && rv.Len() == 0 {
		return nil
	}
	return v
}

// modifiedLabels returns the keys whose values differ between a and b.
func modifiedLabels(a, b map[string]string) []string {
	set := map[string]bool{}
	for k, va := range a {
		if vb, ok := b[k]; !ok || va != vb {
			set[k] = true
		}
	}
	for k, vb := range b {
		if va, ok := a[k]; !ok || va != vb {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// forbiddenLabels returns the labels a node may not add, remove or change
// on its own Node, as Kubernetes' NodeRestriction: any under
// node-restriction.kubernetes.io/, and any other kubernetes.io or k8s.io
// label that is not a kubelet label (kubernetes.io/hostname, the
// topology, instance-type, os and arch labels, and the
// kubelet.kubernetes.io/ and node.kubernetes.io/ prefixes).
func forbiddenLabels(keys []string) []string {
	var out []string
	for _, k := range keys {
		ns := labelNamespace(k)
		switch {
		case ns == corev1.LabelNamespaceNodeRestriction || strings.HasSuffix(ns, "."+corev1.LabelNamespaceNodeRestriction):
			out = append(out, k)
		case isKubernetesLabel(ns) && !kubeletapis.IsKubeletLabel(k):
			out = append(out, k)
		}
	}
	return out
}

func isKubernetesLabel(ns string) bool {
	return ns == "kubernetes.io" || strings.HasSuffix(ns, ".kubernetes.io") || ns == "k8s.io" || strings.HasSuffix(ns, ".k8s.io")
}

func labelNamespace(key string) string {
	if ns, _, ok := strings.Cut(key, "/"); ok {
		return ns
	}
	return ""
}

// admitLease is NodeRestriction's rule for leases: a node may write only
// the lease named after it in kube-node-lease.
func admitLease(self string, a Attributes) error {
	if a.Namespace != NodeLeaseNamespace {
		return fmt.Errorf("can only access leases in the %q system namespace", NodeLeaseNamespace)
	}
	if a.Name != self {
		return errors.New("can only access node lease with the same name as the requesting node")
	}
	return nil
}
