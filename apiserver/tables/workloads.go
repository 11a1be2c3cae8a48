package tables

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"

	v1 "orch.io/orch/api/v1"
)

// podSuccessConditions and podFailedConditions mark a finished pod's row,
// as Kubernetes marks it.
var (
	podSuccessConditions = []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: v1.PodSucceeded, Message: "The pod has completed successfully."}}
	podFailedConditions  = []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: v1.PodFailed, Message: "The pod failed."}}
)

var podPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
		col("Status", "string", 0, "The aggregate status of the containers in this pod."),
		col("Restarts", "string", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
		ageColumn,
		col("IP", "string", 1, "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
		col("Node", "string", 1, "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName."),
		col("Nominated Node", "string", 1, "nominatedNodeName is set only when this pod preempts other pods on the node. orch does not preempt: always <none>."),
		col("Readiness Gates", "string", 1, "If specified, all readiness gates will be evaluated for pod readiness. orch has no readiness gates: always <none>."),
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		pod := obj.(*v1.Pod)
		return podCells(pod, now), podConditions(pod)
	},
}

func podConditions(pod *v1.Pod) []metav1.TableRowCondition {
	switch pod.Status.Phase {
	case v1.PodSucceeded:
		return podSuccessConditions
	case v1.PodFailed:
		return podFailedConditions
	}
	return nil
}

// podCells is Kubernetes' printPod for orch's pods (which have no
// restartable init containers, nominated nodes or readiness gates).
func podCells(pod *v1.Pod, now time.Time) []any {
	restarts, ready, total := 0, 0, len(pod.Spec.Containers)
	var lastRestart time.Time
	noteRestart := func(cs v1.ContainerStatus) {
		restarts += int(cs.RestartCount)
		if t := cs.LastState.Terminated; t != nil && t.FinishedAt.After(lastRestart) {
			lastRestart = t.FinishedAt.Time
		}
	}
	reason := pod.Status.Phase
	if pod.Status.Reason != "" {
		reason = pod.Status.Reason
	}
	initializing := false
	for i, cs := range pod.Status.InitContainerStatuses {
		noteRestart(cs)
		switch t, w := cs.State.Terminated, cs.State.Waiting; {
		case t != nil && t.ExitCode == 0:
			continue
		case t != nil:
			switch {
			case t.Reason != "":
				reason = "Init:" + t.Reason
			case t.Signal != 0:
				reason = fmt.Sprintf("Init:Signal:%d", t.Signal)
			default:
				reason = fmt.Sprintf("Init:ExitCode:%d", t.ExitCode)
			}
		case w != nil && w.Reason != "" && w.Reason != "PodInitializing":
			reason = "Init:" + w.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		initializing = true
		break
	}
	if !initializing || conditionTrue(pod, v1.PodInitialized) {
		restarts, lastRestart = 0, time.Time{}
		hasRunning := false
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := pod.Status.ContainerStatuses[i]
			noteRestart(cs)
			switch t, w := cs.State.Terminated, cs.State.Waiting; {
			case w != nil && w.Reason != "":
				reason = w.Reason
			case t != nil && t.Reason != "":
				reason = t.Reason
			case t != nil && t.Signal != 0:
				reason = fmt.Sprintf("Signal:%d", t.Signal)
			case t != nil:
				reason = fmt.Sprintf("ExitCode:%d", t.ExitCode)
			case cs.Ready && cs.State.Running != nil:
				hasRunning = true
				ready++
			}
		}
		if reason == "Completed" && hasRunning {
			reason = "NotReady"
			if conditionTrue(pod, v1.PodReady) {
				reason = "Running"
			}
		}
	}
	terminal := pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
	switch {
	case pod.DeletionTimestamp != nil && pod.Status.Reason == "NodeLost":
		reason = "Unknown"
	case pod.DeletionTimestamp != nil && !terminal:
		reason = "Terminating"
	}
	restartsCell := strconv.Itoa(restarts)
	if restarts != 0 && !lastRestart.IsZero() {
		restartsCell = fmt.Sprintf("%d (%s ago)", restarts, duration.HumanDuration(now.Sub(lastRestart)))
	}
	ip := pod.Status.PodIP
	if len(pod.Status.PodIPs) > 0 {
		ip = pod.Status.PodIPs[0].IP
	}
	return []any{pod.Name, fmt.Sprintf("%d/%d", ready, total), reason, restartsCell, age(pod.CreationTimestamp, now),
		orNone(ip), orNone(pod.Spec.NodeName), "<none>", "<none>"}
}

