package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orch.io/orch/pki"
)

// orchctl is kubectl's command tree with orch's client config: issue 14's
// verbs work through it against three masters while the first one listed in
// admin.conf is down (orchctl fails over to the next), and the
// admin.kubeconfig that `orchd pki init` wrote works with kubectl's
// --kubeconfig and --context.
func TestOrchctlKubectlVerbsFailOver(t *testing.T) {
	parallel(t)
	c, _ := nodeCluster(t, 1, false, nil)
	c.Stop(0) // the first server of admin.conf
	c.WaitLeader(15 * time.Second)

	orchctl := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := c.Orchctl(stdin, args...)
		if err != nil {
			t.Fatalf("orchctl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}
	const manifest = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: c
    image: busybox:1.35
    command: ["sh", "-c", "echo started-web; while true; do sleep 1; done"]
`
	if out := orchctl(manifest, "apply", "-f", "-"); out != "pod/web created\n" {
		t.Fatalf("apply: %q", out)
	}
	waitFor(t, 60*time.Second, "web running (orchctl get)", func() (bool, string) {
		out, errOut, err := c.Orchctl("", "get", "pod", "web", "-o", "jsonpath={.status.phase}")
		return err == nil && out == "Running", out + errOut
	})
	if out := orchctl("", "get", "pods"); !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "web") || !strings.Contains(out, "Running") {
		t.Fatalf("get pods:\n%s", out)
	}
	if out := orchctl("", "patch", "pod", "web", "-p", `{"metadata":{"labels":{"patched":"yes"}}}`); out != "pod/web patched\n" {
		t.Fatalf("patch: %q", out)
	}
	if out := orchctl("", "get", "pod", "web", "-o", "jsonpath={.metadata.labels.patched}"); out != "yes" {
		t.Fatalf("label after patch: %q", out)
	}
	if out := orchctl("", "exec", "web", "--", "echo", "hi-from-exec"); out != "hi-from-exec\n" {
		t.Fatalf("exec: %q", out)
	}
	_, errOut, err := c.Orchctl("", "exec", "web", "--", "sh", "-c", "exit 3")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("exec exit 3: %v %s", err, errOut)
	}
	waitFor(t, 30*time.Second, "web's log (orchctl logs)", func() (bool, string) {
		out, errOut, err := c.Orchctl("", "logs", "web")
		return err == nil && out == "started-web\n", out + errOut
	})
	// orch's own commands sit beside kubectl's.
	if out := orchctl("", "cluster", "members"); !strings.Contains(out, c.Masters[1].Name) {
		t.Fatalf("cluster members:\n%s", out)
	}
	// A kubeconfig has one server per cluster: admin.kubeconfig's context
	// orch-2 is the second master.
	kc := filepath.Join(c.PKIDir, pki.AdminKubeconfig)
	if out := orchctl("", "--kubeconfig", kc, "--context", "orch-2", "get", "pod", "web", "-o", "name"); out != "pod/web\n" {
		t.Fatalf("get with admin.kubeconfig: %q", out)
	}
	if out := orchctl("", "delete", "pod", "web", "--wait=false"); !strings.HasPrefix(out, `pod "web" deleted`) {
		t.Fatalf("delete: %q", out)
	}
}
