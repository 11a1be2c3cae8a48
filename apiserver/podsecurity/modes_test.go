package podsecurity

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	v1 "orch.io/orch/api/v1"
)

func plainPod(name string) *v1.Pod {
	return &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}
}

func hostNetPod(name string) *v1.Pod {
	p := plainPod(name)
	p.Spec.HostNetwork = true
	return p
}

func rc(template *v1.Pod) *v1.ReplicationController {
	return &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "rc", Namespace: "ns"},
		Spec: v1.ReplicationControllerSpec{Template: &v1.PodTemplateSpec{ObjectMeta: template.ObjectMeta, Spec: template.Spec}}}
}

func sts(template *v1.Pod) *v1.StatefulSet {
	return &v1.StatefulSet{ObjectMeta: v1.ObjectMeta{Name: "sts", Namespace: "ns"},
		Spec: v1.StatefulSetSpec{Template: v1.PodTemplateSpec{ObjectMeta: template.ObjectMeta, Spec: template.Spec}}}
}

func rs(template *v1.Pod) *v1.ReplicaSet {
	return &v1.ReplicaSet{ObjectMeta: v1.ObjectMeta{Name: "rs", Namespace: "ns"},
		Spec: v1.ReplicaSetSpec{Template: v1.PodTemplateSpec{ObjectMeta: template.ObjectMeta, Spec: template.Spec}}}
}

func deploy(template *v1.Pod) *v1.Deployment {
	return &v1.Deployment{ObjectMeta: v1.ObjectMeta{Name: "d", Namespace: "ns"},
		Spec: v1.DeploymentSpec{Template: v1.PodTemplateSpec{ObjectMeta: template.ObjectMeta, Spec: template.Spec}}}
}

const (
	enforce = "pod-security.kubernetes.io/enforce"
	warn    = "pod-security.kubernetes.io/warn"
	audit   = "pod-security.kubernetes.io/audit"
)

