package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// kubectlRunner runs kubectl as the cluster's admin.
type kubectlRunner struct {
	bin        string
	kubeconfig string
	home       string
}

// newKubectl writes a kubeconfig holding the admin token for c's first master.
func newKubectl(t *testing.T, c *harness.Cluster) *kubectlRunner {
	t.Helper()
	cfg := c.Config(0)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, cfg.CertificateAuthorityData, 0o600); err != nil {
		t.Fatal(err)
	}
	kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: orch\n  cluster:\n    server: " + cfg.Servers[0] +
		"\n    certificate-authority: " + caFile + "\nusers:\n- name: admin\n  user:\n    token: " + cfg.Token +
		"\ncontexts:\n- name: orch\n  context: {cluster: orch, user: admin, namespace: default}\ncurrent-context: orch\n"
	k := &kubectlRunner{bin: bins.Kubectl, kubeconfig: filepath.Join(dir, "kubeconfig"), home: filepath.Join(dir, "home")}
	if err := os.WriteFile(k.kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// run runs kubectl with stdin and returns its output and exit code.
func (k *kubectlRunner) run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(k.bin, append([]string{"--kubeconfig", k.kubeconfig, "--request-timeout=30s"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+k.home, "KUBECONFIG="+k.kubeconfig, "KUBECTL_EXTERNAL_DIFF=diff -u")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("kubectl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// ok runs kubectl and fails the test unless it succeeds.
func (k *kubectlRunner) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := k.run(t, stdin, args...)
	if code != 0 {
		t.Fatalf("kubectl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// rcManifest is a replication controller with two containers; the first
// exposes ports.
func rcManifest(ports ...string) string {
	var b strings.Builder
	b.WriteString(`apiVersion: v1
kind: ReplicationController
metadata:
  name: web
  namespace: default
spec:
  replicas: 1
  selector: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        command: ["sleep", "3600"]
        ports:
`)
	for _, p := range ports {
		b.WriteString("        - containerPort: " + p + "\n")
	}
	b.WriteString(`      - name: side
        image: busybox:1.36
        command: ["sleep", "3600"]
`)
	return b.String()
}

// Done when (issue 14): kubectl's writes that go beyond create and get
// work against orch: a second apply whose list changed (strategic merge
// patch with $setElementOrder), patch of every type, set image and env,
// diff and --dry-run=server (changing nothing), scale of an RC (PATCH of
// /scale), and the typed clients' protobuf bodies (create namespace,
// create service).
func TestKubectlPatch(t *testing.T) {
	t.Parallel()
	c := startCluster(t, harness.Options{Masters: 1})
	admin := c.Client()
	ctx := ctxT(t, 3*time.Minute)
	k := newKubectl(t, c)
	getRC := func(t *testing.T) *v1.ReplicationController {
		t.Helper()
		var rc v1.ReplicationController
		if err := admin.Get(ctx, "replicationcontrollers", "default", "web", &rc); err != nil {
			t.Fatalf("get rc: %v", err)
		}
		return &rc
	}
	container := func(t *testing.T, rc *v1.ReplicationController, name string) *v1.Container {
		t.Helper()
		for i := range rc.Spec.Template.Spec.Containers {
			if c := &rc.Spec.Template.Spec.Containers[i]; c.Name == name {
				return c
			}
		}
		t.Fatalf("rc has no container %q: %+v", name, rc.Spec.Template.Spec.Containers)
		return nil
	}
	ports := func(c *v1.Container) []int32 {
		var out []int32
		for _, p := range c.Ports {
			out = append(out, p.ContainerPort)
		}
		return out
	}

	t.Run("create namespace (protobuf)", func(t *testing.T) {
		k.ok(t, "", "create", "namespace", "e2e-patch")
		var ns v1.Namespace
		if err := admin.Get(ctx, "namespaces", "", "e2e-patch", &ns); err != nil {
			t.Fatalf("the namespace was not created: %v", err)
		}
	})
	t.Run("create service clusterip (protobuf)", func(t *testing.T) {
		k.ok(t, "", "create", "service", "clusterip", "web", "--tcp=80:8080")
		var svc v1.Service
		if err := admin.Get(ctx, "services", "default", "web", &svc); err != nil {
			t.Fatalf("the service was not created: %v", err)
		}
		if svc.Spec.ClusterIP == "" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.IntValue() != 8080 {
			t.Fatalf("service spec %+v", svc.Spec)
		}
	})
	t.Run("apply twice with a changed ports list", func(t *testing.T) {
		k.ok(t, rcManifest("80", "443"), "apply", "-f", "-")
		k.ok(t, rcManifest("8080", "80"), "apply", "-f", "-")
		rc := getRC(t)
		if got := ports(container(t, rc, "web")); len(got) != 2 || got[0] != 8080 || got[1] != 80 {
			t.Fatalf("ports after the second apply: %v", got)
		}
		if len(rc.Spec.Template.Spec.Containers) != 2 {
			t.Fatalf("containers %+v", rc.Spec.Template.Spec.Containers)
		}
	})
	t.Run("patch strategic", func(t *testing.T) {
		k.ok(t, "", "patch", "rc", "web", "--type=strategic", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:1.35"}]}}}}`)
		rc := getRC(t)
		if container(t, rc, "side").Image != "busybox:1.35" || container(t, rc, "web").Image != "busybox:1.36" {
			t.Fatalf("a name-keyed patch did not merge: %+v", rc.Spec.Template.Spec.Containers)
		}
	})
	t.Run("patch merge", func(t *testing.T) {
		k.ok(t, "", "patch", "rc", "web", "--type=merge", "-p", `{"metadata":{"labels":{"patched":"merge"}}}`)
		if got := getRC(t).Labels["patched"]; got != "merge" {
			t.Fatalf("label %q", got)
		}
	})
	t.Run("patch json", func(t *testing.T) {
		k.ok(t, "", "patch", "rc", "web", "--type=json", "-p", `[{"op":"test","path":"/metadata/labels/patched","value":"merge"},{"op":"replace","path":"/metadata/labels/patched","value":"json"}]`)
		if got := getRC(t).Labels["patched"]; got != "json" {
			t.Fatalf("label %q", got)
		}
		_, _, code := k.run(t, "", "patch", "rc", "web", "--type=json", "-p", `[{"op":"test","path":"/metadata/labels/patched","value":"other"}]`)
		if code == 0 {
			t.Fatalf("a failed test op succeeded")
		}
	})
	t.Run("set image", func(t *testing.T) {
		k.ok(t, "", "set", "image", "rc/web", "web=busybox:1.34")
		rc := getRC(t)
		if container(t, rc, "web").Image != "busybox:1.34" || container(t, rc, "side").Image != "busybox:1.35" {
			t.Fatalf("images %+v", rc.Spec.Template.Spec.Containers)
		}
	})
	t.Run("set env", func(t *testing.T) {
		k.ok(t, "", "set", "env", "rc/web", "-c", "web", "GREETING=hello")
		k.ok(t, "", "set", "env", "rc/web", "-c", "web", "OTHER=1")
		env := container(t, getRC(t), "web").Env
		if len(env) != 2 || env[0].Name != "GREETING" || env[0].Value != "hello" || env[1].Name != "OTHER" {
			t.Fatalf("env %+v", env)
		}
	})
	t.Run("scale rc", func(t *testing.T) {
		k.ok(t, "", "scale", "rc", "web", "--replicas=3")
		if rc := getRC(t); rc.Spec.Replicas == nil || *rc.Spec.Replicas != 3 {
			t.Fatalf("replicas %v", rc.Spec.Replicas)
		}
	})
	t.Run("diff and server dry runs change nothing", func(t *testing.T) {
		before := getRC(t)
		changed := strings.Replace(rcManifest("8080", "80", "9090"), "replicas: 1", "replicas: 5", 1)
		out, errOut, code := k.run(t, changed, "diff", "-f", "-")
		if code != 1 || !strings.Contains(out, "containerPort: 9090") {
			t.Fatalf("kubectl diff: exit %d (want 1: differences)\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		k.ok(t, changed, "apply", "--dry-run=server", "-f", "-")
		pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: dry, namespace: default}\nspec:\n  containers: [{name: c, image: busybox:1.36}]\n"
		if out := k.ok(t, pod, "create", "--dry-run=server", "-f", "-"); !strings.Contains(out, "pod/dry created (server dry run)") {
			t.Errorf("create --dry-run=server said %q", out)
		}
		k.ok(t, "", "delete", "rc", "web", "--dry-run=server")
		k.ok(t, "", "delete", "namespace", "e2e-patch", "--dry-run=server")
		after := getRC(t)
		// The replication manager writes the status meanwhile: compare the spec's generation.
		if after.Generation != before.Generation || *after.Spec.Replicas != *before.Spec.Replicas || after.DeletionTimestamp != nil ||
			len(ports(container(t, after, "web"))) != 2 {
			t.Fatalf("a dry run changed the rc: generation %d→%d replicas %d→%d ports %v", before.Generation, after.Generation,
				*before.Spec.Replicas, *after.Spec.Replicas, ports(container(t, after, "web")))
		}
		var p v1.Pod
		if err := admin.Get(ctx, "pods", "default", "dry", &p); !v1.IsNotFound(err) {
			t.Fatalf("a dry-run create left a pod: %v", err)
		}
		var ns v1.Namespace
		if err := admin.Get(ctx, "namespaces", "", "e2e-patch", &ns); err != nil || ns.DeletionTimestamp != nil || ns.Status.Phase == v1.NamespaceTerminating {
			t.Fatalf("a dry-run delete touched the namespace: %v %+v", err, ns.Status)
		}
	})
	t.Run("drain (cordon patch, protobuf delete of its pod)", func(t *testing.T) {
		if err := admin.Create(ctx, &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "drained"}}); err != nil {
			t.Fatal(err)
		}
		pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: bound, namespace: e2e-patch}\nspec:\n  nodeName: drained\n  containers: [{name: c, image: busybox:1.36}]\n"
		k.ok(t, pod, "create", "-f", "-")
		// No agent runs on the node to confirm a graceful stop: the pod goes at once with grace 0.
		k.ok(t, "", "drain", "drained", "--force", "--grace-period=0", "--timeout=60s")
		var n v1.Node
		if err := admin.Get(ctx, "nodes", "", "drained", &n); err != nil || !n.Spec.Unschedulable {
			t.Fatalf("the node is not cordoned: %v %+v", err, n.Spec)
		}
		var p v1.Pod
		if err := admin.Get(ctx, "pods", "e2e-patch", "bound", &p); !v1.IsNotFound(err) {
			t.Fatalf("drain left the pod: %v", err)
		}
	})
	t.Run("delete (protobuf options)", func(t *testing.T) {
		k.ok(t, "", "delete", "service", "web")
		var svc v1.Service
		if err := admin.Get(ctx, "services", "default", "web", &svc); !v1.IsNotFound(err) {
			t.Fatalf("the service is still there: %v", err)
		}
	})
}
