package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// podLogs returns the logs of the pod's only container.
func podLogs(t *testing.T, run func(string, ...string) (string, string, error), name string) string {
	t.Helper()
	out, stderr, err := run("", "logs", name)
	if err != nil {
		t.Fatalf("logs %s: %v %s", name, err, stderr)
	}
	return out
}

// Done when 3 of issue 12: inside a default pod the RuntimeDefault seccomp
// filter is on and unprivileged user namespaces are refused; runAsUser and
// readOnlyRootFilesystem hold; capabilities drop ALL leaves none; fsGroup
// owns the emptyDir; runAsNonRoot on a root image is
// CreateContainerConfigError; what the nodes cannot honour is a 422.
func TestSecurityContext(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	script := func(lines ...string) []string { return []string{"sh", "-c", strings.Join(lines, "; ")} }
	pods := []struct {
		name string
		pod  v1.PodSpec
		want []string // lines the container prints
	}{
		{"default", v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: script(
			"grep Seccomp: /proc/self/status",
			"if unshare -Urm true 2>/dev/null; then echo unshare=allowed; else echo unshare=refused; fi",
			"id -u",
			"exec sleep 100000")}}},
			[]string{"Seccomp:\t2", "unshare=refused", "0"}},
		{"user1000", v1.PodSpec{RestartPolicy: v1.RestartNever, Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
			SecurityContext: &v1.SecurityContext{RunAsUser: new(int64(1000)), ReadOnlyRootFilesystem: new(true)},
			Command:         script("id -u", "if touch /written 2>/dev/null; then echo rootfs=writable; else echo rootfs=read-only; fi")}}},
			[]string{"1000", "rootfs=read-only"}},
		{"nocaps", v1.PodSpec{RestartPolicy: v1.RestartNever, Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
			SecurityContext: &v1.SecurityContext{Capabilities: &v1.Capabilities{Drop: []v1.Capability{"ALL"}}},
			Command:         script("grep CapEff: /proc/self/status", "if chown 1:1 /tmp 2>/dev/null; then echo chown=allowed; else echo chown=refused; fi")}}},
			[]string{"CapEff:\t0000000000000000", "chown=refused"}},
		{"fsgroup", v1.PodSpec{RestartPolicy: v1.RestartNever,
			SecurityContext: &v1.PodSecurityContext{RunAsUser: new(int64(1000)), RunAsGroup: new(int64(3000)), FSGroup: new(int64(2000))},
			Volumes:         []v1.Volume{{Name: "data", EmptyDir: &v1.EmptyDirVolumeSource{}}},
			Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
				VolumeMounts: []v1.VolumeMount{{Name: "data", MountPath: "/data"}},
				Command:      script("for g in $(id -G); do echo group $g; done | sort -u", "touch /data/f", "stat -c 'file group %g' /data/f")}}},
			[]string{"group 2000", "group 3000", "file group 2000"}},
	}
	for _, p := range pods {
		createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: p.name}, Spec: p.pod})
	}
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "nonroot"}, Spec: v1.PodSpec{
		SecurityContext: &v1.PodSecurityContext{RunAsNonRoot: new(true)},
		Containers:      []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"}}}}})

	for _, p := range pods {
		waitFor(t, 90*time.Second, p.name+" printed its checks", func() (bool, string) {
			cs := containerStatus(getPod(t, cl, p.name), "c")
			if cs == nil || (cs.State.Running == nil && cs.State.Terminated == nil) {
				return false, fmt.Sprintf("%+v", cs)
			}
			out := podLogs(t, c.Orchctl, p.name)
			return strings.Count(out, "\n") >= len(p.want), out
		})
		got := strings.Split(strings.TrimRight(podLogs(t, c.Orchctl, p.name), "\n"), "\n")
		if strings.Join(got, "|") != strings.Join(p.want, "|") {
			t.Errorf("pod %s printed %q, want %q", p.name, got, p.want)
		}
	}

	// The node's own view of the default pod's process agrees.
	cs := containerStatus(getPod(t, cl, "default"), "c")
	tasks, err := nodes[0].Tasks()
	if err != nil || cs == nil || tasks[containerID(cs)] == 0 {
		t.Fatalf("no task for the default pod: %v %v %+v", tasks, err, cs)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tasks[containerID(cs)]))
	if err != nil || !strings.Contains(string(status), "\nSeccomp:\t2\n") {
		t.Errorf("the default pod's process on the host: %v\n%s", err, status)
	}

	waitFor(t, 60*time.Second, "nonroot refused", func() (bool, string) {
		p := getPod(t, cl, "nonroot")
		cs := containerStatus(p, "c")
		if cs == nil || cs.State.Waiting == nil || cs.State.Waiting.Reason != "CreateContainerConfigError" {
			return false, fmt.Sprintf("%+v", cs)
		}
		want := fmt.Sprintf("container has runAsNonRoot and image will run as root (pod: %q, container: c)",
			"nonroot_default("+string(p.UID)+")")
		if cs.State.Waiting.Message != want || p.Status.Phase != v1.PodPending || cs.ContainerID != "" {
			t.Fatalf("nonroot: phase %s, status %+v; want the message %q", p.Status.Phase, cs, want)
		}
		return true, ""
	})

	for _, tc := range []struct {
		name  string
		spec  v1.PodSpec
		field string
	}{
		{"apparmor", v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
			SecurityContext: &v1.SecurityContext{AppArmorProfile: &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeRuntimeDefault}}}}},
			"spec.containers[0].securityContext.appArmorProfile.type"},
		{"unsafe-sysctl", v1.PodSpec{SecurityContext: &v1.PodSecurityContext{Sysctls: []v1.Sysctl{{Name: "kernel.msgmax", Value: "1"}}},
			Containers: []v1.Container{{Name: "c", Image: "busybox:1.35"}}}, "spec.securityContext.sysctls[0].name"},
		{"unmasked-proc", v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
			SecurityContext: &v1.SecurityContext{ProcMount: new(v1.ProcMountUnmasked)}}}},
			"spec.containers[0].securityContext.procMount"},
	} {
		err := cl.Create(ctxT(t, 5*time.Second), &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: tc.name, Namespace: "default"}, Spec: tc.spec})
		if v1.CodeOf(err) != 422 || !strings.Contains(fmt.Sprint(err), tc.field) {
			t.Errorf("%s: got %v, want 422 naming %s", tc.name, err, tc.field)
		}
	}
}
