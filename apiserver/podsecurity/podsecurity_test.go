package podsecurity

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// fakeStore is a Store of namespaces and pods in memory.
type fakeStore struct {
	mu   sync.Mutex
	nss  map[string]*v1.Namespace
	pods map[string][]*v1.Pod
}

func newFakeStore(nss ...*v1.Namespace) *fakeStore {
	s := &fakeStore{nss: map[string]*v1.Namespace{}, pods: map[string][]*v1.Pod{}}
	for _, ns := range nss {
		s.nss[ns.Name] = ns
	}
	return s
}

func (s *fakeStore) Namespace(ctx context.Context, name string) (*v1.Namespace, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, ok := s.nss[name]
	if !ok {
		return nil, v1.NewNotFound("namespaces", name)
	}
	return ns, nil
}

func (s *fakeStore) Pods(ctx context.Context, namespace string) ([]*v1.Pod, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pods[namespace]), nil
}

func namespace(name string, labels ...string) *v1.Namespace {
	ns := &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for i := 0; i+1 < len(labels); i += 2 {
		ns.Labels[labels[i]] = labels[i+1]
	}
	return ns
}

func ptr[T any](v T) *T { return &v }

// restrictedPod passes every level: it is what the restricted standard asks.
func restrictedPod(name string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: v1.PodSpec{
			SecurityContext: &v1.PodSecurityContext{
				RunAsNonRoot:   ptr(true),
				SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []v1.Container{{Name: "c", Image: "busybox", SecurityContext: &v1.SecurityContext{
				AllowPrivilegeEscalation: ptr(false),
				Capabilities:             &v1.Capabilities{Drop: []v1.Capability{"ALL"}},
			}}},
		},
	}
}

func podWith(f func(p *v1.Pod)) *v1.Pod {
	p := restrictedPod("p")
	f(p)
	return p
}

func container(p *v1.Pod) *v1.SecurityContext { return p.Spec.Containers[0].SecurityContext }

