package v1

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Fixtures: small valid objects of every kind, already defaulted, as the API
// server would hand them to Validate.

func validPod() *Pod {
	p := &Pod{
		ObjectMeta: ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: PodSpec{
			Volumes: []Volume{{Name: "scratch"}},
			Containers: []Container{{
				Name:  "web",
				Image: "nginx:1.27",
				Ports: []ContainerPort{{Name: "http", ContainerPort: 80}},
				Env: []EnvVar{
					{Name: "MODE", Value: "prod"},
					{Name: "POD_IP", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "status.podIP"}}},
				},
				VolumeMounts: []VolumeMount{{Name: "scratch", MountPath: "/scratch"}},
				ReadinessProbe: &Probe{ProbeHandler: ProbeHandler{
					HTTPGet: &HTTPGetAction{Port: intstr.FromString("http")},
				}},
				LivenessProbe: &Probe{ProbeHandler: ProbeHandler{
					TCPSocket: &TCPSocketAction{Port: intstr.FromInt32(80)},
				}},
			}},
		},
	}
	Default(p)
	return p
}

func validRC() *ReplicationController {
	rc := &ReplicationController{
		ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Spec: ReplicationControllerSpec{
			Replicas: new(int32(3)),
			Template: &PodTemplateSpec{
				ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       PodSpec{Containers: []Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}
	Default(rc)
	return rc
}

func validService() *Service {
	s := &Service{
		ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Spec: ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	Default(s)
	return s
}

func validNodePortService() *Service {
	s := validService()
	s.Spec.Type = ServiceTypeNodePort
	s.Spec.Ports[0].NodePort = 30080
	return s
}

func validNamespace() *Namespace {
	ns := &Namespace{ObjectMeta: ObjectMeta{Name: "team-a"}}
	Default(ns)
	return ns
}

func validNode() *Node {
	n := &Node{
		ObjectMeta: ObjectMeta{Name: "node-1.example.com"},
		Spec:       NodeSpec{PodCIDR: "10.244.1.0/24", Taints: []Taint{{Key: "dedicated", Value: "db", Effect: TaintNoSchedule}}},
	}
	Default(n)
	return n
}

func validEndpoints() *Endpoints {
	e := &Endpoints{
		ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Subsets: []EndpointSubset{{
			Addresses:         []EndpointAddress{{IP: "10.244.1.5"}},
			NotReadyAddresses: []EndpointAddress{{IP: "10.244.2.7"}},
			Ports:             []EndpointPort{{Name: "http", Port: 80}},
		}},
	}
	Default(e)
	return e
}

// wantInvalid fails unless err is a 422 Invalid Status with a cause for field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want Invalid on %s", field)
	}
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *StatusError", err, err)
	}
	if se.Status.Code != http.StatusUnprocessableEntity || CodeOf(err) != http.StatusUnprocessableEntity {
		t.Errorf("code = %d, want 422", se.Status.Code)
	}
	if se.Status.Reason != ReasonInvalid || !IsInvalid(err) {
		t.Errorf("reason = %q, want %q", se.Status.Reason, ReasonInvalid)
	}
	if se.Status.Details == nil {
		t.Fatalf("Invalid status has no details: %+v", se.Status)
	}
	var fields []string
	for _, c := range se.Status.Details.Causes {
		if c.Field == field {
			return
		}
		fields = append(fields, c.Field)
	}
	t.Errorf("no cause for field %q; causes name %q (message %q)", field, fields, se.Status.Message)
}

func TestValidateValidObjects(t *testing.T) {
	withGenerateName := validPod()
	withGenerateName.Name, withGenerateName.GenerateName = "", "web-"
	boundary := validPod()
	boundary.Labels = map[string]string{"example.com/tier": strings.Repeat("v", 63)}
	boundary.Annotations = map[string]string{"note": strings.Repeat("x", MaxAnnotationsBytes-len("note"))}
	maxName := validPod()
	maxName.Name = strings.Repeat("a", 253)
	headless := validService()
	headless.Spec.ClusterIP, headless.Spec.Ports = ClusterIPNone, nil
	numericTarget := validService()
	numericTarget.Spec.Ports[0].TargetPort = intstr.FromInt32(8080)
	lowNodePort, highNodePort := validNodePortService(), validNodePortService()
	lowNodePort.Spec.Ports[0].NodePort, highNodePort.Spec.Ports[0].NodePort = 30000, 32767
	running := validPod()
	running.Status = PodStatus{Phase: PodRunning, PodIP: "10.244.1.5", PodIPs: []PodIP{{IP: "10.244.1.5"}, {IP: "fd00::5"}}, HostIP: "192.168.1.10"}
	clientIP := validService()
	clientIP.Spec.SessionAffinity = AffinityClientIP
	Default(clientIP)
	allocatedPort := validNodePortService()
	allocatedPort.Spec.Ports[0].NodePort = 0 // the FSM allocates one

	tests := []struct {
		name string
		obj  Object
	}{
		{"pod", validPod()},
		{"pod with generateName", withGenerateName},
		{"pod with 253-char name", maxName},
		{"pod with 63-char label value and annotations at the limit", boundary},
		{"running pod with IPv4 and IPv6 addresses", running},
		{"replication controller", validRC()},
		{"service", validService()},
		{"service with numeric targetPort", numericTarget},
		{"headless service without ports", headless},
		{"NodePort service", validNodePortService()},
		{"NodePort 30000", lowNodePort},
		{"NodePort 32767", highNodePort},
		{"NodePort service without a nodePort", allocatedPort},
		{"ClientIP affinity", clientIP},
		{"namespace", validNamespace()},
		{"node", validNode()},
		{"endpoints", validEndpoints()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Validate(tt.obj); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidateInvalid(t *testing.T) {
	tests := []struct {
		name   string
		obj    func() Object
		field  string
		substr string // in the message, when set
	}{
		// Names.
		{name: "uppercase name", field: "metadata.name", obj: func() Object {
			p := validPod()
			p.Name = "Web"
			return p
		}},
		{name: "name with slash", field: "metadata.name", obj: func() Object {
			p := validPod()
			p.Name = "a/b"
			return p
		}},
		{name: "name with path traversal", field: "metadata.name", obj: func() Object {
			p := validPod()
			p.Name = "../x"
			return p
		}},
		{name: "254-char name", field: "metadata.name", substr: "253", obj: func() Object {
			p := validPod()
			p.Name = strings.Repeat("a", 254)
			return p
		}},
		{name: "no name and no generateName", field: "metadata.name", obj: func() Object {
			p := validPod()
			p.Name = ""
			return p
		}},
		{name: "bad generateName", field: "metadata.generateName", obj: func() Object {
			p := validPod()
			p.Name, p.GenerateName = "", "Web-"
			return p
		}},
		{name: "service name with a dot (DNS-1035)", field: "metadata.name", obj: func() Object {
			s := validService()
			s.Name = "web.v2"
			return s
		}},
		{name: "service name starting with a digit (DNS-1035)", field: "metadata.name", obj: func() Object {
			s := validService()
			s.Name = "1web"
			return s
		}},
		{name: "namespace name with a dot (DNS-1123 label)", field: "metadata.name", obj: func() Object {
			n := validNamespace()
			n.Name = "team.a"
			return n
		}},
		// Namespaces.
		{name: "namespaced object without namespace", field: "metadata.namespace", obj: func() Object {
			p := validPod()
			p.Namespace = ""
			return p
		}},
		{name: "namespaced object with bad namespace", field: "metadata.namespace", obj: func() Object {
			p := validPod()
			p.Namespace = "Default"
			return p
		}},
		{name: "node with namespace", field: "metadata.namespace", obj: func() Object {
			n := validNode()
			n.Namespace = "default"
			return n
		}},
		{name: "namespace with namespace", field: "metadata.namespace", obj: func() Object {
			n := validNamespace()
			n.Namespace = "default"
			return n
		}},
		// Labels and annotations.
		{name: "64-char label value", field: "metadata.labels[app]", obj: func() Object {
			p := validPod()
			p.Labels = map[string]string{"app": strings.Repeat("v", 64)}
			return p
		}},
		{name: "label value with spaces", field: "metadata.labels[app]", obj: func() Object {
			p := validPod()
			p.Labels = map[string]string{"app": "my app"}
			return p
		}},
		{name: "bad label key", field: "metadata.labels", obj: func() Object {
			p := validPod()
			p.Labels = map[string]string{"-app": "web"}
			return p
		}},
		{name: "label key with two slashes", field: "metadata.labels", obj: func() Object {
			p := validPod()
			p.Labels = map[string]string{"a/b/c": "web"}
			return p
		}},
		{name: "annotations over 256 KiB", field: "metadata.annotations", obj: func() Object {
			p := validPod()
			p.Annotations = map[string]string{"note": strings.Repeat("x", MaxAnnotationsBytes-len("note")+1)}
			return p
		}},
		{name: "annotations over 256 KiB in total", field: "metadata.annotations", obj: func() Object {
			p := validPod()
			half := strings.Repeat("x", MaxAnnotationsBytes/2)
			p.Annotations = map[string]string{"a": half, "b": half}
			return p
		}},
		{name: "owner reference without uid", field: "metadata.ownerReferences[0].uid", obj: func() Object {
			p := validPod()
			p.OwnerReferences = []OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "web"}}
			return p
		}},
		{name: "owner reference without apiVersion", field: "metadata.ownerReferences[0].apiVersion", obj: func() Object {
			p := validPod()
			p.OwnerReferences = []OwnerReference{{Kind: "ReplicationController", Name: "web", UID: "u1"}}
			return p
		}},
		{name: "two controller owner references", field: "metadata.ownerReferences", obj: func() Object {
			p := validPod()
			yes := true
			p.OwnerReferences = []OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "a", UID: "u1", Controller: &yes},
				{APIVersion: "v1", Kind: "ReplicationController", Name: "b", UID: "u2", Controller: &yes}}
			return p
		}},
		{name: "orphan and foregroundDeletion finalizers together", field: "metadata.finalizers", obj: func() Object {
			p := validPod()
			p.Finalizers = []string{FinalizerOrphanDependents, FinalizerDeleteDependents}
			return p
		}},
		{name: "finalizer that is not a qualified name", field: "metadata.finalizers", obj: func() Object {
			p := validPod()
			p.Finalizers = []string{"not a name"}
			return p
		}},
		// Pod spec.
		{name: "no containers", field: "spec.containers", obj: func() Object {
			p := validPod()
			p.Spec.Containers = nil
			return p
		}},
		{name: "duplicate container names", field: "spec.containers[1].name", obj: func() Object {
			p := validPod()
			p.Spec.Containers = append(p.Spec.Containers, Container{Name: "web", Image: "busybox", ImagePullPolicy: PullAlways})
			return p
		}},
		{name: "init container named like a container", field: "spec.containers[0].name", obj: func() Object {
			p := validPod()
			p.Spec.InitContainers = []Container{{Name: "web", Image: "busybox", ImagePullPolicy: PullAlways}}
			return p
		}},
		{name: "container without image", field: "spec.containers[0].image", obj: func() Object {
			p := validPod()
			p.Spec.Containers[0].Image = " "
			return p
		}},
		{name: "bad restart policy", field: "spec.restartPolicy", obj: func() Object {
			p := validPod()
			p.Spec.RestartPolicy = "Sometimes"
			return p
		}},
		{name: "negative grace period", field: "spec.terminationGracePeriodSeconds", obj: func() Object {
			p := validPod()
			p.Spec.TerminationGracePeriodSeconds = new(int64(-1))
			return p
		}},
		{name: "containerPort 0", field: "spec.containers[0].ports[0].containerPort", obj: func() Object {
			p := validPod()
			p.Spec.Containers[0].Ports[0].ContainerPort = 0
			return p
		}},
		{name: "containerPort 65536", field: "spec.containers[0].ports[0].containerPort", obj: func() Object {
			p := validPod()
			p.Spec.Containers[0].Ports[0].ContainerPort = 65536
			return p
		}},
		{name: "hostPort 70000", field: "spec.containers[0].ports[0].hostPort", obj: func() Object {
			p := validPod()
			p.Spec.Containers[0].Ports[0].HostPort = 70000
			return p
		}},
		{name: "bad port protocol", field: "spec.containers[0].ports[0].protocol", obj: func() Object {
			p := validPod()
			p.Spec.Containers[0].Ports[0].Protocol = "ICMP"
			return p
		}},
		{name: "mount of unknown volume", field: "spec.containers[0].volumeMounts[0].name", obj: func() Object {
			p := validPod()
			p.Spec.Containers[0].VolumeMounts[0].Name = "nope"
			return p
		}},
		{name: "env with value and valueFrom", field: "spec.containers[0].env[1].valueFrom", obj: func() Object {
			p := validPod()
			p.Spec.Containers[0].Env[1].Value = "x"
			return p
		}},
		{name: "request above limit", field: "spec.containers[0].resources.requests[cpu]", obj: func() Object {
			p := validPod()
			p.Spec.Containers[0].Resources = ResourceRequirements{
				Requests: ResourceList{ResourceCPU: resource.MustParse("2")},
				Limits:   ResourceList{ResourceCPU: resource.MustParse("500m")},
			}
			return p
		}},
		// Quantities and resource names (issue: a CPU request that overflowed
		// to a negative count, a memory limit of 1e30 that meant no limit).
		{name: "cpu that overflows millicores", field: "spec.containers[0].resources.requests[cpu]", substr: "less than or equal to 1M", obj: func() Object {
			return podWithResources(ResourceList{ResourceCPU: resource.MustParse("9223372036854776")}, nil)
		}},
		{name: "memory above 2^63-1 bytes", field: "spec.containers[0].resources.limits[memory]", obj: func() Object {
			return podWithResources(nil, ResourceList{ResourceMemory: resource.MustParse("1e30")})
		}},
		{name: "negative memory", field: "spec.containers[0].resources.requests[memory]", substr: "greater than or equal to 0", obj: func() Object {
			return podWithResources(ResourceList{ResourceMemory: resource.MustParse("-1")}, nil)
		}},
		{name: "a resource named foo", field: "spec.containers[0].resources.limits[foo]", substr: "must be a standard resource for containers", obj: func() Object {
			return podWithResources(nil, ResourceList{"foo": resource.MustParse("1")})
		}},
		{name: "a resource in the kubernetes.io domain", field: "spec.containers[0].resources.limits[kubernetes.io/foo]", obj: func() Object {
			return podWithResources(nil, ResourceList{"kubernetes.io/foo": resource.MustParse("1")})
		}},
		{name: "a fractional extended resource", field: "spec.containers[0].resources.limits[example.com/gpu]", substr: "must be an integer", obj: func() Object {
			return podWithResources(nil, ResourceList{"example.com/gpu": resource.MustParse("500m")})
		}},
		{name: "an extended request without a limit", field: "spec.containers[0].resources.limits[example.com/gpu]", substr: "Limit must be set", obj: func() Object {
			return podWithResources(ResourceList{"example.com/gpu": resource.MustParse("1")}, nil)
		}},
		{name: "an extended request below its limit", field: "spec.containers[0].resources.requests[example.com/gpu]", substr: "must be equal to", obj: func() Object {
			return podWithResources(ResourceList{"example.com/gpu": resource.MustParse("1")}, ResourceList{"example.com/gpu": resource.MustParse("2")})
		}},
		{name: "ephemeral storage (not enforced by orch's nodes)", field: "spec.containers[0].resources.limits[ephemeral-storage]", obj: func() Object {
			return podWithResources(nil, ResourceList{ResourceEphemeralStorage: resource.MustParse("1Gi")})
		}},
		{name: "a grace period that overflows a duration", field: "spec.terminationGracePeriodSeconds", obj: func() Object {
			p := validPod()
			g := MaxSeconds + 1
			p.Spec.TerminationGracePeriodSeconds = &g
			return p
		}},
		{name: "a pod IP that is not an IP", field: "status.podIP", substr: "must be a valid IP address", obj: func() Object {
			p := validPod()
			p.Status.PodIP = "999.1.1.1"
			return p
		}},
		{name: "a pod IP with octal-looking octets", field: "status.podIPs[0].ip", obj: func() Object {
			p := validPod()
			p.Status.PodIPs = []PodIP{{IP: "010.244.1.5"}}
			return p
		}},
		{name: "a host IP that is a name", field: "status.hostIP", obj: func() Object {
			p := validPod()
			p.Status.HostIP = "node-1"
			return p
		}},
		{name: "an activeDeadlineSeconds past int32", field: "spec.activeDeadlineSeconds", substr: "between 1 and 2147483647", obj: func() Object {
			p := validPod()
			d := int64(9223372037)
			p.Spec.ActiveDeadlineSeconds = &d
			return p
		}},
		{name: "a zero activeDeadlineSeconds", field: "spec.activeDeadlineSeconds", obj: func() Object {
			p := validPod()
			d := int64(0)
			p.Spec.ActiveDeadlineSeconds = &d
			return p
		}},
		{name: "a pod phase that does not exist", field: "status.phase", obj: func() Object {
			p := validPod()
			p.Status.Phase = "Exploded"
			return p
		}},
		{name: "a negative restart count", field: "status.containerStatuses[0].restartCount", obj: func() Object {
			p := validPod()
			p.Status.ContainerStatuses = []ContainerStatus{{Name: "web", RestartCount: -1}}
			return p
		}},
		{name: "a node InternalIP that is not an IP", field: "status.addresses[0].address", obj: func() Object {
			n := validNode()
			n.Status.Addresses = []NodeAddress{{Type: "InternalIP", Address: "169.254.169.254:80"}}
			return n
		}},
		{name: "a node address of an unknown type", field: "status.addresses[0].type", obj: func() Object {
			n := validNode()
			n.Status.Addresses = []NodeAddress{{Type: "Anywhere", Address: "10.0.0.1"}}
			return n
		}},
		{name: "a node hostname that is not a DNS name", field: "status.addresses[0].address", obj: func() Object {
			n := validNode()
			n.Status.Addresses = []NodeAddress{{Type: "Hostname", Address: "a b"}}
			return n
		}},
		{name: "an agent port past 65535", field: "status.daemonEndpoints.kubeletEndpoint.Port", obj: func() Object {
			n := validNode()
			n.Status.DaemonEndpoints.KubeletEndpoint.Port = 70000
			return n
		}},
		{name: "node capacity of a thousand million CPUs", field: "status.capacity[cpu]", obj: func() Object {
			n := validNode()
			n.Status.Capacity = ResourceList{ResourceCPU: resource.MustParse("1G")}
			return n
		}},
		{name: "node capacity of too many pods", field: "status.allocatable[pods]", obj: func() Object {
			n := validNode()
			n.Status.Allocatable = ResourceList{ResourcePods: resource.MustParse("1000001")}
			return n
		}},
		{name: "node capacity of an unknown resource", field: "status.capacity[foo]", obj: func() Object {
			n := validNode()
			n.Status.Capacity = ResourceList{"foo": resource.MustParse("1")}
			return n
		}},
		{name: "probe with two handlers", field: "spec.containers[0].livenessProbe", substr: "exactly one", obj: func() Object {
			p := validPod()
			p.Spec.Containers[0].LivenessProbe.Exec = &ExecAction{Command: []string{"true"}}
			return p
		}},
		{name: "probe with no handler", field: "spec.containers[0].readinessProbe", obj: func() Object {
			p := validPod()
			p.Spec.Containers[0].ReadinessProbe.HTTPGet = nil
			return p
		}},
		{name: "probe port out of range", field: "spec.containers[0].livenessProbe.tcpSocket.port", obj: func() Object {
			p := validPod()
			p.Spec.Containers[0].LivenessProbe.TCPSocket.Port = intstr.FromInt32(0)
			return p
		}},
		{name: "probe period 0", field: "spec.containers[0].livenessProbe.periodSeconds", obj: func() Object {
			p := validPod()
			p.Spec.Containers[0].LivenessProbe.PeriodSeconds = 0
			return p
		}},
		// Replication controllers.
		{name: "RC selector does not match template labels", field: "spec.template.metadata.labels", obj: func() Object {
			rc := validRC()
			rc.Spec.Selector = map[string]string{"app": "db"}
			return rc
		}},
		{name: "RC without selector or template labels", field: "spec.selector", obj: func() Object {
			rc := validRC()
			rc.Spec.Selector, rc.Spec.Template.Labels = nil, nil
			return rc
		}},
		{name: "RC without template", field: "spec.template", obj: func() Object {
			rc := validRC()
			rc.Spec.Template = nil
			return rc
		}},
		{name: "RC with negative replicas", field: "spec.replicas", obj: func() Object {
			rc := validRC()
			rc.Spec.Replicas = new(int32(-1))
			return rc
		}},
		{name: "RC template naming a node", field: "spec.template.spec.nodeName", obj: func() Object {
			rc := validRC()
			rc.Spec.Template.Spec.NodeName = "node-1"
			return rc
		}},
		{name: "RC template with duplicate containers", field: "spec.template.spec.containers[1].name", obj: func() Object {
			rc := validRC()
			c := rc.Spec.Template.Spec.Containers[0]
			rc.Spec.Template.Spec.Containers = append(rc.Spec.Template.Spec.Containers, c)
			return rc
		}},
		// Services.
		{name: "service port 0", field: "spec.ports[0].port", obj: func() Object {
			s := validService()
			s.Spec.Ports[0].Port = 0
			return s
		}},
		{name: "service port 65536", field: "spec.ports[0].port", obj: func() Object {
			s := validService()
			s.Spec.Ports[0].Port = 65536
			return s
		}},
		{name: "targetPort 65536", field: "spec.ports[0].targetPort", obj: func() Object {
			s := validService()
			s.Spec.Ports[0].TargetPort = intstr.FromInt32(65536)
			return s
		}},
		{name: "bad targetPort name", field: "spec.ports[0].targetPort", obj: func() Object {
			s := validService()
			s.Spec.Ports[0].TargetPort = intstr.FromString("not_a_port")
			return s
		}},
		{name: "NodePort 29999", field: "spec.ports[0].nodePort", obj: func() Object {
			s := validNodePortService()
			s.Spec.Ports[0].NodePort = 29999
			return s
		}},
		{name: "NodePort 32768", field: "spec.ports[0].nodePort", obj: func() Object {
			s := validNodePortService()
			s.Spec.Ports[0].NodePort = 32768
			return s
		}},
		{name: "nodePort on a ClusterIP service", field: "spec.ports[0].nodePort", obj: func() Object {
			s := validService()
			s.Spec.Ports[0].NodePort = 30080
			return s
		}},
		{name: "unsupported service type", field: "spec.type", obj: func() Object {
			s := validService()
			s.Spec.Type = "LoadBalancer"
			return s
		}},
		{name: "service without ports", field: "spec.ports", obj: func() Object {
			s := validService()
			s.Spec.Ports = nil
			return s
		}},
		{name: "unnamed port among several", field: "spec.ports[1].name", obj: func() Object {
			s := validService()
			s.Spec.Ports = append(s.Spec.Ports, ServicePort{Port: 443, Protocol: ProtocolTCP, TargetPort: intstr.FromInt32(443)})
			return s
		}},
		{name: "duplicate service port names", field: "spec.ports[1].name", obj: func() Object {
			s := validService()
			s.Spec.Ports = append(s.Spec.Ports, s.Spec.Ports[0])
			return s
		}},
		{name: "IPv6 clusterIP", field: "spec.clusterIP", obj: func() Object {
			s := validService()
			s.Spec.ClusterIP = "fd00::1"
			return s
		}},
		{name: "headless NodePort", field: "spec.clusterIP", obj: func() Object {
			s := validNodePortService()
			s.Spec.ClusterIP = ClusterIPNone
			return s
		}},
		{name: "ClientIP timeout over a day", field: "spec.sessionAffinityConfig.clientIP.timeoutSeconds", obj: func() Object {
			s := validService()
			s.Spec.SessionAffinity = AffinityClientIP
			s.Spec.SessionAffinityConfig = &SessionAffinityConfig{ClientIP: &ClientIPConfig{TimeoutSeconds: new(int32(86401))}}
			return s
		}},
		// Endpoints and nodes.
		{name: "endpoints with a bad IP", field: "subsets[0].addresses[0].ip", obj: func() Object {
			e := validEndpoints()
			e.Subsets[0].Addresses[0].IP = "10.244.1"
			return e
		}},
		{name: "endpoints with a bad not-ready IP", field: "subsets[0].notReadyAddresses[0].ip", obj: func() Object {
			e := validEndpoints()
			e.Subsets[0].NotReadyAddresses[0].IP = "node-1"
			return e
		}},
		{name: "endpoints with port 0", field: "subsets[0].ports[0].port", obj: func() Object {
			e := validEndpoints()
			e.Subsets[0].Ports[0].Port = 0
			return e
		}},
		{name: "node with a bad pod CIDR", field: "spec.podCIDR", obj: func() Object {
			n := validNode()
			n.Spec.PodCIDR = "10.244.1.0"
			return n
		}},
		{name: "node taint without effect", field: "spec.taints[0].effect", obj: func() Object {
			n := validNode()
			n.Spec.Taints[0].Effect = ""
			return n
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.obj())
			wantInvalid(t, err, tt.field)
			if tt.substr != "" && !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("message %q does not mention %q", err.Error(), tt.substr)
			}
		})
	}
}

