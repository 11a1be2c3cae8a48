package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// kubectlEnv runs kubectl as the cluster's admin, with its own HOME (so no
// discovery or OpenAPI cache is shared between runs).
type kubectlEnv struct {
	t          *testing.T
	bin        string
	kubeconfig string
	home       string
}

// newKubectlEnv writes a kubeconfig for the admin of c.
func newKubectlEnv(t *testing.T, c *harness.Cluster) *kubectlEnv {
	t.Helper()
	cfg := c.Config()
	dir := t.TempDir()
	user := ""
	switch {
	case cfg.Token != "":
		user = "    token: " + cfg.Token + "\n"
	case len(cfg.ClientCertificateData) > 0:
		user = "    client-certificate-data: " + base64.StdEncoding.EncodeToString(cfg.ClientCertificateData) + "\n" +
			"    client-key-data: " + base64.StdEncoding.EncodeToString(cfg.ClientKeyData) + "\n"
	case cfg.ClientCertificate != "":
		user = "    client-certificate: " + cfg.ClientCertificate + "\n    client-key: " + cfg.ClientKey + "\n"
	default:
		t.Fatal("the admin config has no credential kubectl can use")
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: orch
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
%scontexts:
- name: orch
  context: {cluster: orch, user: admin, namespace: default}
current-context: orch
`, cfg.Servers[0], base64.StdEncoding.EncodeToString(cfg.CertificateAuthorityData), user)
	e := &kubectlEnv{t: t, bin: bins.Kubectl, kubeconfig: filepath.Join(dir, "kubeconfig"), home: filepath.Join(dir, "home")}
	if err := os.WriteFile(e.kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs kubectl with extra environment variables and returns its
// combined output. It never passes --validate=false.
func (e *kubectlEnv) run(env []string, args ...string) (string, error) {
	e.t.Helper()
	for _, a := range args {
		if strings.HasPrefix(a, "--validate=false") {
			e.t.Fatalf("the test must not turn validation off: %v", args)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, append([]string{"--kubeconfig", e.kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+e.home, "KUBECONFIG="+e.kubeconfig, "KUBECTL_INTERACTIVE_DELETE=false")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("kubectl %v did not finish within 60s (%w)", args, ctx.Err())
	}
	return string(out), err
}

// manifest writes a file into a temporary directory and returns its path.
func manifest(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// workloadManifest is a pod, a service, a replication controller and a
// role (a kind of another group), all named name.
func workloadManifest(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  labels: {app: %[1]s}
spec:
  containers:
  - name: web
    image: busybox
    command: ["sleep", "3600"]
    ports:
    - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  selector: {app: %[1]s}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ReplicationController
metadata:
  name: %[1]s
spec:
  replicas: 0
  selector: {rc: %[1]s}
  template:
    metadata:
      labels: {rc: %[1]s}
    spec:
      containers:
      - name: web
        image: busybox
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: %[1]s
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
`, name)
}

// TestKubectlOpenAPI checks that kubectl works against orch with its
// default client-side behaviour, which reads /openapi/v3 (and /openapi/v2):
// create and apply validate without --validate=false, strict validation
// names an unknown field, explain prints orch's field docs, and edit
// finishes.
func TestKubectlOpenAPI(t *testing.T) {
	t.Parallel()
	c := startCluster(t, harness.Options{})
	c.WaitLeader(20 * time.Second)
	cl := c.Client()
	k := newKubectlEnv(t, c)

	// create -f of a pod, a service and an RC.
	if out, err := k.run(nil, "create", "-f", manifest(t, "a.yaml", workloadManifest("a"))); err != nil {
		t.Fatalf("kubectl create -f: %v\n%s", err, out)
	}
	// apply -f of new ones, then again with a changed label.
	applied := manifest(t, "b.yaml", workloadManifest("b"))
	if out, err := k.run(nil, "apply", "-f", applied); err != nil {
		t.Fatalf("kubectl apply -f: %v\n%s", err, out)
	}
	for _, name := range []string{"a", "b"} {
		for res, obj := range map[string]v1.Object{"pods": &v1.Pod{}, "services": &v1.Service{},
			"replicationcontrollers": &v1.ReplicationController{}, "roles": &v1.Role{}} {
			if err := cl.Get(ctxT(t, 5*time.Second), res, "default", name, obj); err != nil {
				t.Errorf("%s/%s after kubectl create/apply: %v", res, name, err)
			}
		}
	}
	if out, err := k.run(nil, "apply", "-f", manifest(t, "b2.yaml",
		strings.Replace(workloadManifest("b"), "labels: {app: b}", "labels: {app: b, tier: web}", 1))); err != nil {
		t.Fatalf("second kubectl apply -f: %v\n%s", err, out)
	}
	var pod v1.Pod
	if err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", "b", &pod); err != nil || pod.Labels["tier"] != "web" {
		t.Errorf("pod b after the second apply: labels %v, err %v; want tier=web", pod.Labels, err)
	}

	// An unknown field is refused, named, and nothing is created.
	bad := strings.Replace(workloadManifest("c"), "    image: busybox\n    command:", "    image: busybox\n    imagePullPolicyy: Always\n    command:", 1)
	out, err := k.run(nil, "apply", "--validate=strict", "-f", manifest(t, "bad.yaml", bad))
	if err == nil || !strings.Contains(out, `unknown field "spec.containers[0].imagePullPolicyy"`) {
		t.Errorf("kubectl apply --validate=strict of an unknown field: err %v, output %q; want a failure naming imagePullPolicyy", err, out)
	}
	if err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", "c", &v1.Pod{}); err == nil {
		t.Errorf("pod c with an unknown field was created")
	}

	// explain prints the descriptions of orch's Go types.
	out, err = k.run(nil, "explain", "pod.spec.containers")
	if err != nil {
		t.Fatalf("kubectl explain pod.spec.containers: %v\n%s", err, out)
	}
	for _, want := range []string{"KIND:       Pod", "FIELD: containers <[]Container>", "Container is one process tree of a pod.",
		"image\t<string>", "name\t<string> -required-"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl explain pod.spec.containers lacks %q:\n%s", want, out)
		}
	}
	out, err = k.run(nil, "explain", "pod.spec.containers.image")
	if err != nil || !strings.Contains(out, "The container image to run") {
		t.Errorf("kubectl explain pod.spec.containers.image: %v\n%s", err, out)
	}

	// explain from the v2 document as well.
	out, err = k.run(nil, "explain", "pod.spec.containers.image", "--output=plaintext-openapiv2")
	if err != nil || !strings.Contains(out, "The container image to run") {
		t.Errorf("kubectl explain --output=plaintext-openapiv2: %v\n%s", err, out)
	}
	out, err = k.run(nil, "explain", "clusterrole.rules.verbs")
	if err != nil || !strings.Contains(out, "GROUP:      rbac.authorization.k8s.io") {
		t.Errorf("kubectl explain clusterrole.rules.verbs: %v\n%s", err, out)
	}

	// edit with an editor that changes a label finishes and saves it.
	editor := manifest(t, "editor.sh", "#!/bin/sh\nsed -i 's/app: a$/app: edited/' \"$1\"\n")
	if err := os.Chmod(editor, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := k.run([]string{"EDITOR=" + editor, "KUBE_EDITOR=" + editor}, "edit", "pod/a"); err != nil {
		t.Fatalf("kubectl edit pod/a: %v\n%s", err, out)
	}
	if err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", "a", &pod); err != nil || pod.Labels["app"] != "edited" {
		t.Errorf("pod a after kubectl edit: labels %v, err %v; want app=edited", pod.Labels, err)
	}
}
