package v1

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDefaultPod(t *testing.T) {
	p := &Pod{
		ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Spec: PodSpec{
			Volumes:        []Volume{{Name: "data"}},
			InitContainers: []Container{{Name: "init", Image: "busybox"}},
			Containers: []Container{{
				Name:  "web",
				Image: "nginx:1.27",
				Ports: []ContainerPort{{ContainerPort: 80}, {ContainerPort: 53, Protocol: ProtocolUDP}},
				LivenessProbe: &Probe{ProbeHandler: ProbeHandler{
					HTTPGet: &HTTPGetAction{Port: intstr.FromInt32(80)},
				}},
				ReadinessProbe: &Probe{
					ProbeHandler:   ProbeHandler{TCPSocket: &TCPSocketAction{Port: intstr.FromInt32(80)}},
					TimeoutSeconds: 5, PeriodSeconds: 2, SuccessThreshold: 2, FailureThreshold: 7,
				},
			}},
		},
	}
	Default(p)

	if p.Kind != "Pod" || p.APIVersion != "v1" {
		t.Errorf("type meta = %+v, want Pod v1", p.TypeMeta)
	}
	if p.Spec.RestartPolicy != RestartAlways {
		t.Errorf("restartPolicy = %q, want Always", p.Spec.RestartPolicy)
	}
	if g := p.Spec.TerminationGracePeriodSeconds; g == nil || *g != 30 {
		t.Errorf("terminationGracePeriodSeconds = %v, want 30", g)
	}
	if p.Status.Phase != PodPending {
		t.Errorf("phase = %q, want Pending", p.Status.Phase)
	}
	if p.Spec.DNSPolicy != "ClusterFirst" || p.Spec.SchedulerName != "default-scheduler" {
		t.Errorf("dnsPolicy %q schedulerName %q", p.Spec.DNSPolicy, p.Spec.SchedulerName)
	}
	if p.Spec.Volumes[0].EmptyDir == nil {
		t.Error("volume without a source did not default to emptyDir")
	}
	c := p.Spec.Containers[0]
	if c.Ports[0].Protocol != ProtocolTCP {
		t.Errorf("port protocol = %q, want TCP", c.Ports[0].Protocol)
	}
	if c.Ports[1].Protocol != ProtocolUDP {
		t.Errorf("explicit UDP protocol became %q", c.Ports[1].Protocol)
	}
	if c.TerminationMessagePath != "/dev/termination-log" || c.TerminationMessagePolicy != "File" {
		t.Errorf("termination message %q %q", c.TerminationMessagePath, c.TerminationMessagePolicy)
	}
	if c.ImagePullPolicy != PullIfNotPresent {
		t.Errorf("imagePullPolicy = %q, want IfNotPresent", c.ImagePullPolicy)
	}
	if got := p.Spec.InitContainers[0].ImagePullPolicy; got != PullAlways {
		t.Errorf("init container imagePullPolicy = %q, want Always", got)
	}
	lp := c.LivenessProbe
	if lp.TimeoutSeconds != 1 || lp.PeriodSeconds != 10 || lp.SuccessThreshold != 1 || lp.FailureThreshold != 3 {
		t.Errorf("liveness probe defaults = %+v, want timeout 1 period 10 success 1 failure 3", lp)
	}
	if lp.HTTPGet.Path != "/" || lp.HTTPGet.Scheme != "HTTP" {
		t.Errorf("httpGet defaults path %q scheme %q, want / HTTP", lp.HTTPGet.Path, lp.HTTPGet.Scheme)
	}
	rp := c.ReadinessProbe
	if rp.TimeoutSeconds != 5 || rp.PeriodSeconds != 2 || rp.SuccessThreshold != 2 || rp.FailureThreshold != 7 {
		t.Errorf("explicit probe values were overwritten: %+v", rp)
	}
	if c.StartupProbe != nil {
		t.Error("defaulting created a startup probe")
	}
	if err := Validate(p); err != nil {
		t.Errorf("defaulted pod is invalid: %v", err)
	}
}

func TestDefaultKeepsExplicitPodValues(t *testing.T) {
	p := &Pod{
		ObjectMeta: ObjectMeta{Name: "job", Namespace: "default"},
		Spec: PodSpec{
			RestartPolicy:                 RestartNever,
			TerminationGracePeriodSeconds: new(int64(0)),
			Containers:                    []Container{{Name: "c", Image: "busybox", ImagePullPolicy: PullNever}},
		},
		Status: PodStatus{Phase: PodRunning},
	}
	Default(p)
	if p.Spec.RestartPolicy != RestartNever {
		t.Errorf("restartPolicy = %q", p.Spec.RestartPolicy)
	}
	if *p.Spec.TerminationGracePeriodSeconds != 0 {
		t.Errorf("grace = %d, want the explicit 0", *p.Spec.TerminationGracePeriodSeconds)
	}
	if p.Spec.Containers[0].ImagePullPolicy != PullNever {
		t.Errorf("imagePullPolicy = %q", p.Spec.Containers[0].ImagePullPolicy)
	}
	if p.Status.Phase != PodRunning {
		t.Errorf("phase = %q", p.Status.Phase)
	}
}

func TestDefaultImagePullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  string
	}{
		{"busybox", PullAlways},
		{"busybox:1.35", PullIfNotPresent},
		{"busybox:latest", PullAlways},
		{"docker.io/library/busybox", PullAlways},
		{"docker.io/library/busybox:1.35", PullIfNotPresent},
		{"localhost:5000/busybox", PullAlways},
		{"localhost:5000/busybox:1.35", PullIfNotPresent},
		{"localhost:5000/busybox:latest", PullAlways},
		{"busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", PullIfNotPresent},
		{"busybox:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", PullIfNotPresent},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			s := PodSpec{Containers: []Container{{Name: "c", Image: tt.image}}}
			DefaultPodSpec(&s)
			if got := s.Containers[0].ImagePullPolicy; got != tt.want {
				t.Errorf("imagePullPolicy(%q) = %q, want %q", tt.image, got, tt.want)
			}
		})
	}
}

func TestDefaultReplicationController(t *testing.T) {
	tests := []struct {
		name         string
		rc           ReplicationController
		wantReplicas int32
		wantSelector map[string]string
		wantLabels   map[string]string
	}{
		{
			name: "replicas and selector from template",
			rc: ReplicationController{
				ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
				Spec: ReplicationControllerSpec{Template: &PodTemplateSpec{
					ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web", "tier": "fe"}},
					Spec:       PodSpec{Containers: []Container{{Name: "web", Image: "nginx"}}},
				}},
			},
			wantReplicas: 1,
			wantSelector: map[string]string{"app": "web", "tier": "fe"},
			wantLabels:   map[string]string{"app": "web", "tier": "fe"},
		},
		{
			name: "explicit values are kept",
			rc: ReplicationController{
				ObjectMeta: ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"owner": "me"}},
				Spec: ReplicationControllerSpec{
					Replicas: new(int32(0)),
					Selector: map[string]string{"app": "web"},
					Template: &PodTemplateSpec{
						ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web", "tier": "fe"}},
						Spec:       PodSpec{Containers: []Container{{Name: "web", Image: "nginx"}}},
					},
				},
			},
			wantReplicas: 0,
			wantSelector: map[string]string{"app": "web"},
			wantLabels:   map[string]string{"owner": "me"},
		},
		{
			name:         "no template",
			rc:           ReplicationController{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"}},
			wantReplicas: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := tt.rc
			Default(&rc)
			if rc.Kind != "ReplicationController" || rc.APIVersion != "v1" {
				t.Errorf("type meta = %+v", rc.TypeMeta)
			}
			if rc.Spec.Replicas == nil || *rc.Spec.Replicas != tt.wantReplicas {
				t.Errorf("replicas = %v, want %d", rc.Spec.Replicas, tt.wantReplicas)
			}
			if !JSONEqual(rc.Spec.Selector, tt.wantSelector) {
				t.Errorf("selector = %v, want %v", rc.Spec.Selector, tt.wantSelector)
			}
			if !JSONEqual(rc.Labels, tt.wantLabels) {
				t.Errorf("labels = %v, want %v", rc.Labels, tt.wantLabels)
			}
			if tpl := rc.Spec.Template; tpl != nil {
				// The template's pod spec is defaulted like a pod's.
				if tpl.Spec.RestartPolicy != RestartAlways || tpl.Spec.Containers[0].ImagePullPolicy != PullAlways {
					t.Errorf("template spec not defaulted: %+v", tpl.Spec)
				}
				// The selector is a copy: changing the template's labels leaves it alone.
				tpl.Labels["app"] = "changed"
				if rc.Spec.Selector["app"] != "web" {
					t.Error("selector shares its map with the template labels")
				}
			}
		})
	}
}