// TestModes checks what each mode does with a request: enforce refuses,
// warn answers warnings, audit logs; templates are never refused.
func TestModes(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		ns        *v1.Namespace
		req       Request
		wantErr   string
		wantWarn  []string
		wantAudit string
	}{
		{name: "default enforces baseline", ns: namespace("ns"),
			req:       Request{Operation: Create, Resource: "pods", Name: "p", Object: hostNetPod("p")},
			wantErr:   `pods "p" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`,
			wantAudit: `would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
		{name: "default admits a plain pod silently", ns: namespace("ns"),
			req: Request{Operation: Create, Resource: "pods", Name: "p", Object: plainPod("p")}},
		{name: "warn restricted", ns: namespace("ns", warn, "restricted"),
			req:      Request{Operation: Create, Resource: "pods", Name: "p", Object: podWith(func(p *v1.Pod) { container(p).AllowPrivilegeEscalation = nil })},
			wantWarn: []string{`would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false)`}},
		{name: "enforce wins over warn", ns: namespace("ns", warn, "restricted"),
			req:       Request{Operation: Create, Resource: "pods", Name: "p", Object: hostNetPod("p")},
			wantErr:   `violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`,
			wantAudit: `would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
		{name: "audit restricted", ns: namespace("ns", audit, "restricted"),
			req:       Request{Operation: Create, Resource: "pods", Name: "p", Object: podWith(func(p *v1.Pod) { container(p).RunAsUser = ptr(int64(0)) })},
			wantAudit: `would violate PodSecurity "restricted:latest": runAsUser=0 (container "c" must not set runAsUser=0)`},
		// The cluster's warn and audit defaults still apply where a
		// namespace sets only enforce.
		{name: "privileged enforce", ns: namespace("ns", enforce, "privileged"),
			req:       Request{Operation: Create, Resource: "pods", Name: "p", Object: hostNetPod("p")},
			wantWarn:  []string{`would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
			wantAudit: `would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
		{name: "privileged namespace", ns: namespace("ns", enforce, "privileged", warn, "privileged", audit, "privileged"),
			req: Request{Operation: Create, Resource: "pods", Name: "p", Object: hostNetPod("p")}},
		{name: "enforce-version pins the checks", ns: namespace("ns", enforce, "baseline", "pod-security.kubernetes.io/enforce-version", "v1.33"),
			req: Request{Operation: Create, Resource: "pods", Name: "p", Object: podWith(func(p *v1.Pod) {
				p.Spec.Containers[0].ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Host: "127.0.0.1", Port: v1.IntOrString{IntVal: 1}}}}
			})},
			wantWarn:  []string{`would violate PodSecurity "baseline:latest": probe or lifecycle host (container "c" uses probe or lifecycle host "127.0.0.1")`},
			wantAudit: `would violate PodSecurity "baseline:latest": probe or lifecycle host (container "c" uses probe or lifecycle host "127.0.0.1")`},
		{name: "template is warned about, not refused", ns: namespace("ns"),
			req:       Request{Operation: Create, Resource: "replicationcontrollers", Name: "rc", Object: rc(hostNetPod("t"))},
			wantWarn:  []string{`would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
			wantAudit: `would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
		{name: "replica set template is warned about, not refused", ns: namespace("ns"),
			req:       Request{Operation: Create, Resource: "replicasets", Name: "rs", Object: rs(hostNetPod("t"))},
			wantWarn:  []string{`would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
			wantAudit: `would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
		{name: "deployment template is warned about, not refused", ns: namespace("ns"),
			req:       Request{Operation: Create, Resource: "deployments", Name: "d", Object: deploy(hostNetPod("t"))},
			wantWarn:  []string{`would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
			wantAudit: `would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
		{name: "deployment scale is not checked", ns: namespace("ns"),
			req: Request{Operation: Update, Resource: "deployments", Subresource: "scale", Name: "d", Object: deploy(hostNetPod("t")), OldObject: deploy(hostNetPod("t"))}},
		{name: "daemon set template is warned about, not refused", ns: namespace("ns"),
			req: Request{Operation: Create, Resource: "daemonsets", Name: "ds", Object: &v1.DaemonSet{ObjectMeta: v1.ObjectMeta{Name: "ds", Namespace: "ns"},
				Spec: v1.DaemonSetSpec{Template: v1.PodTemplateSpec{Spec: hostNetPod("t").Spec}}}},
			wantWarn:  []string{`would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
			wantAudit: `would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
		{name: "stateful set template is warned about, not refused", ns: namespace("ns", enforce, "baseline"),
			req:       Request{Operation: Create, Resource: "statefulsets", Name: "sts", Object: sts(hostNetPod("t"))},
			wantWarn:  []string{`would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
			wantAudit: `would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
		{name: "replica set scale is not checked", ns: namespace("ns"),
			req: Request{Operation: Update, Resource: "replicasets", Subresource: "scale", Name: "rs", Object: rs(hostNetPod("t")), OldObject: rs(hostNetPod("t"))}},
		{name: "template status is not checked", ns: namespace("ns"),
			req: Request{Operation: Update, Resource: "replicationcontrollers", Subresource: "status", Name: "rc", Object: rc(hostNetPod("t")), OldObject: rc(hostNetPod("t"))}},
		{name: "exempt namespace", cfg: Config{ExemptNamespaces: []string{"ns"}}, ns: namespace("ns", enforce, "restricted"),
			req: Request{Operation: Create, Resource: "pods", Name: "p", Object: hostNetPod("p")}},
		{name: "kube-system exempt by default", ns: namespace("kube-system"),
			req: Request{Operation: Create, Resource: "pods", Namespace: "kube-system", Name: "p", Object: hostNetPod("p")}},
		{name: "no exemptions", cfg: Config{ExemptNamespaces: []string{}}, ns: namespace("kube-system"),
			req:       Request{Operation: Create, Resource: "pods", Namespace: "kube-system", Name: "p", Object: hostNetPod("p")},
			wantErr:   `host namespaces (hostNetwork=true)`,
			wantAudit: `would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
		{name: "cluster default restricted", cfg: Config{Enforce: "restricted:v1.30"}, ns: namespace("ns"),
			req:     Request{Operation: Create, Resource: "pods", Name: "p", Object: podWith(func(p *v1.Pod) { p.Spec.SecurityContext.RunAsNonRoot = nil })},
			wantErr: `violates PodSecurity "restricted:v1.30": runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true)`},
		{name: "update that changes only labels is not checked", ns: namespace("ns"),
			req: Request{Operation: Update, Resource: "pods", Name: "p", Object: podWith(func(p *v1.Pod) {
				p.Spec.HostNetwork, p.Labels = true, map[string]string{"a": "b"}
			}), OldObject: hostNetPod("p")}},
		{name: "update that changes an image is checked", ns: namespace("ns"),
			req: Request{Operation: Update, Resource: "pods", Name: "p", Object: func() *v1.Pod {
				p := hostNetPod("p")
				p.Spec.Containers[0].Image = "busybox:2"
				return p
			}(), OldObject: hostNetPod("p")},
			wantErr:   `host namespaces (hostNetwork=true)`,
			wantAudit: `would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
		{name: "update that adds an init container is checked", ns: namespace("ns"),
			req: Request{Operation: Update, Resource: "pods", Name: "p", Object: func() *v1.Pod {
				p := hostNetPod("p")
				p.Spec.InitContainers = []v1.Container{{Name: "i", Image: "busybox"}}
				return p
			}(), OldObject: hostNetPod("p")},
			wantErr:   `host namespaces (hostNetwork=true)`,
			wantAudit: `would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
		{name: "pod status is not checked", ns: namespace("ns"),
			req: Request{Operation: Update, Resource: "pods", Subresource: "status", Name: "p", Object: hostNetPod("p"), OldObject: hostNetPod("p")}},
		{name: "other resources are not checked", ns: namespace("ns", enforce, "restricted"),
			req: Request{Operation: Create, Resource: "services", Name: "s", Object: &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "s", Namespace: "ns"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newFakeStore()
			if tt.ns != nil {
				store.nss[tt.ns.Name] = tt.ns
			}
			if tt.req.Namespace == "" {
				tt.req.Namespace = "ns"
			}
			var logs bytes.Buffer
			a, err := New(tt.cfg, store, slog.New(slog.NewJSONHandler(&logs, nil)), nil)
			if err != nil {
				t.Fatal(err)
			}
			warnings, err := a.Admit(context.Background(), tt.req)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one with %q", err, tt.wantErr)
			case tt.wantErr != "" && v1.CodeOf(err) != 403:
				t.Fatalf("code %d, want 403", v1.CodeOf(err))
			}
			if !slices.Equal(warnings, tt.wantWarn) {
				t.Errorf("warnings = %q, want %q", warnings, tt.wantWarn)
			}
			got := logs.String()
			if tt.wantAudit == "" {
				if strings.Contains(got, "audit violation") {
					t.Errorf("audit logged %s", got)
				}
			} else if !strings.Contains(got, `"msg":"pod security audit violation"`) || !strings.Contains(got, jsonString(tt.wantAudit)) ||
				!strings.Contains(got, `"name":"`+tt.req.Name+`"`) {
				t.Errorf("audit log %s lacks %q", got, tt.wantAudit)
			}
		})
	}
}

// jsonString is s as it appears inside a JSON string.
func jsonString(s string) string {
	return strings.ReplaceAll(s, `"`, `\"`)
}

// TestNamespaceLabels checks the labels of namespaces, as Kubernetes does:
// invalid levels and versions are 422 Invalid; tightening the enforce
// level warns about existing pods that violate it.
func TestNamespaceLabels(t *testing.T) {
	tests := []struct {
		name     string
		op       Operation
		old, ns  *v1.Namespace
		pods     []*v1.Pod
		wantErr  string
		wantWarn []string
	}{
		{name: "valid labels", op: Create, ns: namespace("ns", enforce, "restricted", "pod-security.kubernetes.io/enforce-version", "v1.30", warn, "baseline", audit, "privileged")},
		{name: "invalid level", op: Create, ns: namespace("ns", enforce, "strict"),
			wantErr: `Namespace "ns" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted`},
		{name: "invalid version", op: Create, ns: namespace("ns", "pod-security.kubernetes.io/warn-version", "1.30"),
			wantErr: `Namespace "ns" is invalid: metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "1.30": must be "latest" or "v1.x"`},
		{name: "invalid labels kept on update", op: Update, old: namespace("ns", audit, "x"), ns: namespace("ns", audit, "x", "team", "a")},
		{name: "invalid label added on update", op: Update, old: namespace("ns"), ns: namespace("ns", audit, "x"),
			wantErr: `metadata.labels[pod-security.kubernetes.io/audit]: Invalid value: "x"`},
		{name: "tightened enforce warns about existing pods", op: Update, old: namespace("ns"), ns: namespace("ns", enforce, "restricted"),
			pods: []*v1.Pod{restrictedPod("good"), plainPod("b"), plainPod("a"), hostNetPod("h")},
			wantWarn: []string{
				`existing pods in namespace "ns" violate the new PodSecurity enforce level "restricted:latest"`,
				`a (and 1 other pod): allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile`,
				`h: host namespaces, allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile`,
			}},
		{name: "exempt namespace with a policy", op: Create, ns: namespace("kube-system", enforce, "restricted"),
			wantWarn: []string{`namespace "kube-system" is exempt from Pod Security, and the policy (enforce=restricted:latest) will be ignored`}},
		{name: "relaxed enforce does not", op: Update, old: namespace("ns", enforce, "restricted"), ns: namespace("ns", enforce, "baseline"),
			pods: []*v1.Pod{plainPod("a")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newFakeStore(tt.ns)
			store.pods[tt.ns.Name] = tt.pods
			a := newTestAdmission(t, Config{}, store)
			req := Request{Operation: tt.op, Resource: "namespaces", Name: tt.ns.Name, Object: tt.ns}
			if tt.old != nil {
				req.OldObject = tt.old
			}
			warnings, err := a.Admit(context.Background(), req)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || v1.CodeOf(err) != 422 {
					t.Fatalf("err = %v (code %d), want 422 with %q", err, v1.CodeOf(err), tt.wantErr)
				}
				se := err.(*v1.StatusError)
				if d := se.Status.Details; d == nil || d.Kind != "Namespace" || len(d.Causes) == 0 || !strings.HasPrefix(d.Causes[0].Field, "metadata.labels[pod-security.kubernetes.io/") {
					t.Errorf("details = %+v", se.Status.Details)
				}
			}
			if !slices.Equal(warnings, tt.wantWarn) {
				t.Errorf("warnings =\n%q\nwant\n%q", warnings, tt.wantWarn)
			}
		})
	}
}

func TestParseLevelVersion(t *testing.T) {
	tests := []struct {
		in, level, version string
		ok                 bool
	}{
		{"baseline", "baseline", "latest", true},
		{"restricted:v1.30", "restricted", "v1.30", true},
		{"privileged:latest", "privileged", "latest", true},
		{"strict", "", "", false},
		{"baseline:1.30", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			l, v, err := ParseLevelVersion(tt.in)
			if (err == nil) != tt.ok || l != tt.level || v != tt.version {
				t.Errorf("ParseLevelVersion(%q) = %q, %q, %v", tt.in, l, v, err)
			}
		})
	}
	if _, err := New(Config{Warn: "strict"}, newFakeStore(), nil, nil); err == nil || !strings.Contains(err.Error(), "pod security warn") {
		t.Errorf("New with a bad warn level: %v", err)
	}
}

// TestMetrics checks that evaluations are counted with Kubernetes' labels.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a, err := New(Config{}, newFakeStore(namespace("ns")), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a.Admit(ctx, Request{Operation: Create, Resource: "pods", Namespace: "ns", Name: "p", Object: hostNetPod("p")})
	a.Admit(ctx, Request{Operation: Create, Resource: "pods", Namespace: "ns", Name: "q", Object: plainPod("q")})
	a.Admit(ctx, Request{Operation: Create, Resource: "pods", Namespace: "kube-system", Name: "q", Object: plainPod("q")})
	want := `
# HELP pod_security_evaluations_total Number of policy evaluations that occurred, not counting ignored or exempt requests.
# TYPE pod_security_evaluations_total counter
pod_security_evaluations_total{decision="allow",mode="enforce",policy_level="baseline",policy_version="latest",request_operation="create",resource="pod",subresource=""} 1
pod_security_evaluations_total{decision="deny",mode="audit",policy_level="baseline",policy_version="latest",request_operation="create",resource="pod",subresource=""} 1
pod_security_evaluations_total{decision="deny",mode="enforce",policy_level="baseline",policy_version="latest",request_operation="create",resource="pod",subresource=""} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "pod_security_evaluations_total"); err != nil {
		t.Error(err)
	}
}
