package e2e

import (
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// envOf returns a running pod's environment (env in the container).
func envOf(t *testing.T, run func(string, ...string) (string, string, error), pod string) map[string]string {
	t.Helper()
	out, stderr, err := run("", "exec", pod, "--", "env")
	if err != nil {
		t.Fatalf("exec env in %s: %v %s", pod, err, stderr)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		m[k] = v
	}
	return m
}

// A service's variables appear in a pod started after it (the kubelet's
// service environment and Docker link variables), not in a pod with
// enableServiceLinks false nor in another namespace's pods; the
// kubernetes variables and HOSTNAME are always there; the pod's own env
// wins over a service's.
func TestServiceEnvironment(t *testing.T) {
	parallel(t)
	c, _ := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	sleeper := func(name, ns string, links *bool, env ...v1.EnvVar) *v1.Pod {
		return &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: ns}, Spec: v1.PodSpec{
			TerminationGracePeriodSeconds: int64p(1), EnableServiceLinks: links,
			Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"}, Env: env}}}}
	}
	createPod(t, cl, sleeper("probe", "default", nil))
	if err := cl.Create(ctxT(t, 5*time.Second), &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "other"}}); err != nil {
		t.Fatal(err)
	}
	redis := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "redis-primary", Namespace: "default"}, Spec: v1.ServiceSpec{
		Selector: map[string]string{"app": "redis"},
		Ports: []v1.ServicePort{{Name: "redis", Port: 6379, TargetPort: intOrStr("redis")},
			{Name: "sentinel", Port: 26379, Protocol: "TCP", TargetPort: intOrStr("sentinel")}}}}
	if err := cl.Create(ctxT(t, 5*time.Second), redis); err != nil {
		t.Fatal(err)
	}
	if err := cl.Get(ctxT(t, 5*time.Second), "services", "default", "redis-primary", redis); err != nil {
		t.Fatal(err)
	}
	ip := redis.Spec.ClusterIP
	// The node's DNS learns services from the same watch as the
	// environment, after it: once the name resolves, new containers get
	// the variables.
	waitRunning(t, cl, "probe")
	waitFor(t, 30*time.Second, "redis-primary in the node's DNS", func() (bool, string) {
		out, stderr, _ := c.Orchctl("", "exec", "probe", "--", "nslookup", "redis-primary.default.svc.cluster.local")
		return strings.Contains(out, ip), out + stderr
	})

	no := false
	createPod(t, cl, sleeper("linked", "default", nil, v1.EnvVar{Name: "REDIS_PRIMARY_SERVICE_PORT_SENTINEL", Value: "mine"}))
	createPod(t, cl, sleeper("unlinked", "default", &no))
	createPod(t, cl, sleeper("elsewhere", "other", nil))
	waitRunning(t, cl, "linked")
	waitRunning(t, cl, "unlinked")
	waitFor(t, 60*time.Second, "elsewhere running", func() (bool, string) {
		var p v1.Pod
		err := cl.Get(ctxT(t, 5*time.Second), "pods", "other", "elsewhere", &p)
		return err == nil && p.Status.Phase == v1.PodRunning, errString(err) + p.Status.Phase
	})

	linked := envOf(t, c.Orchctl, "linked")
	for k, want := range map[string]string{
		"HOSTNAME":                            "linked",
		"REDIS_PRIMARY_SERVICE_HOST":          ip,
		"REDIS_PRIMARY_SERVICE_PORT":          "6379",
		"REDIS_PRIMARY_SERVICE_PORT_REDIS":    "6379",
		"REDIS_PRIMARY_SERVICE_PORT_SENTINEL": "mine",
		"REDIS_PRIMARY_PORT":                  "tcp://" + ip + ":6379",
		"REDIS_PRIMARY_PORT_6379_TCP":         "tcp://" + ip + ":6379",
		"REDIS_PRIMARY_PORT_6379_TCP_PROTO":   "tcp",
		"REDIS_PRIMARY_PORT_6379_TCP_PORT":    "6379",
		"REDIS_PRIMARY_PORT_6379_TCP_ADDR":    ip,
		"REDIS_PRIMARY_PORT_26379_TCP":        "tcp://" + ip + ":26379",
	} {
		if linked[k] != want {
			t.Errorf("linked: %s = %q, want %q", k, linked[k], want)
		}
	}
	for _, k := range []string{"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBERNETES_PORT", "KUBERNETES_SERVICE_PORT_HTTPS"} {
		if linked[k] == "" {
			t.Errorf("linked: %s is not set", k)
		}
	}
	if want := "tcp://" + linked["KUBERNETES_SERVICE_HOST"] + ":" + linked["KUBERNETES_SERVICE_PORT"]; linked["KUBERNETES_PORT"] != want {
		t.Errorf("KUBERNETES_PORT = %q, want %q", linked["KUBERNETES_PORT"], want)
	}
	for name, env := range map[string]map[string]string{"unlinked": envOf(t, c.Orchctl, "unlinked"),
		"elsewhere": envOf(t, func(stdin string, args ...string) (string, string, error) {
			return c.Orchctl(stdin, append([]string{"-n", "other"}, args...)...)
		}, "elsewhere")} {
		for k := range env {
			if strings.HasPrefix(k, "REDIS_PRIMARY_") {
				t.Errorf("%s has %s", name, k)
			}
		}
		if env["KUBERNETES_PORT"] != linked["KUBERNETES_PORT"] || env["HOSTNAME"] != name {
			t.Errorf("%s: KUBERNETES_PORT %q HOSTNAME %q", name, env["KUBERNETES_PORT"], env["HOSTNAME"])
		}
	}
}
