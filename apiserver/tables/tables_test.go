package tables

import (
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	v1 "orch.io/orch/api/v1"
)

var (
	now     = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	created = v1.NewTime(now.Add(-90 * time.Second))
)

func meta(name string) v1.ObjectMeta {
	return v1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: created}
}

func int32p(v int32) *int32 { return &v }
func boolp(v bool) *bool    { return &v }

func running() v1.ContainerState {
	return v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: created}}
}

func TestRows(t *testing.T) {
	deleting := v1.NewTime(now)
	tests := []struct {
		name     string
		resource string
		obj      v1.Object
		want     []any
		conds    []metav1.TableRowCondition
	}{
		{"pod pending", "pods", &v1.Pod{ObjectMeta: meta("p"), Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a"}, {Name: "b"}}},
			Status: v1.PodStatus{Phase: v1.PodPending}},
			[]any{"p", "0/2", "Pending", "0", "90s", "<none>", "<none>", "<none>", "<none>"}, nil},
		{"pod running", "pods", &v1.Pod{ObjectMeta: meta("p"), Spec: v1.PodSpec{NodeName: "n1", Containers: []v1.Container{{Name: "a"}, {Name: "b"}}},
			Status: v1.PodStatus{Phase: v1.PodRunning, PodIP: "10.244.0.5", PodIPs: []v1.PodIP{{IP: "10.244.0.5"}}, ContainerStatuses: []v1.ContainerStatus{
				{Name: "a", Ready: true, State: running()},
				{Name: "b", Ready: true, State: running(), RestartCount: 2,
					LastState: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 1, FinishedAt: v1.NewTime(now.Add(-5 * time.Second))}}},
			}}},
			[]any{"p", "2/2", "Running", "2 (5s ago)", "90s", "10.244.0.5", "n1", "<none>", "<none>"}, nil},
		{"pod crash loop", "pods", &v1.Pod{ObjectMeta: meta("p"), Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a"}}},
			Status: v1.PodStatus{Phase: v1.PodRunning, ContainerStatuses: []v1.ContainerStatus{
				{Name: "a", RestartCount: 3, State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}},
			}}},
			[]any{"p", "0/1", "CrashLoopBackOff", "3", "90s", "<none>", "<none>", "<none>", "<none>"}, nil},
		{"pod container creating", "pods", &v1.Pod{ObjectMeta: meta("p"), Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a"}}},
			Status: v1.PodStatus{Phase: v1.PodPending, ContainerStatuses: []v1.ContainerStatus{
				{Name: "a", State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "ContainerCreating"}}},
			}}},
			[]any{"p", "0/1", "ContainerCreating", "0", "90s", "<none>", "<none>", "<none>", "<none>"}, nil},
		{"pod completed", "pods", &v1.Pod{ObjectMeta: meta("p"), Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a"}}},
			Status: v1.PodStatus{Phase: v1.PodSucceeded, ContainerStatuses: []v1.ContainerStatus{
				{Name: "a", State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{Reason: "Completed"}}},
			}}},
			[]any{"p", "0/1", "Completed", "0", "90s", "<none>", "<none>", "<none>", "<none>"}, podSuccessConditions},
		{"pod exit code", "pods", &v1.Pod{ObjectMeta: meta("p"), Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a"}}},
			Status: v1.PodStatus{Phase: v1.PodFailed, ContainerStatuses: []v1.ContainerStatus{
				{Name: "a", State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 2}}},
			}}},
			[]any{"p", "0/1", "ExitCode:2", "0", "90s", "<none>", "<none>", "<none>", "<none>"}, podFailedConditions},
		{"pod init", "pods", &v1.Pod{ObjectMeta: meta("p"), Spec: v1.PodSpec{InitContainers: []v1.Container{{Name: "i1"}, {Name: "i2"}}, Containers: []v1.Container{{Name: "a"}}},
			Status: v1.PodStatus{Phase: v1.PodPending, InitContainerStatuses: []v1.ContainerStatus{
				{Name: "i1", State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 0}}},
				{Name: "i2", State: running()},
			}}},
			[]any{"p", "0/1", "Init:1/2", "0", "90s", "<none>", "<none>", "<none>", "<none>"}, nil},
		{"pod init failed", "pods", &v1.Pod{ObjectMeta: meta("p"), Spec: v1.PodSpec{InitContainers: []v1.Container{{Name: "i1"}}, Containers: []v1.Container{{Name: "a"}}},
			Status: v1.PodStatus{Phase: v1.PodPending, InitContainerStatuses: []v1.ContainerStatus{
				{Name: "i1", RestartCount: 1, State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}},
			}}},
			[]any{"p", "0/1", "Init:Error", "1", "90s", "<none>", "<none>", "<none>", "<none>"}, nil},
		{"pod terminating", "pods", &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p", CreationTimestamp: created, DeletionTimestamp: &deleting},
			Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a"}}}, Status: v1.PodStatus{Phase: v1.PodRunning,
				ContainerStatuses: []v1.ContainerStatus{{Name: "a", Ready: true, State: running()}}}},
			[]any{"p", "1/1", "Terminating", "0", "90s", "<none>", "<none>", "<none>", "<none>"}, nil},
		{"node ready", "nodes", &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n1", CreationTimestamp: created,
			Labels: map[string]string{"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/edge": "", "kubernetes.io/role": "db"}},
			Status: v1.NodeStatus{Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
				Addresses: []v1.NodeAddress{{Type: "Hostname", Address: "n1"}, {Type: "InternalIP", Address: "10.0.0.1"}},
				NodeInfo:  v1.NodeSystemInfo{KubeletVersion: "v0.7.0", OSImage: "Debian", KernelVersion: "6.1", ContainerRuntimeVersion: "containerd://2.0"}}},
			[]any{"n1", "Ready", "db,edge,worker", "90s", "v0.7.0", "10.0.0.1", "<none>", "Debian", "6.1", "containerd://2.0"}, nil},
		{"node not ready cordoned", "nodes", &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n2", CreationTimestamp: created}, Spec: v1.NodeSpec{Unschedulable: true},
			Status: v1.NodeStatus{Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionUnknown}}}},
			[]any{"n2", "NotReady,SchedulingDisabled", "<none>", "90s", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}, nil},
		{"node without conditions", "nodes", &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n3"}},
			[]any{"n3", "Unknown", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}, nil},
		{"service cluster ip", "services", &v1.Service{ObjectMeta: meta("s"), Spec: v1.ServiceSpec{Type: "ClusterIP", ClusterIP: "10.96.0.10",
			ClusterIPs: []string{"10.96.0.10"}, Selector: map[string]string{"app": "web"},
			Ports: []v1.ServicePort{{Port: 53, Protocol: "UDP"}, {Port: 53, Protocol: "TCP"}}}},
			[]any{"s", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP", "90s", "app=web"}, nil},
		{"service node port", "services", &v1.Service{ObjectMeta: meta("s"), Spec: v1.ServiceSpec{Type: "NodePort", ClusterIP: "10.96.0.11",
			Ports: []v1.ServicePort{{Port: 80, NodePort: 30080, Protocol: "TCP"}}}},
			[]any{"s", "NodePort", "10.96.0.11", "<none>", "80:30080/TCP", "90s", "<none>"}, nil},
		{"service headless", "services", &v1.Service{ObjectMeta: meta("s"), Spec: v1.ServiceSpec{Type: "ClusterIP", ClusterIP: "None"}},
			[]any{"s", "ClusterIP", "None", "<none>", "<none>", "90s", "<none>"}, nil},
		{"service load balancer", "services", &v1.Service{ObjectMeta: meta("s"), Spec: v1.ServiceSpec{Type: "LoadBalancer", ClusterIP: "10.96.0.12"},
			Status: v1.ServiceStatus{LoadBalancer: v1.LoadBalancerStatus{Ingress: []v1.LoadBalancerIngress{{IP: "1.2.3.4"}, {Hostname: "lb.example"}}}}},
			[]any{"s", "LoadBalancer", "10.96.0.12", "1.2.3.4,lb.example", "<none>", "90s", "<none>"}, nil},
		{"service load balancer pending", "services", &v1.Service{ObjectMeta: meta("s"), Spec: v1.ServiceSpec{Type: "LoadBalancer", ClusterIP: "10.96.0.12"}},
			[]any{"s", "LoadBalancer", "10.96.0.12", "<pending>", "<none>", "90s", "<none>"}, nil},
		{"rc", "replicationcontrollers", &v1.ReplicationController{ObjectMeta: meta("rc"), Spec: v1.ReplicationControllerSpec{Replicas: int32p(3),
			Selector: map[string]string{"app": "web"}, Template: &v1.PodTemplateSpec{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "nginx"}}}}},
			Status: v1.ReplicationControllerStatus{Replicas: 2, ReadyReplicas: 1}},
			[]any{"rc", int64(3), int64(2), int64(1), "90s", "a,b", "busybox,nginx", "app=web"}, nil},
		{"replica set", "replicasets", &v1.ReplicaSet{ObjectMeta: meta("rs"), Spec: v1.ReplicaSetSpec{Replicas: int32p(4),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"db"}}}},
			Template: v1.PodTemplateSpec{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a", Image: "busybox"}}}}},
			Status: v1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 2}},
			[]any{"rs", int64(4), int64(3), int64(2), "90s", "a", "busybox", "app=web,tier notin (db)"}, nil},
		{"deployment", "deployments", &v1.Deployment{ObjectMeta: meta("d"), Spec: v1.DeploymentSpec{Replicas: int32p(30),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: v1.PodTemplateSpec{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "nginx"}}}}},
			Status: v1.DeploymentStatus{Replicas: 38, UpdatedReplicas: 8, ReadyReplicas: 29, AvailableReplicas: 28}},
			[]any{"d", "29/30", int64(8), int64(28), "90s", "a,b", "busybox,nginx", "app=web"}, nil},
		{"controller revision", "controllerrevisions", &v1.ControllerRevision{ObjectMeta: v1.ObjectMeta{Name: "ds-5d8f", CreationTimestamp: created,
			OwnerReferences: []v1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "ds", Controller: boolp(true)}}}, Revision: 3},
			[]any{"ds-5d8f", "daemonset.apps/ds", int64(3), "90s"}, nil},
		{"controller revision without controller", "controllerrevisions", &v1.ControllerRevision{ObjectMeta: meta("cr"), Revision: 1},
			[]any{"cr", "<none>", int64(1), "90s"}, nil},
		{"daemon set", "daemonsets", &v1.DaemonSet{ObjectMeta: meta("ds"), Spec: v1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"name": "fluentd"}},
			Template: v1.PodTemplateSpec{Spec: v1.PodSpec{NodeSelector: map[string]string{"disk": "ssd"},
				Containers: []v1.Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "pause"}}}}},
			Status: v1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2,
				UpdatedNumberScheduled: 1, NumberAvailable: 2}},
			[]any{"ds", int64(3), int64(3), int64(2), int64(1), int64(2), "disk=ssd", "90s", "a,b", "busybox,pause", "name=fluentd"}, nil},
		{"daemon set no node selector", "daemonsets", &v1.DaemonSet{ObjectMeta: meta("ds"), Spec: v1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"name": "fluentd"}},
			Template: v1.PodTemplateSpec{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a", Image: "busybox"}}}}}},
			[]any{"ds", int64(0), int64(0), int64(0), int64(0), int64(0), "<none>", "90s", "a", "busybox", "name=fluentd"}, nil},
		{"stateful set", "statefulsets", &v1.StatefulSet{ObjectMeta: meta("ss"), Spec: v1.StatefulSetSpec{Replicas: int32p(3),
			Template: v1.PodTemplateSpec{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "nginx"}}}}},
			Status: v1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 1}},
			[]any{"ss", "1/3", "90s", "a,b", "busybox,nginx"}, nil},
		{"endpoints", "endpoints", &v1.Endpoints{ObjectMeta: meta("e"), Subsets: []v1.EndpointSubset{{
			Addresses: []v1.EndpointAddress{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}, {IP: "10.0.0.3"}}, Ports: []v1.EndpointPort{{Port: 80}, {Port: 443}}}}},
			[]any{"e", "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 3 more...", "90s"}, nil},
		{"endpoints two", "endpoints", &v1.Endpoints{ObjectMeta: meta("e"), Subsets: []v1.EndpointSubset{{
			Addresses: []v1.EndpointAddress{{IP: "10.0.0.1"}, {IP: "fd00::1"}}, Ports: []v1.EndpointPort{{Port: 80}}}}},
			[]any{"e", "10.0.0.1:80,[fd00::1]:80", "90s"}, nil},
		{"endpoints none", "endpoints", &v1.Endpoints{ObjectMeta: meta("e")}, []any{"e", "<none>", "90s"}, nil},
		{"namespace", "namespaces", &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "ns", CreationTimestamp: created}, Status: v1.NamespaceStatus{Phase: "Terminating"}},
			[]any{"ns", "Terminating", "90s"}, nil},
		{"config map", "configmaps", &v1.ConfigMap{ObjectMeta: meta("cm"), Data: map[string]string{"a": "1", "b": "2"},
			BinaryData: map[string][]byte{"c": {0}}}, []any{"cm", int64(3), "90s"}, nil},
		{"service account", "serviceaccounts", &v1.ServiceAccount{ObjectMeta: meta("sa"), Secrets: []v1.ObjectReference{{Name: "x"}}},
			[]any{"sa", int64(1), "90s"}, nil},
		{"resource quota", "resourcequotas", &v1.ResourceQuota{ObjectMeta: meta("q"), Status: v1.ResourceQuotaStatus{
			Hard: v1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("2"), "limits.memory": resource.MustParse("1Gi")},
			Used: v1.ResourceList{"pods": resource.MustParse("3"), "requests.cpu": resource.MustParse("500m")}}},
			[]any{"q", "90s", "pods: 3/10, requests.cpu: 500m/2", "limits.memory: 0/1Gi"}, nil},
		{"limit range", "limitranges", &v1.LimitRange{ObjectMeta: meta("l")}, []any{"l", "2026-12-04T11:58:30Z"}, nil},
		{"role", "roles", &v1.Role{ObjectMeta: meta("r")}, []any{"r", "2026-12-04T11:58:30Z"}, nil},
		{"cluster role", "clusterroles", &v1.ClusterRole{ObjectMeta: meta("cr")}, []any{"cr", "2026-12-04T11:58:30Z"}, nil},
		{"role binding", "rolebindings", &v1.RoleBinding{ObjectMeta: meta("rb"), RoleRef: v1.RoleRef{Kind: "ClusterRole", Name: "edit"},
			Subjects: []v1.Subject{{Kind: "User", Name: "alice"}, {Kind: "User", Name: "bob"}, {Kind: "Group", Name: "devs"},
				{Kind: "ServiceAccount", Namespace: "default", Name: "ci"}}},
			[]any{"rb", "ClusterRole/edit", "90s", "alice, bob", "devs", "default:ci"}, nil},
		{"cluster role binding", "clusterrolebindings", &v1.ClusterRoleBinding{ObjectMeta: meta("crb"), RoleRef: v1.RoleRef{Kind: "ClusterRole", Name: "view"}},
			[]any{"crb", "ClusterRole/view", "90s", "", "", ""}, nil},
		{"csr pending", "certificatesigningrequests", &v1.CertificateSigningRequest{ObjectMeta: meta("c"),
			Spec: v1.CertificateSigningRequestSpec{SignerName: "kubernetes.io/kube-apiserver-client", Username: "alice", ExpirationSeconds: int32p(3600)}},
			[]any{"c", "90s", "kubernetes.io/kube-apiserver-client", "alice", "60m", "Pending"}, nil},
		{"csr issued", "certificatesigningrequests", &v1.CertificateSigningRequest{ObjectMeta: meta("c"),
			Spec:   v1.CertificateSigningRequestSpec{SignerName: "kubernetes.io/kubelet-serving", Username: "system:node:n1"},
			Status: v1.CertificateSigningRequestStatus{Conditions: []v1.CertificateSigningRequestCondition{{Type: v1.CertificateApproved, Status: v1.ConditionTrue}}, Certificate: []byte("pem")}},
			[]any{"c", "90s", "kubernetes.io/kubelet-serving", "system:node:n1", "<none>", "Approved,Issued"}, nil},
		{"csr denied failed", "certificatesigningrequests", &v1.CertificateSigningRequest{ObjectMeta: meta("c"),
			Status: v1.CertificateSigningRequestStatus{Conditions: []v1.CertificateSigningRequestCondition{
				{Type: v1.CertificateApproved, Status: v1.ConditionTrue}, {Type: v1.CertificateDenied, Status: v1.ConditionTrue}, {Type: v1.CertificateFailed, Status: v1.ConditionTrue}}}},
			[]any{"c", "90s", "<none>", "", "<none>", "Denied,Failed"}, nil},
		{"pdb min available", "poddisruptionbudgets", &v1.PodDisruptionBudget{ObjectMeta: meta("p"),
			Spec:   v1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(2))},
			Status: v1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}},
			[]any{"p", "2", "N/A", int64(1), "90s"}, nil},
		{"pdb max unavailable percent", "poddisruptionbudgets", &v1.PodDisruptionBudget{ObjectMeta: meta("p"),
			Spec: v1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromString("25%"))}},
			[]any{"p", "N/A", "25%", int64(0), "90s"}, nil},
		{"default printer", "bootstraptokens", &v1.BootstrapToken{ObjectMeta: v1.ObjectMeta{Name: "abcdef", CreationTimestamp: created}},
			[]any{"abcdef", "90s"}, nil},
		{"event aggregated", "events", &v1.Event{ObjectMeta: meta("p.1"), Type: "Warning", Reason: "BackOff", Message: " Back-off restarting failed container ",
			InvolvedObject: v1.ObjectReference{Kind: "Pod", Name: "p", FieldPath: "spec.containers{c}"}, Source: v1.EventSource{Component: "kubelet", Host: "n1"},
			FirstTimestamp: created, LastTimestamp: v1.NewTime(now.Add(-5 * time.Second)), Count: 4},
			[]any{"5s", "Warning", "BackOff", "pod/p", "spec.containers{c}", "kubelet, n1", "Back-off restarting failed container", "90s", int64(4), "p.1"}, nil},
		{"event new style", "events", &v1.Event{ObjectMeta: meta("n.2"), Type: "Normal", Reason: "Scheduled",
			InvolvedObject: v1.ObjectReference{Kind: "Node"}, ReportingController: "orch-scheduler", EventTime: v1.NewMicroTime(now.Add(-90 * time.Second))},
			[]any{"90s", "Normal", "Scheduled", "node", "", "orch-scheduler", "", "90s", int64(1), "n.2"}, nil},
		{"lease held", "leases", &v1.Lease{ObjectMeta: meta("n1"), Spec: v1.LeaseSpec{HolderIdentity: ptr.To("n1")}},
			[]any{"n1", "n1", "90s"}, nil},
		{"lease free", "leases", &v1.Lease{ObjectMeta: meta("l")}, []any{"l", "", "90s"}, nil},
		{"slice empty", "endpointslices", &v1.EndpointSlice{ObjectMeta: meta("s"), AddressType: "IPv4"},
			[]any{"s", "IPv4", "<unset>", "<unset>", "90s"}, nil},
		{"slice many", "endpointslices", &v1.EndpointSlice{ObjectMeta: meta("s"), AddressType: "IPv4",
			Ports:     []v1.EndpointSlicePort{{Port: ptr.To(int32(80))}, {}},
			Endpoints: []v1.Endpoint{{Addresses: []string{"10.0.0.1"}}, {Addresses: []string{"10.0.0.2"}}, {Addresses: []string{"10.0.0.3"}}, {Addresses: []string{"10.0.0.4"}}}},
			[]any{"s", "IPv4", "80,<unset>", "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...", "90s"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := For(tt.resource)
			cells, conds := p.Row(tt.obj, now)
			if !slices.Equal(cells, tt.want) {
				t.Errorf("cells = %#v\nwant    %#v", cells, tt.want)
			}
			if len(cells) != len(p.Columns) {
				t.Errorf("%d cells for %d columns", len(cells), len(p.Columns))
			}
			if !slices.Equal(conds, tt.conds) {
				t.Errorf("conditions = %v, want %v", conds, tt.conds)
			}
		})
	}
}