func newTestAdmission(t *testing.T, cfg Config, store Store) *Admission {
	t.Helper()
	a, err := New(cfg, store, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// TestControls checks one pod per control of the Pod Security Standards at
// each level, with Kubernetes' wording of the violation.
func TestControls(t *testing.T) {
	tests := []struct {
		name string
		pod  *v1.Pod
		// baseline is the violation at baseline ("" if none), and at
		// restricted unless restricted names another (the restricted
		// standard replaces some baseline checks with stricter ones).
		baseline, restricted string
	}{
		{name: "restricted pod", pod: restrictedPod("p")},
		{name: "plain pod", pod: &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p"}, Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}},
			restricted: `allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`},
		{name: "hostNetwork", pod: podWith(func(p *v1.Pod) { p.Spec.HostNetwork = true }),
			baseline: `host namespaces (hostNetwork=true)`},
		{name: "hostPID and hostIPC", pod: podWith(func(p *v1.Pod) { p.Spec.HostPID, p.Spec.HostIPC = true, true }),
			baseline: `host namespaces (hostPID=true, hostIPC=true)`},
		{name: "privileged", pod: podWith(func(p *v1.Pod) { container(p).Privileged = ptr(true) }),
			baseline: `privileged (container "c" must not set securityContext.privileged=true)`},
		{name: "capability beyond the default set", pod: podWith(func(p *v1.Pod) { container(p).Capabilities.Add = []v1.Capability{"NET_ADMIN"} }),
			baseline:   `non-default capabilities (container "c" must not include "NET_ADMIN" in securityContext.capabilities.add)`,
			restricted: `unrestricted capabilities (container "c" must not include "NET_ADMIN" in securityContext.capabilities.add)`},
		{name: "default capability added", pod: podWith(func(p *v1.Pod) { container(p).Capabilities.Add = []v1.Capability{"CHOWN"} }),
			restricted: `unrestricted capabilities (container "c" must not include "CHOWN" in securityContext.capabilities.add)`},
		{name: "NET_BIND_SERVICE added", pod: podWith(func(p *v1.Pod) { container(p).Capabilities.Add = []v1.Capability{"NET_BIND_SERVICE"} })},
		{name: "capabilities not dropped", pod: podWith(func(p *v1.Pod) { container(p).Capabilities = nil }),
			restricted: `unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"])`},
		{name: "hostPath volume", pod: podWith(func(p *v1.Pod) {
			p.Spec.Volumes = []v1.Volume{{Name: "h", HostPath: &v1.HostPathVolumeSource{Path: "/etc"}}}
		}), baseline: `hostPath volumes (volume "h")`,
			restricted: `restricted volume types (volume "h" uses restricted volume type "hostPath")`},
		// No standard restricts scheduling constraints.
		{name: "affinity", pod: podWith(func(p *v1.Pod) {
			p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{
				{TopologyKey: v1.LabelHostname}}}}
		})},
		{name: "emptyDir volume", pod: podWith(func(p *v1.Pod) {
			p.Spec.Volumes = []v1.Volume{{Name: "e", EmptyDir: &v1.EmptyDirVolumeSource{}}}
		})},
		{name: "hostPort", pod: podWith(func(p *v1.Pod) {
			p.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
		}), baseline: `hostPort (container "c" uses hostPort 8080)`},
		{name: "AppArmor unconfined", pod: podWith(func(p *v1.Pod) {
			p.Spec.SecurityContext.AppArmorProfile = &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeUnconfined}
		}), baseline: `forbidden AppArmor profile (pod must not set AppArmor profile type to "Unconfined")`},
		{name: "AppArmor runtime default", pod: podWith(func(p *v1.Pod) {
			p.Spec.SecurityContext.AppArmorProfile = &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeRuntimeDefault}
		})},
		{name: "SELinux type", pod: podWith(func(p *v1.Pod) {
			p.Spec.SecurityContext.SELinuxOptions = &v1.SELinuxOptions{Type: "spc_t"}
		}), baseline: `seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t")`},
		{name: "SELinux user", pod: podWith(func(p *v1.Pod) { container(p).SELinuxOptions = &v1.SELinuxOptions{User: "root"} }),
			baseline: `seLinuxOptions (container "c" set forbidden securityContext.seLinuxOptions: user may not be set)`},
		{name: "SELinux container_t", pod: podWith(func(p *v1.Pod) {
			p.Spec.SecurityContext.SELinuxOptions = &v1.SELinuxOptions{Type: "container_t", Level: "s0:c1,c2"}
		})},
		{name: "procMount Unmasked", pod: podWith(func(p *v1.Pod) {
			p.Spec.HostIPC = false
			container(p).ProcMount = ptr(v1.ProcMountUnmasked)
		}), baseline: `procMount (container "c" must not set securityContext.procMount to "Unmasked")`},
		{name: "seccomp Unconfined", pod: podWith(func(p *v1.Pod) {
			p.Spec.SecurityContext.SeccompProfile.Type = v1.SeccompProfileTypeUnconfined
		}), baseline: `seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")`},
		{name: "seccomp Localhost", pod: podWith(func(p *v1.Pod) {
			p.Spec.SecurityContext.SeccompProfile = &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr("p.json")}
		})},
		{name: "seccomp unset", pod: podWith(func(p *v1.Pod) { p.Spec.SecurityContext.SeccompProfile = nil }),
			restricted: `seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`},
		{name: "unsafe sysctl", pod: podWith(func(p *v1.Pod) {
			p.Spec.SecurityContext.Sysctls = []v1.Sysctl{{Name: "kernel.msgmax", Value: "1"}}
		}), baseline: `forbidden sysctls (kernel.msgmax)`},
		{name: "safe sysctl", pod: podWith(func(p *v1.Pod) {
			p.Spec.SecurityContext.Sysctls = []v1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}
		})},
		{name: "privilege escalation", pod: podWith(func(p *v1.Pod) { container(p).AllowPrivilegeEscalation = nil }),
			restricted: `allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false)`},
		{name: "runAsNonRoot false", pod: podWith(func(p *v1.Pod) { p.Spec.SecurityContext.RunAsNonRoot = ptr(false) }),
			restricted: `runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)`},
		{name: "runAsUser 0", pod: podWith(func(p *v1.Pod) { container(p).RunAsUser = ptr(int64(0)) }),
			restricted: `runAsUser=0 (container "c" must not set runAsUser=0)`},
		{name: "runAsGroup 0 (non-root groups are optional in the standard)", pod: podWith(func(p *v1.Pod) {
			p.Spec.SecurityContext.RunAsUser, p.Spec.SecurityContext.RunAsGroup = ptr(int64(1000)), ptr(int64(0))
		})},
		{name: "probe host", pod: podWith(func(p *v1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Host: "127.0.0.1", Port: v1.IntOrString{IntVal: 6443}}}}
		}), baseline: `probe or lifecycle host (container "c" uses probe or lifecycle host "127.0.0.1")`},
		{name: "probe host on an init container", pod: podWith(func(p *v1.Pod) {
			ic := p.Spec.Containers[0]
			ic.Name = "init"
			ic.LivenessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Host: "10.0.0.1", Port: v1.IntOrString{IntVal: 80}}}}
			p.Spec.InitContainers = []v1.Container{ic}
		}), baseline: `probe or lifecycle host (container "init" uses probe or lifecycle host "10.0.0.1")`},
	}
	for _, tt := range tests {
		for _, level := range []string{LevelPrivileged, LevelBaseline, LevelRestricted} {
			t.Run(tt.name+"/"+level, func(t *testing.T) {
				store := newFakeStore(namespace("ns", "pod-security.kubernetes.io/enforce", level))
				a := newTestAdmission(t, Config{Warn: LevelPrivileged, Audit: LevelPrivileged}, store)
				pod := v1.DeepCopy(tt.pod)
				pod.Namespace = "ns"
				_, err := a.Admit(context.Background(), Request{Operation: Create, Resource: "pods", Namespace: "ns", Name: pod.Name, Object: pod})
				var want string
				switch {
				case level == LevelPrivileged:
				case level == LevelRestricted && tt.restricted != "":
					want = tt.restricted
				default:
					want = tt.baseline
				}
				if want == "" {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				se, ok := err.(*v1.StatusError)
				if !ok {
					t.Fatalf("err = %v (%T), want a 403 Status", err, err)
				}
				msg := `pods "p" is forbidden: violates PodSecurity "` + level + `:latest": ` + want
				if se.Status.Code != 403 || se.Status.Reason != v1.ReasonForbidden || se.Status.Message != msg {
					t.Fatalf("status %d %s %q\nwant 403 Forbidden %q", se.Status.Code, se.Status.Reason, se.Status.Message, msg)
				}
				if d := se.Status.Details; d == nil || d.Kind != "pods" || d.Name != "p" {
					t.Errorf("details = %+v, want kind pods, name p", d)
				}
			})
		}
	}
}

// countingStore counts the namespace reads of a Store.
type countingStore struct {
	Store
	mu    sync.Mutex
	reads int
}

func (s *countingStore) Namespace(ctx context.Context, name string) (*v1.Namespace, error) {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	return s.Store.Namespace(ctx, name)
}

// TestPodAdmitReadsNamespaceOnce: a pod's admission reads its namespace
// once, and decides by that namespace's labels (a restricted namespace
// refuses what the default baseline admits).
func TestPodAdmitReadsNamespaceOnce(t *testing.T) {
	for _, tt := range []struct {
		ns      *v1.Namespace
		refused bool
	}{
		{namespace("ns"), false},
		{namespace("ns", enforce, "restricted"), true},
	} {
		store := &countingStore{Store: newFakeStore(tt.ns)}
		a, err := New(Config{}, store, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Admit(context.Background(), Request{Operation: Create, Resource: "pods", Namespace: "ns", Name: "p", Object: plainPod("p")})
		if (err != nil) != tt.refused {
			t.Errorf("labels %v: Admit = %v, refused want %v", tt.ns.Labels, err, tt.refused)
		}
		if store.reads != 1 {
			t.Errorf("labels %v: %d namespace reads, want 1", tt.ns.Labels, store.reads)
		}
	}
}
