package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

func svc(ns, name, ip string, ports ...v1.ServicePort) *v1.Service {
	return &v1.Service{ObjectMeta: v1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1.ServiceSpec{ClusterIP: ip, Ports: ports}}
}

// resetServices makes the agent follow services, having read services
// (none read yet when nil).
func resetServices(a *Agent, services map[string]*v1.Service) {
	s := &a.serviceEnvState
	s.mu.Lock()
	s.watched, s.synced, s.byNamespace = true, false, nil
	s.mu.Unlock()
	if services != nil {
		s.setServices(services)
	}
}

// The variables of one service, as Kubernetes' envvars.FromServices.
func TestServiceVars(t *testing.T) {
	for _, tc := range []struct {
		name string
		svc  *v1.Service
		want []string
	}{
		{"one unnamed port", svc("team", "redis-primary", "10.96.0.11", v1.ServicePort{Port: 6379, Protocol: "TCP"}), []string{
			"REDIS_PRIMARY_SERVICE_HOST=10.96.0.11", "REDIS_PRIMARY_SERVICE_PORT=6379",
			"REDIS_PRIMARY_PORT=tcp://10.96.0.11:6379", "REDIS_PRIMARY_PORT_6379_TCP=tcp://10.96.0.11:6379",
			"REDIS_PRIMARY_PORT_6379_TCP_PROTO=tcp", "REDIS_PRIMARY_PORT_6379_TCP_PORT=6379", "REDIS_PRIMARY_PORT_6379_TCP_ADDR=10.96.0.11"}},
		{"named ports, udp second", svc("team", "dns", "10.96.0.10",
			v1.ServicePort{Name: "dns-tcp", Port: 53, Protocol: "TCP"}, v1.ServicePort{Name: "dns", Port: 53, Protocol: "UDP"}), []string{
			"DNS_SERVICE_HOST=10.96.0.10", "DNS_SERVICE_PORT=53", "DNS_SERVICE_PORT_DNS_TCP=53", "DNS_SERVICE_PORT_DNS=53",
			"DNS_PORT=tcp://10.96.0.10:53",
			"DNS_PORT_53_TCP=tcp://10.96.0.10:53", "DNS_PORT_53_TCP_PROTO=tcp", "DNS_PORT_53_TCP_PORT=53", "DNS_PORT_53_TCP_ADDR=10.96.0.10",
			"DNS_PORT_53_UDP=udp://10.96.0.10:53", "DNS_PORT_53_UDP_PROTO=udp", "DNS_PORT_53_UDP_PORT=53", "DNS_PORT_53_UDP_ADDR=10.96.0.10"}},
		{"no protocol is tcp", svc("team", "web", "10.96.0.5", v1.ServicePort{Port: 80}), []string{
			"WEB_SERVICE_HOST=10.96.0.5", "WEB_SERVICE_PORT=80", "WEB_PORT=tcp://10.96.0.5:80", "WEB_PORT_80_TCP=tcp://10.96.0.5:80",
			"WEB_PORT_80_TCP_PROTO=tcp", "WEB_PORT_80_TCP_PORT=80", "WEB_PORT_80_TCP_ADDR=10.96.0.5"}},
		{"headless", svc("team", "db", v1.ClusterIPNone), nil},
		{"no cluster IP", svc("team", "db", "", v1.ServicePort{Port: 80}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, kv := range serviceVars(tc.svc) {
				got = append(got, kv[0]+"="+kv[1])
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("serviceVars =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// Which services a container sees, as the kubelet's getServiceEnvVarMap,
// and where its env and HOSTNAME stand.
func TestContainerServiceEnv(t *testing.T) {
	a := newConfigMapAgent(t, &configMapServer{}, time.Now)
	w := newPodWorker(a, "pod-uid", nil)
	https := v1.ServicePort{Name: "https", Port: 443, Protocol: "TCP"}
	web := svc("team", "web", "10.96.0.5", v1.ServicePort{Port: 80, Protocol: "TCP"})
	all := map[string]*v1.Service{
		"team/web":         web,
		"team/headless":    svc("team", "headless", v1.ClusterIPNone),
		"other/db":         svc("other", "db", "10.96.0.7", v1.ServicePort{Port: 5432, Protocol: "TCP"}),
		"default/frontend": svc("default", "frontend", "10.96.0.9", v1.ServicePort{Port: 80, Protocol: "TCP"}),
	}
	withKubernetes := map[string]*v1.Service{"default/kubernetes": svc("default", "kubernetes", "10.96.0.1", https)}
	for k, v := range all {
		withKubernetes[k] = v
	}
	no := false
	nodeHostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	q := resource.MustParse
	c := &v1.Container{Name: "app", Resources: v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceMemory: q("64Mi")}},
		Env: []v1.EnvVar{
			{Name: "WEB_SERVICE_PORT", Value: "8080"},
			{Name: "MY_MEM_LIMIT", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.memory"}}},
			{Name: "MY_SA", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.serviceAccountName"}}},
		}}
	names := func(env []string) map[string]string {
		m := map[string]string{}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		services map[string]*v1.Service // nil: not read yet
		links    *bool
		hostNet  bool
		want     map[string]string // "" = absent
	}{
		{"links of the namespace, the configured API", all, nil, false, map[string]string{
			"HOSTNAME": "web-0", "WEB_SERVICE_HOST": "10.96.0.5", "WEB_SERVICE_PORT": "8080", "WEB_PORT": "tcp://10.96.0.5:80",
			"DB_SERVICE_HOST": "", "FRONTEND_SERVICE_HOST": "", "HEADLESS_SERVICE_HOST": "",
			"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBERNETES_PORT": "tcp://10.96.0.1:443",
			"MY_MEM_LIMIT": "67108864", "MY_SA": "builder"}},
		{"enableServiceLinks false keeps kubernetes only", all, &no, false, map[string]string{
			"WEB_SERVICE_HOST": "", "WEB_PORT": "", "WEB_SERVICE_PORT": "8080",
			"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1"}},
		{"the kubernetes Service wins over the configured address", withKubernetes, &no, false, map[string]string{
			"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBERNETES_SERVICE_PORT_HTTPS": "443"}},
		{"a host network pod's HOSTNAME is the node's", all, nil, true, map[string]string{"HOSTNAME": nodeHostname}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resetServices(a, tc.services)
			pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web-0", Namespace: "team", UID: "pod-uid"},
				Spec: v1.PodSpec{EnableServiceLinks: tc.links, HostNetwork: tc.hostNet, ServiceAccountName: "builder", Containers: []v1.Container{*c}}}
			env, err := w.containerEnv(context.Background(), pod, c)
			if err != nil {
				t.Fatal(err)
			}
			got := names(env)
			for k, want := range tc.want {
				if got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
		})
	}
	// The configured API address stands for the kubernetes Service
	// (apart from the host, which the test config sets to 10.96.0.1).
	a.cfg.KubernetesServiceHost = "192.0.2.1"
	resetServices(a, withKubernetes)
	env, err := w.containerEnv(context.Background(), &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p", Namespace: "team"}}, &v1.Container{})
	if err != nil || names(env)["KUBERNETES_SERVICE_HOST"] != "10.96.0.1" {
		t.Errorf("with the kubernetes Service: %q %v", env, err)
	}
	a.serviceEnvState.setServices(all)
	env, err = w.containerEnv(context.Background(), &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p", Namespace: "team"}}, &v1.Container{})
	if err != nil || names(env)["KUBERNETES_PORT"] != "tcp://192.0.2.1:443" {
		t.Errorf("without the kubernetes Service: %q %v", env, err)
	}
	// Before the services are read, no container starts.
	resetServices(a, nil)
	if _, err := w.containerEnv(context.Background(), &v1.Pod{}, &v1.Container{}); !errors.Is(err, errServicesNotSynced) || !configMissing(err) {
		t.Errorf("before the services are read: %v", err)
	}
}

// The services an agent read are saved; an agent restarted while no
// master answers builds containers' environments from them instead of
// waiting, and services read afterwards win over the saved ones.
func TestServiceEnvSavedServices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "services.json")
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "team"}}
	web := svc("team", "web", "10.96.0.5", v1.ServicePort{Name: "http", Port: 80, Protocol: "TCP"})
	before := &Agent{}
	before.serviceEnvState.watched = true
	before.serviceEnvState.setServices(map[string]*v1.Service{"team/web": web, "team/headless": svc("team", "headless", v1.ClusterIPNone)})
	if err := before.serviceEnvState.save(path); err != nil {
		t.Fatal(err)
	}
	want, err := before.serviceEnv(pod)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved services: %v %v, want mode 0600", fi, err)
	}

	restarted := &Agent{}
	restarted.serviceEnvState.watched = true
	if _, err := restarted.serviceEnv(pod); !errors.Is(err, errServicesNotSynced) {
		t.Fatalf("before any read: %v, want errServicesNotSynced", err)
	}
	if err := restarted.serviceEnvState.load(path); err != nil {
		t.Fatal(err)
	}
	got, err := restarted.serviceEnv(pod)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) || len(got) == 0 {
		t.Fatalf("from the saved services: %v, %v; want %v", got, err, want)
	}

	// Read from the masters first: the saved copy does not replace them.
	fresh := &Agent{}
	fresh.serviceEnvState.watched = true
	fresh.serviceEnvState.setServices(map[string]*v1.Service{})
	if err := fresh.serviceEnvState.load(path); err != nil {
		t.Fatal(err)
	}
	if got, err := fresh.serviceEnv(pod); err != nil || len(got) != 0 {
		t.Fatalf("services read, then the saved loaded: %v, %v; want none", got, err)
	}
	// No saved file: still waiting, no error.
	if err := (&serviceEnvState{}).load(filepath.Join(t.TempDir(), "none.json")); err != nil {
		t.Fatalf("load without a file: %v", err)
	}
}
