package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// ephemeralStatus is the named ephemeral container's status, or nil.
func ephemeralStatus(p *v1.Pod, name string) *v1.ContainerStatus {
	for i := range p.Status.EphemeralContainerStatuses {
		if p.Status.EphemeralContainerStatuses[i].Name == name {
			return &p.Status.EphemeralContainerStatuses[i]
		}
	}
	return nil
}

// Issue 14, kubectl debug, with the built kubectl on three masters and a
// real node: an ephemeral container in a running pod that sees its
// target's processes (ps through logs, attach and exec); Pod Security
// checking ephemeral containers; a node debugging pod reading the node's
// files under /host; and a copy of a pod with a shared process namespace.
func TestKubectlDebug(t *testing.T) {
	parallel(t)
	c, _ := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	kc := c.Kubeconfig()
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "target"}, Spec: v1.PodSpec{
		Containers: []v1.Container{{Name: "app", Image: "busybox:1.35", Command: []string{"sleep", "100001"}}}}})
	waitFor(t, 60*time.Second, "target running", func() (bool, string) {
		p := getPod(t, cl, "target")
		cs := containerStatus(p, "app")
		return cs != nil && cs.State.Running != nil, p.Status.Phase
	})

	// kubectl's default (general) profile adds SYS_PTRACE, which the
	// default namespace's baseline level refuses, as in Kubernetes.
	_, errOut, err := c.Kubectl("debug", "target", "--image=busybox:1.35", "--target=app", "-c", "refused", "--", "ps")
	if err == nil || !strings.Contains(errOut, "violates PodSecurity") || !strings.Contains(errOut, "SYS_PTRACE") {
		t.Fatalf("debug with the general profile in a baseline namespace: err %v, stderr %q", err, errOut)
	}
	if p := getPod(t, cl, "target"); len(p.Spec.EphemeralContainers) != 0 {
		t.Fatalf("a refused debug added %+v", p.Spec.EphemeralContainers)
	}

	t.Run("ephemeral container with --target", func(t *testing.T) {
		// ps, read back with kubectl logs -c.
		if out, errOut, err := c.Kubectl("debug", "target", "--image=busybox:1.35", "--target=app", "--profile=baseline",
			"-c", "debugger-ps", "--", "sh", "-c", "ps"); err != nil {
			t.Fatalf("kubectl debug: %v\n%s%s", err, out, errOut)
		}
		waitFor(t, 60*time.Second, "debugger-ps terminated", func() (bool, string) {
			p := getPod(t, cl, "target")
			cs := ephemeralStatus(p, "debugger-ps")
			if cs == nil {
				return false, "no status"
			}
			return cs.State.Terminated != nil, fmt.Sprintf("%+v", cs.State)
		})
		p := getPod(t, cl, "target")
		if cs := ephemeralStatus(p, "debugger-ps"); cs.State.Terminated.ExitCode != 0 || cs.RestartCount != 0 || cs.Ready {
			t.Fatalf("debugger-ps status %+v", cs)
		}
		if ec := p.Spec.EphemeralContainers; len(ec) != 1 || ec[0].TargetContainerName != "app" {
			t.Fatalf("ephemeral containers %+v", ec)
		}
		out, errOut, err := c.Kubectl("logs", "target", "-c", "debugger-ps")
		if err != nil || !strings.Contains(out, "sleep 100001") {
			t.Fatalf("ps in the target's namespace did not show its sleep: %v\n%s%s", err, out, errOut)
		}

		// -i: kubectl waits for the container and attaches to its stdin.
		out, errOut, code := newKubectl(t, kc).run(t, "ps\nexit\n", "debug", "-i", "target", "--image=busybox:1.35", "--target=app",
			"--profile=baseline", "-c", "debugger-sh", "--", "sh")
		if code != 0 || !strings.Contains(out, "sleep 100001") {
			t.Fatalf("kubectl debug -i: code %d\n%s%s", code, out, errOut)
		}

		// exec into a running ephemeral container.
		if out, errOut, err := c.Kubectl("debug", "target", "--image=busybox:1.35", "--target=app", "--profile=baseline",
			"-c", "debugger-sleep", "--", "sleep", "100002"); err != nil {
			t.Fatalf("kubectl debug: %v\n%s%s", err, out, errOut)
		}
		waitFor(t, 60*time.Second, "debugger-sleep running", func() (bool, string) {
			cs := ephemeralStatus(getPod(t, cl, "target"), "debugger-sleep")
			return cs != nil && cs.State.Running != nil, fmt.Sprintf("%+v", cs)
		})
		out, errOut, err = c.Kubectl("exec", "target", "-c", "debugger-sleep", "--", "ps")
		if err != nil || !strings.Contains(out, "sleep 100001") || !strings.Contains(out, "sleep 100002") {
			t.Fatalf("exec ps in the ephemeral container: %v\n%s%s", err, out, errOut)
		}
		if p := getPod(t, cl, "target"); len(p.Spec.EphemeralContainers) != 3 || p.Status.Phase != v1.PodRunning {
			t.Fatalf("target after three debug containers: %d ephemeral, phase %s", len(p.Spec.EphemeralContainers), p.Status.Phase)
		}
	})

	t.Run("node", func(t *testing.T) {
		// The node agent shares the test's filesystem: a file written
		// here is on the node's / and so under the debug pod's /host.
		file := filepath.Join(t.TempDir(), "marker")
		token := fmt.Sprintf("node-debug-%d", time.Now().UnixNano())
		if err := os.WriteFile(file, []byte(token+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// hostPID, hostNetwork and a hostPath: baseline refuses the pod.
		_, errOut, err := c.Kubectl("debug", "node/node-1", "--image=busybox:1.35", "--", "true")
		if err == nil || !strings.Contains(errOut, "violates PodSecurity") {
			t.Fatalf("node debug in a baseline namespace: err %v, stderr %q", err, errOut)
		}
		if out, errOut, err := c.Kubectl("create", "namespace", "node-debug"); err != nil {
			t.Fatalf("create namespace: %v\n%s%s", err, out, errOut)
		}
		allowPrivilegedPods(t, cl, "node-debug")
		// The shell reads a line first, so kubectl is attached before cat writes.
		out, errOut, code := newKubectl(t, kc).run(t, "go\n", "debug", "-n", "node-debug", "-i", "node/node-1", "--image=busybox:1.35",
			"--", "sh", "-c", "read x; cat /host"+file)
		if code != 0 || !strings.Contains(out, token) {
			t.Fatalf("kubectl debug node -i: code %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("copy with shared processes", func(t *testing.T) {
		if out, errOut, err := c.Kubectl("debug", "target", "--copy-to=target-copy", "--share-processes", "--profile=baseline",
			"--image=busybox:1.35", "-c", "debugger", "--", "sh", "-c", "ps; exec sleep 100003"); err != nil {
			t.Fatalf("kubectl debug --copy-to: %v\n%s%s", err, out, errOut)
		}
		p := getPod(t, cl, "target-copy")
		if p.Spec.ShareProcessNamespace == nil || !*p.Spec.ShareProcessNamespace || len(p.Spec.Containers) != 2 {
			t.Fatalf("the copy's spec: shareProcessNamespace %v, %d containers", p.Spec.ShareProcessNamespace, len(p.Spec.Containers))
		}
		var out string
		waitFor(t, 60*time.Second, "the debugger's ps", func() (bool, string) {
			o, errOut, err := c.Kubectl("logs", "target-copy", "-c", "debugger")
			out = o
			return err == nil && strings.Contains(o, "sleep 100001"), o + errOut
		})
		// The pod's first container is PID 1 of the shared namespace.
		first := ""
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == "1" {
				first = l
			}
		}
		if !strings.Contains(first, "sleep 100001") {
			t.Fatalf("PID 1 of the copy is %q, want the app's sleep; ps:\n%s", first, out)
		}
		// The app container sees the debugger too.
		out, errOut, err := c.Kubectl("exec", "target-copy", "-c", "app", "--", "ps")
		if err != nil || !strings.Contains(out, "sleep 100003") {
			t.Fatalf("ps in the app container of the copy: %v\n%s%s", err, out, errOut)
		}
	})
}