// TestColumns checks the column names (kubectl's headers upper-case them)
// and that -o wide columns are priority 1, as Kubernetes defines them.
func TestColumns(t *testing.T) {
	tests := []struct {
		resource string
		names    []string
		wideFrom int // index of the first priority-1 column; len(names) for none
	}{
		{"pods", []string{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"}, 5},
		{"nodes", []string{"Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"}, 5},
		{"services", []string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"}, 6},
		{"replicationcontrollers", []string{"Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"}, 5},
		{"replicasets", []string{"Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"}, 5},
		{"deployments", []string{"Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"}, 5},
		{"controllerrevisions", []string{"Name", "Controller", "Revision", "Age"}, 4},
		{"endpoints", []string{"Name", "Endpoints", "Age"}, 3},
		{"namespaces", []string{"Name", "Status", "Age"}, 3},
		{"serviceaccounts", []string{"Name", "Secrets", "Age"}, 3},
		{"configmaps", []string{"Name", "Data", "Age"}, 3},
		{"resourcequotas", []string{"Name", "Age", "Request", "Limit"}, 4},
		{"limitranges", []string{"Name", "Created At"}, 2},
		{"roles", []string{"Name", "Created At"}, 2},
		{"clusterroles", []string{"Name", "Created At"}, 2},
		{"rolebindings", []string{"Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"}, 3},
		{"clusterrolebindings", []string{"Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"}, 3},
		{"certificatesigningrequests", []string{"Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"}, 6},
		{"poddisruptionbudgets", []string{"Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"}, 5},
		{"bootstraptokens", []string{"Name", "Age"}, 2},
		{"a-kind-added-later", []string{"Name", "Age"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			cols := For(tt.resource).Columns
			var names []string
			for i, c := range cols {
				names = append(names, c.Name)
				if wide := i >= tt.wideFrom; wide != (c.Priority == 1) {
					t.Errorf("column %s priority %d", c.Name, c.Priority)
				}
				if c.Type == "" || c.Description == "" {
					t.Errorf("column %s lacks a type or description", c.Name)
				}
			}
			if !slices.Equal(names, tt.names) {
				t.Errorf("columns %v, want %v", names, tt.names)
			}
			if cols[0].Format != "name" {
				t.Errorf("the Name column's format is %q, want name", cols[0].Format)
			}
		})
	}
}

// TestEveryResourceHasRows: every kind of the resource table prints a row
// with one cell per column, even an empty object.
func TestEveryResourceHasRows(t *testing.T) {
	for _, r := range v1.Resources() {
		t.Run(r.Name, func(t *testing.T) {
			p := For(r.Name)
			cells, _ := p.Row(r.New(), now)
			if len(cells) != len(p.Columns) {
				t.Fatalf("%d cells for %d columns", len(cells), len(p.Columns))
			}
		})
	}
}