// conditionTrue says whether the pod's condition of type typ is True.
func conditionTrue(pod *v1.Pod, typ string) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == typ {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

var rcPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Desired", "integer", 0, "Replicas is the number of desired replicas."),
		col("Current", "integer", 0, "Replicas is the most recently observed number of replicas."),
		col("Ready", "integer", 0, "The number of ready replicas for this replication controller."),
		ageColumn,
		col("Containers", "string", 1, "Names of each container in the template."),
		col("Images", "string", 1, "Images referenced by each container in the template."),
		col("Selector", "string", 1, "Selector is a label query over pods that should match the Replicas count."),
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		rc := obj.(*v1.ReplicationController)
		var desired int64
		if rc.Spec.Replicas != nil {
			desired = int64(*rc.Spec.Replicas)
		}
		var containers []v1.Container
		if rc.Spec.Template != nil {
			containers = rc.Spec.Template.Spec.Containers
		}
		names, images := containerCells(containers)
		return []any{rc.Name, desired, int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas), age(rc.CreationTimestamp, now),
			names, images, labels.FormatLabels(rc.Spec.Selector)}, nil
	},
}

// replicaSetPrinter is kubectl's ReplicaSet columns (printReplicaSet).
var replicaSetPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Desired", "integer", 0, "Replicas is the number of desired pods."),
		col("Current", "integer", 0, "Replicas is the most recently observed number of replicas."),
		col("Ready", "integer", 0, "The number of ready replicas for this replica set."),
		ageColumn,
		col("Containers", "string", 1, "Names of each container in the template."),
		col("Images", "string", 1, "Images referenced by each container in the template."),
		col("Selector", "string", 1, "Selector is a label query over pods that should match the replica count."),
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		rs := obj.(*v1.ReplicaSet)
		var desired int64
		if rs.Spec.Replicas != nil {
			desired = int64(*rs.Spec.Replicas)
		}
		names, images := containerCells(rs.Spec.Template.Spec.Containers)
		return []any{rs.Name, desired, int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas), age(rs.CreationTimestamp, now),
			names, images, metav1.FormatLabelSelector(rs.Spec.Selector)}, nil
	},
}

// statefulSetPrinter is kubectl's StatefulSet columns (printStatefulSet).
var statefulSetPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Ready", "string", 0, "Number of the pod with ready state"),
		ageColumn,
		col("Containers", "string", 1, "Names of each container in the template."),
		col("Images", "string", 1, "Images referenced by each container in the template."),
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		ss := obj.(*v1.StatefulSet)
		var desired int32
		if ss.Spec.Replicas != nil {
			desired = *ss.Spec.Replicas
		}
		names, images := containerCells(ss.Spec.Template.Spec.Containers)
		return []any{ss.Name, fmt.Sprintf("%d/%d", ss.Status.ReadyReplicas, desired), age(ss.CreationTimestamp, now),
			names, images}, nil
	},
}

// containerCells is Kubernetes' layoutContainerCells: container names and
// images, each comma-separated.
func containerCells(cs []v1.Container) (names, images string) {
	var n, i []string
	for _, c := range cs {
		n = append(n, c.Name)
		i = append(i, c.Image)
	}
	return strings.Join(n, ","), strings.Join(i, ",")
}

var servicePrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Type", "string", 0, "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer."),
		col("Cluster-IP", "string", 0, "clusterIP is the IP address of the service and is usually assigned randomly."),
		col("External-IP", "string", 0, "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
		col("Port(s)", "string", 0, "The list of ports that are exposed by this service."),
		ageColumn,
		col("Selector", "string", 1, "Route service traffic to pods with label keys and values matching this selector."),
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		svc := obj.(*v1.Service)
		clusterIP := orNone(svc.Spec.ClusterIP)
		if len(svc.Spec.ClusterIPs) > 0 {
			clusterIP = svc.Spec.ClusterIPs[0]
		}
		var ports []string
		for _, p := range svc.Spec.Ports {
			if p.NodePort > 0 {
				ports = append(ports, fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol))
			} else {
				ports = append(ports, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
			}
		}
		return []any{svc.Name, svc.Spec.Type, clusterIP, serviceExternalIP(svc), orNone(strings.Join(ports, ",")),
			age(svc.CreationTimestamp, now), labels.FormatLabels(svc.Spec.Selector)}, nil
	},
}

// serviceExternalIP is Kubernetes' getServiceExternalIP for orch's
// services, which have no spec.externalIPs: a load balancer's ingress
// addresses or <pending>, else <none>.
func serviceExternalIP(svc *v1.Service) string {
	switch svc.Spec.Type {
	case "ClusterIP", "NodePort", "":
		return "<none>"
	case "LoadBalancer":
		var addrs []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				addrs = append(addrs, in.IP)
			} else if in.Hostname != "" {
				addrs = append(addrs, in.Hostname)
			}
		}
		if len(addrs) == 0 {
			return "<pending>"
		}
		return strings.Join(addrs, ",")
	}
	return "<unknown>"
}

var endpointsPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Endpoints", "string", 0, "Endpoints of the resource."),
		ageColumn,
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		ep := obj.(*v1.Endpoints)
		return []any{ep.Name, formatEndpoints(ep), age(ep.CreationTimestamp, now)}, nil
	},
}