// The Status names the object (or its generateName) and its kind.
func TestValidateStatusNamesObject(t *testing.T) {
	p := validPod()
	p.Name = "Web"
	var se *StatusError
	if !errors.As(Validate(p), &se) {
		t.Fatal("want a *StatusError")
	}
	if se.Status.Details.Kind != "Pod" || se.Status.Details.Name != "Web" {
		t.Errorf("details = %+v, want kind Pod name Web", se.Status.Details)
	}
	if !strings.HasPrefix(se.Status.Message, `Pod "Web" is invalid: `) {
		t.Errorf("message = %q", se.Status.Message)
	}

	p = validPod()
	p.Name, p.GenerateName = "", "Web-"
	if !errors.As(Validate(p), &se) {
		t.Fatal("want a *StatusError")
	}
	if se.Status.Details.Name != "Web-" {
		t.Errorf("details name = %q, want the generateName", se.Status.Details.Name)
	}
}

// Objects that are not a stored kind (Binding and Scale satisfy Object) are
// rejected with a Status, not a panic.
func TestValidateUnsupportedKind(t *testing.T) {
	for _, obj := range []Object{&Binding{}, &Scale{ObjectMeta: ObjectMeta{Name: "web"}}} {
		wantInvalid(t, Validate(obj), "kind")
	}
}