func TestDefaultService(t *testing.T) {
	s := &Service{
		ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Spec: ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports: []ServicePort{
				{Name: "http", Port: 80},
				{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443)},
				{Name: "metrics", Port: 9090, TargetPort: intstr.FromString("metrics")},
				{Name: "dns", Port: 53, Protocol: ProtocolUDP},
			},
		},
	}
	Default(s)
	if s.Kind != "Service" || s.APIVersion != "v1" {
		t.Errorf("type meta = %+v", s.TypeMeta)
	}
	if s.Spec.Type != ServiceTypeClusterIP {
		t.Errorf("type = %q, want ClusterIP", s.Spec.Type)
	}
	if s.Spec.SessionAffinity != AffinityNone {
		t.Errorf("sessionAffinity = %q, want None", s.Spec.SessionAffinity)
	}
	if s.Spec.SessionAffinityConfig != nil {
		t.Errorf("sessionAffinityConfig = %+v, want nil for None", s.Spec.SessionAffinityConfig)
	}
	wantTargets := []intstr.IntOrString{intstr.FromInt32(80), intstr.FromInt32(8443), intstr.FromString("metrics"), intstr.FromInt32(53)}
	wantProtocols := []string{ProtocolTCP, ProtocolTCP, ProtocolTCP, ProtocolUDP}
	for i, p := range s.Spec.Ports {
		if p.TargetPort != wantTargets[i] {
			t.Errorf("ports[%d].targetPort = %v, want %v", i, p.TargetPort.String(), wantTargets[i].String())
		}
		if p.Protocol != wantProtocols[i] {
			t.Errorf("ports[%d].protocol = %q, want %q", i, p.Protocol, wantProtocols[i])
		}
	}
	if err := Validate(s); err != nil {
		t.Errorf("defaulted service is invalid: %v", err)
	}
}

func TestDefaultServiceClientIPAffinity(t *testing.T) {
	tests := []struct {
		name string
		cfg  *SessionAffinityConfig
		want int32
	}{
		{"no config", nil, 10800},
		{"empty config", &SessionAffinityConfig{}, 10800},
		{"empty clientIP", &SessionAffinityConfig{ClientIP: &ClientIPConfig{}}, 10800},
		{"explicit timeout", &SessionAffinityConfig{ClientIP: &ClientIPConfig{TimeoutSeconds: new(int32(60))}}, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{
				ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
				Spec: ServiceSpec{
					Type: ServiceTypeNodePort, SessionAffinity: AffinityClientIP, SessionAffinityConfig: tt.cfg,
					Ports: []ServicePort{{Port: 80}},
				},
			}
			Default(s)
			if s.Spec.Type != ServiceTypeNodePort {
				t.Errorf("type = %q, want the explicit NodePort", s.Spec.Type)
			}
			c := s.Spec.SessionAffinityConfig
			if c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil || *c.ClientIP.TimeoutSeconds != tt.want {
				b, _ := json.Marshal(c)
				t.Fatalf("sessionAffinityConfig = %s, want timeoutSeconds %d", b, tt.want)
			}
		})
	}
}

func TestDefaultNamespaceAndEndpoints(t *testing.T) {
	ns := &Namespace{ObjectMeta: ObjectMeta{Name: "team-a"}}
	Default(ns)
	if ns.Kind != "Namespace" || ns.Status.Phase != NamespaceActive {
		t.Errorf("namespace = %+v / %+v, want kind Namespace phase Active", ns.TypeMeta, ns.Status)
	}
	term := &Namespace{ObjectMeta: ObjectMeta{Name: "old"}, Status: NamespaceStatus{Phase: NamespaceTerminating}}
	Default(term)
	if term.Status.Phase != NamespaceTerminating {
		t.Errorf("phase = %q, want the explicit Terminating", term.Status.Phase)
	}

	ep := &Endpoints{
		ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Subsets:    []EndpointSubset{{Ports: []EndpointPort{{Port: 80}, {Port: 53, Protocol: ProtocolUDP}}}},
	}
	Default(ep)
	if ep.Kind != "Endpoints" {
		t.Errorf("kind = %q", ep.Kind)
	}
	if got := ep.Subsets[0].Ports; got[0].Protocol != ProtocolTCP || got[1].Protocol != ProtocolUDP {
		t.Errorf("endpoint port protocols = %q %q, want TCP UDP", got[0].Protocol, got[1].Protocol)
	}

	n := &Node{ObjectMeta: ObjectMeta{Name: "n1"}}
	Default(n)
	if n.Kind != "Node" || n.APIVersion != "v1" {
		t.Errorf("node type meta = %+v", n.TypeMeta)
	}
}

// Defaulting twice changes nothing the second time.
func TestDefaultIsIdempotent(t *testing.T) {
	for _, obj := range []Object{validPod(), validRC(), validService(), validNodePortService(), validNamespace(), validNode(), validEndpoints()} {
		t.Run(KindOf(obj), func(t *testing.T) {
			before, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			Default(obj)
			after, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			if string(before) != string(after) {
				t.Errorf("second Default changed the object:\n before %s\n after  %s", before, after)
			}
		})
	}
}