// maxEndpoints is how many addresses the Endpoints column lists.
const maxEndpoints = 3

// formatEndpoints is Kubernetes' formatEndpoints: up to three ip:port
// entries, then "+ N more...".
func formatEndpoints(ep *v1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	var list []string
	count := 0
	add := func(s string) {
		count++
		if len(list) < maxEndpoints {
			list = append(list, s)
		}
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	s := strings.Join(list, ",")
	if count > maxEndpoints {
		return fmt.Sprintf("%s + %d more...", s, count-maxEndpoints)
	}
	return s
}

var nodePrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Status", "string", 0, "The status of the node"),
		col("Roles", "string", 0, "The roles of the node"),
		ageColumn,
		col("Version", "string", 0, "Kubelet Version reported by the node."),
		col("Internal-IP", "string", 1, "List of addresses reachable to the node. Queried from cloud provider, if available."),
		col("External-IP", "string", 1, "List of addresses reachable to the node. Queried from cloud provider, if available."),
		col("OS-Image", "string", 1, "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
		col("Kernel-Version", "string", 1, "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
		col("Container-Runtime", "string", 1, "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		n := obj.(*v1.Node)
		var status []string
		for _, c := range n.Status.Conditions {
			if c.Type == v1.NodeReady {
				if c.Status == v1.ConditionTrue {
					status = append(status, c.Type)
				} else {
					status = append(status, "Not"+c.Type)
				}
			}
		}
		if len(status) == 0 {
			status = append(status, "Unknown")
		}
		if n.Spec.Unschedulable {
			status = append(status, "SchedulingDisabled")
		}
		unknown := func(s string) string {
			if s == "" {
				return "<unknown>"
			}
			return s
		}
		info := n.Status.NodeInfo
		return []any{n.Name, strings.Join(status, ","), orNone(strings.Join(nodeRoles(n), ",")), age(n.CreationTimestamp, now),
			info.KubeletVersion, nodeAddress(n, "InternalIP"), nodeAddress(n, "ExternalIP"),
			unknown(info.OSImage), unknown(info.KernelVersion), unknown(info.ContainerRuntimeVersion)}, nil
	},
}

// Node role labels, as kubectl reads them.
const (
	labelNodeRolePrefix = "node-role.kubernetes.io/"
	labelNodeRole       = "kubernetes.io/role"
)

// nodeRoles is Kubernetes' findNodeRoles: the sorted roles named by
// node-role.kubernetes.io/<role> labels and the kubernetes.io/role label.
func nodeRoles(n *v1.Node) []string {
	set := map[string]bool{}
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, labelNodeRolePrefix):
			if role := strings.TrimPrefix(k, labelNodeRolePrefix); role != "" {
				set[role] = true
			}
		case k == labelNodeRole && v != "":
			set[v] = true
		}
	}
	roles := make([]string, 0, len(set))
	for r := range set {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	return roles
}

// nodeAddress is the node's first address of a type, or <none>.
func nodeAddress(n *v1.Node, typ string) string {
	for _, a := range n.Status.Addresses {
		if a.Type == typ {
			return a.Address
		}
	}
	return "<none>"
}

// deploymentPrinter is kubectl's Deployment columns (printDeployment).
var deploymentPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Ready", "string", 0, "Number of the pod with ready state"),
		col("Up-to-date", "string", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
		col("Available", "string", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
		ageColumn,
		col("Containers", "string", 1, "Names of each container in the template."),
		col("Images", "string", 1, "Images referenced by each container in the template."),
		col("Selector", "string", 1, "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."),
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		d := obj.(*v1.Deployment)
		var desired int64
		if d.Spec.Replicas != nil {
			desired = int64(*d.Spec.Replicas)
		}
		names, images := containerCells(d.Spec.Template.Spec.Containers)
		var sel string
		if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
			sel = s.String()
		}
		return []any{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, desired), int64(d.Status.UpdatedReplicas),
			int64(d.Status.AvailableReplicas), age(d.CreationTimestamp, now), names, images, sel}, nil
	},
}

// daemonSetPrinter is kubectl's DaemonSet columns (printDaemonSet).
var daemonSetPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Desired", "integer", 0, "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod)."),
		col("Current", "integer", 0, "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
		col("Ready", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
		col("Up-to-date", "integer", 0, "The total number of nodes that are running updated daemon pod"),
		col("Available", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)"),
		col("Node Selector", "string", 0, "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node."),
		ageColumn,
		col("Containers", "string", 1, "Names of each container in the template."),
		col("Images", "string", 1, "Images referenced by each container in the template."),
		col("Selector", "string", 1, "A label query over pods that are managed by the daemon set."),
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		ds := obj.(*v1.DaemonSet)
		st := &ds.Status
		names, images := containerCells(ds.Spec.Template.Spec.Containers)
		return []any{ds.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
			int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable), labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
			age(ds.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(ds.Spec.Selector)}, nil
	},
}