func TestValidateUpdate(t *testing.T) {
	bound := func() *Pod {
		p := validPod()
		p.Spec.NodeName = "node-1"
		return p
	}
	tests := []struct {
		name     string
		old, obj func() Object
		field    string // "" for valid
	}{
		{name: "pod image change", old: func() Object { return bound() }, obj: func() Object {
			p := bound()
			p.Spec.Containers[0].Image = "nginx:1.28"
			return p
		}},
		{name: "binding an unbound pod", old: func() Object { return validPod() }, obj: func() Object { return bound() }},
		{name: "moving a bound pod", field: "spec.nodeName", old: func() Object { return bound() }, obj: func() Object {
			p := bound()
			p.Spec.NodeName = "node-2"
			return p
		}},
		{name: "unbinding a bound pod", field: "spec.nodeName", old: func() Object { return bound() }, obj: func() Object { return validPod() }},
		{name: "adding a container", field: "spec.containers", old: func() Object { return validPod() }, obj: func() Object {
			p := validPod()
			p.Spec.Containers = append(p.Spec.Containers, Container{Name: "side", Image: "busybox", ImagePullPolicy: PullAlways})
			return p
		}},
		{name: "changing a container's command", field: "spec.containers[0]", old: func() Object { return validPod() }, obj: func() Object {
			p := validPod()
			p.Spec.Containers[0].Command = []string{"sh"}
			return p
		}},
		{name: "changing volumes", field: "spec.volumes", old: func() Object { return validPod() }, obj: func() Object {
			p := validPod()
			p.Spec.Volumes[0].EmptyDir.Medium = "Memory"
			return p
		}},
		{name: "service clusterIP change", field: "spec.clusterIP", old: func() Object {
			s := validService()
			s.Spec.ClusterIP = "10.96.0.10"
			return s
		}, obj: func() Object {
			s := validService()
			s.Spec.ClusterIP = "10.96.0.11"
			return s
		}},
		{name: "service update without clusterIP", old: func() Object {
			s := validService()
			s.Spec.ClusterIP = "10.96.0.10"
			return s
		}, obj: func() Object { return validService() }},
		{name: "node podCIDR change", field: "spec.podCIDRs", old: func() Object { return nodeWithCIDR("10.244.1.0/24") },
			obj: func() Object { return nodeWithCIDR("10.244.2.0/24") }},
		{name: "node podCIDRs change", field: "spec.podCIDRs", old: func() Object { return nodeWithCIDR("10.244.1.0/24") }, obj: func() Object {
			n := nodeWithCIDR("10.244.1.0/24")
			n.Spec.PodCIDRs = []string{"10.244.1.0/24", "10.245.1.0/24"}
			return n
		}},
		{name: "node update keeping its podCIDR", old: func() Object { return nodeWithCIDR("10.244.1.0/24") },
			obj: func() Object { return nodeWithCIDR("10.244.1.0/24") }},
		{name: "node update without podCIDR", old: func() Object { return nodeWithCIDR("10.244.1.0/24") }, obj: func() Object { return nodeWithCIDR("") }},
		{name: "node given a podCIDR from none", old: func() Object { return nodeWithCIDR("") }, obj: func() Object { return nodeWithCIDR("10.244.1.0/24") }},
		{name: "invalid new object", field: "metadata.labels[app]", old: func() Object { return validRC() }, obj: func() Object {
			rc := validRC()
			rc.Labels = map[string]string{"app": "-"}
			return rc
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateUpdate(tt.obj(), tt.old())
			if tt.field == "" {
				if err != nil {
					t.Fatalf("ValidateUpdate: %v", err)
				}
				return
			}
			wantInvalid(t, err, tt.field)
		})
	}
}

func podWithResources(requests, limits ResourceList) *Pod {
	p := validPod()
	p.Spec.Containers[0].Resources = ResourceRequirements{Requests: requests, Limits: limits}
	return p
}

// The bounds themselves are accepted, and extended resources with equal
// requests and limits are valid.
func TestValidateQuantityBounds(t *testing.T) {
	p := podWithResources(
		ResourceList{ResourceCPU: MaxCPU, ResourceMemory: MaxBytes, "example.com/gpu": resource.MustParse("2")},
		ResourceList{ResourceCPU: MaxCPU, ResourceMemory: MaxBytes, "example.com/gpu": resource.MustParse("2")})
	if err := Validate(p); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	n := validNode()
	n.Status.Capacity = ResourceList{ResourceCPU: MaxCPU, ResourceMemory: MaxBytes, ResourcePods: MaxPods, "example.com/gpu": resource.MustParse("8")}
	if err := Validate(n); err != nil {
		t.Fatalf("Validate node = %v", err)
	}
}

// nodeWithCIDR is a valid node with the pod CIDR given at registration.
func nodeWithCIDR(cidr string) *Node {
	n := validNode()
	n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, nil
	if cidr != "" {
		n.Spec.PodCIDRs = []string{cidr}
	}
	return n
}
