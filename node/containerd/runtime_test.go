package containerd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"

	"orch.io/orch/node"
	"orch.io/orch/node/ociimage"
)

func TestEnsureImagePolicies(t *testing.T) {
	_, rt := StartTestContainerd(t)

	present, err := rt.EnsureImage(testCtx(t, 10*time.Second), ociimage.BusyboxImage, PullNever, nil)
	if err != nil {
		t.Fatalf("Never, present: %v", err)
	}
	if present.Name != ociimage.BusyboxImage || !strings.HasPrefix(present.Digest, "sha256:") {
		t.Fatalf("Never, present: %+v", present)
	}
	short, err := rt.EnsureImage(testCtx(t, 10*time.Second), "busybox:1.35", PullIfNotPresent, nil)
	if err != nil {
		t.Fatalf("IfNotPresent, present, short name: %v", err)
	}
	if short != present {
		t.Fatalf("IfNotPresent = %+v, Never = %+v", short, present)
	}
	img, err := rt.client.GetImage(rt.ns(testCtx(t, 10*time.Second)), ociimage.BusyboxImage)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := img.IsUnpacked(rt.ns(testCtx(t, 10*time.Second)), rt.cfg.Snapshotter); err != nil || !ok {
		t.Fatalf("imported image unpacked = %v, %v", ok, err)
	}

	_, err = rt.EnsureImage(testCtx(t, 10*time.Second), "example.invalid/missing:1", PullNever, nil)
	if err == nil || !strings.Contains(err.Error(), "is not present on the node and imagePullPolicy is Never") {
		t.Fatalf("Never, missing: %v", err)
	}

	start := time.Now()
	_, err = rt.EnsureImage(testCtx(t, 60*time.Second), ociimage.BusyboxImage, PullAlways, nil)
	if err == nil {
		t.Fatal("Always without a registry: no error")
	}
	t.Logf("Always without a registry failed after %v: %v", time.Since(start).Round(time.Millisecond), err)

	if _, err := rt.EnsureImage(testCtx(t, 10*time.Second), ociimage.BusyboxImage, "Sometimes", nil); err == nil {
		t.Fatal("unknown policy: no error")
	}
	if _, err := rt.EnsureImage(testCtx(t, 10*time.Second), "Not A Ref", PullNever, nil); err == nil {
		t.Fatal("bad reference: no error")
	}
}

func TestContainerLifecycle(t *testing.T) {
	_, rt := StartTestContainerd(t)
	ctx := testCtx(t, 2*time.Minute)

	hostnameFile := filepath.Join(t.TempDir(), "hostname")
	if err := os.WriteFile(hostnameFile, []byte("pod-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := busyboxSpec(t, "uid-life", "main", "sh", "-c", "echo hello; echo err >&2; sleep 1000")
	spec.Attempt = 2
	spec.Env = []string{"FOO=bar"}
	spec.WorkingDir = "/tmp"
	spec.Mounts = []node.Mount{{Source: hostnameFile, Destination: "/etc/hostname", ReadOnly: true}}
	spec.Resources = node.Resources{MemoryLimit: 64 << 20, CPUShares: 512, CPUQuota: 50000, PidsLimit: 100}

	start := time.Now()
	id, err := rt.StartContainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("StartContainer took %v (id %s)", time.Since(start).Round(time.Millisecond), id)
	if !strings.HasPrefix(id, "pod-uid-life_main_2_") {
		t.Errorf("container id %q", id)
	}

	eventually(t, 10*time.Second, "log file has both streams", func() (bool, string) {
		b, _ := os.ReadFile(spec.LogPath)
		return strings.Contains(string(b), "hello\n") && strings.Contains(string(b), "err\n"), string(b)
	})

	c := waitRunning(t, rt, id)
	wantLabels := map[string]string{
		node.LabelPodUID: "uid-life", node.LabelPodNamespace: "default", node.LabelPodName: "pod-uid-life",
		node.LabelContainer: "main", node.LabelAttempt: "2", node.LabelSpecHash: "hash-main",
		LabelLogPath: spec.LogPath,
	}
	for k, v := range wantLabels {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	if c.Image != ociimage.BusyboxImage || !strings.HasPrefix(c.ImageID, "sha256:") || c.LogPath != spec.LogPath {
		t.Errorf("listed container = %+v", c)
	}
	if c.CreatedAt.IsZero() || c.StartedAt.IsZero() || c.StartedAt.Before(c.CreatedAt) || !c.FinishedAt.IsZero() {
		t.Errorf("times: created %v started %v finished %v", c.CreatedAt, c.StartedAt, c.FinishedAt)
	}

	if out := mustExec(t, rt, id, 0, "cat", "/etc/hostname"); out != "pod-host\n" {
		t.Errorf("cat /etc/hostname = %q", out)
	}
	mustExec(t, rt, id, 1, "false")
	if out := mustExec(t, rt, id, 0, "sh", "-c", "echo $FOO; pwd"); out != "bar\n/tmp\n" {
		t.Errorf("env/cwd = %q", out)
	}
	// stdout and stderr are copied concurrently: order between them is lost.
	if out := mustExec(t, rt, id, 0, "sh", "-c", "echo out; echo err >&2"); len(out) != 8 || !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") {
		t.Errorf("stdout+stderr = %q", out)
	}
	if out := mustExec(t, rt, id, 0, "sh", "-c", "head -c 20000 /dev/zero | tr '\\0' x"); len(out) != MaxExecOutput {
		t.Errorf("long output: %d bytes, want %d", len(out), MaxExecOutput)
	}
	mustExec(t, rt, id, 1, "touch", "/etc/hostname") // read-only bind mount
	if code, _, err := rt.Exec(ctx, id, []string{"/no/such/binary"}); err == nil && code == 0 {
		t.Error("exec of a missing binary succeeded")
	}
	execCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start = time.Now()
	_, _, err = rt.Exec(execCtx, id, []string{"sleep", "100"})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("exec bounded by ctx: err %v after %v", err, time.Since(start))
	}

	// The pod's cgroup carries the limits.
	cg := rt.ContainerCgroup("uid-life", id)
	if got := readCgroupFile(t, "memory", cg, "memory.limit_in_bytes"); got != "67108864" {
		t.Errorf("memory.limit_in_bytes = %s", got)
	}
	if got := readCgroupFile(t, "cpu", cg, "cpu.shares"); got != "512" {
		t.Errorf("cpu.shares = %s", got)
	}
	if got := readCgroupFile(t, "cpu", cg, "cpu.cfs_quota_us"); got != "50000" {
		t.Errorf("cpu.cfs_quota_us = %s", got)
	}
	if got := readCgroupFile(t, "pids", cg, "pids.max"); got != "100" {
		t.Errorf("pids.max = %s", got)
	}
	if err := rt.RemovePod(ctx, "uid-life"); err == nil {
		t.Error("RemovePod with a running container: no error")
	}

	// A second runtime (new connection, as after an agent restart) adopts
	// the container and sees its exit.
	rt2, err := New(ctx, rt.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	if _, ok := findContainer(t, rt2, id); !ok {
		t.Fatal("second runtime does not list the container")
	}
	exitC, err := rt2.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// sh as PID 1 has no SIGTERM handler: killed after the grace.
	start = time.Now()
	if err := rt.StopContainer(ctx, id, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("StopContainer (SIGTERM ignored, grace 300ms) took %v", took.Round(time.Millisecond))
	if took < 300*time.Millisecond {
		t.Errorf("stop took %v, less than the grace", took)
	}
	select {
	case st := <-exitC:
		if st.Err != nil || st.Code != 137 || st.FinishedAt.IsZero() {
			t.Errorf("exit seen by second runtime = %+v", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second runtime saw no exit")
	}
	c, _ = findContainer(t, rt, id)
	if c.State != node.StateExited || c.ExitCode != 137 || c.FinishedAt.IsZero() {
		t.Errorf("after stop: %+v", c)
	}
	if err := rt.StopContainer(ctx, id, time.Second); err != nil {
		t.Errorf("stopping a stopped container: %v", err)
	}
	// Wait on an exited container reports at once.
	exitC, err = rt.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st := <-exitC; st.Code != 137 {
		t.Errorf("Wait after exit = %+v", st)
	}

	if !snapshotExists(t, rt, id) {
		t.Fatal("snapshot missing before remove")
	}
	if err := rt.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, ok := findContainer(t, rt, id); ok {
		t.Error("container listed after remove")
	}
	if snapshotExists(t, rt, id) {
		t.Error("snapshot left after remove")
	}
	if err := rt.RemoveContainer(ctx, id); err != nil {
		t.Errorf("removing a missing container: %v", err)
	}
	if err := rt.StopContainer(ctx, id, time.Second); err != nil {
		t.Errorf("stopping a missing container: %v", err)
	}
	if _, err := rt.Wait(ctx, id); err == nil {
		t.Error("Wait on a missing container: no error")
	}

	podDirs, err := CgroupDirs(rt.podCgroup("uid-life"))
	if err != nil {
		t.Fatal(err)
	}
	var existed []string
	for _, d := range podDirs {
		if _, err := os.Stat(d); err == nil {
			existed = append(existed, d)
		}
	}
	if !slices.Contains(existed, filepath.Join("/sys/fs/cgroup/memory", rt.podCgroup("uid-life"))) {
		t.Errorf("memory pod cgroup missing before RemovePod; present: %v", existed)
	}
	if err := rt.RemovePod(ctx, "uid-life"); err != nil {
		t.Fatal(err)
	}
	for _, d := range podDirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s left after RemovePod", d)
		}
	}
	if err := rt.RemovePod(ctx, "uid-life"); err != nil {
		t.Errorf("RemovePod twice: %v", err)
	}
	t.Logf("pod cgroup existed in %d hierarchies", len(existed))
}

func TestStopWithTrap(t *testing.T) {
	_, rt := StartTestContainerd(t)
	ctx := testCtx(t, time.Minute)
	id, err := rt.StartContainer(ctx, busyboxSpec(t, "uid-trap", "trap",
		"sh", "-c", "trap 'exit 3' TERM; echo ready; sleep 1000 & wait"))
	if err != nil {
		t.Fatal(err)
	}
	waitRunning(t, rt, id)
	exitC, err := rt.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := rt.StopContainer(ctx, id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("StopContainer (trap exits on SIGTERM) took %v", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("stop took %v: the trap did not end it", took)
	}
	if st := <-exitC; st.Err != nil || st.Code != 3 {
		t.Errorf("exit = %+v, want code 3", st)
	}
}

func TestSharedNamespaces(t *testing.T) {
	_, rt := StartTestContainerd(t)
	ctx := testCtx(t, time.Minute)

	specA := busyboxSpec(t, "uid-ns", "a", "sleep", "1000")
	specA.Hostname = "pod-a"
	idA, err := rt.StartContainer(ctx, specA)
	if err != nil {
		t.Fatal(err)
	}
	a := waitRunning(t, rt, idA)

	specB := busyboxSpec(t, "uid-ns", "b", "sleep", "1000")
	specB.NetNS = filepathNS(a.PID, "net")
	specB.UTSNS = filepathNS(a.PID, "uts")
	specB.IPCNS = filepathNS(a.PID, "ipc")
	idB, err := rt.StartContainer(ctx, specB)
	if err != nil {
		t.Fatal(err)
	}
	waitRunning(t, rt, idB)

	if ha, hb := mustExec(t, rt, idA, 0, "hostname"), mustExec(t, rt, idB, 0, "hostname"); ha != "pod-a\n" || hb != ha {
		t.Errorf("hostname a %q, b %q", ha, hb)
	}
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"net", "uts", "ipc"} {
		na := mustExec(t, rt, idA, 0, "readlink", "/proc/self/ns/"+ns)
		nb := mustExec(t, rt, idB, 0, "readlink", "/proc/self/ns/"+ns)
		if na != nb {
			t.Errorf("%s namespace: a %q, b %q", ns, na, nb)
		}
		if ns == "net" && strings.TrimSpace(na) == host {
			t.Errorf("containers share the host's net namespace %s", host)
		}
	}
	// The pid namespace stays private.
	if pa, pb := mustExec(t, rt, idA, 0, "readlink", "/proc/self/ns/pid"), mustExec(t, rt, idB, 0, "readlink", "/proc/self/ns/pid"); pa == pb {
		t.Errorf("pid namespaces shared: %q", pa)
	}
	// sleep as PID 1 has no SIGTERM handler: killed after the grace.
	start := time.Now()
	if err := rt.StopContainer(ctx, idB, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if c, _ := findContainer(t, rt, idB); c.State != node.StateExited || c.ExitCode != 137 {
		t.Errorf("sleep as PID 1 after stop: %+v", c)
	}
	t.Logf("StopContainer (sleep ignores SIGTERM, grace 200ms) took %v", time.Since(start).Round(time.Millisecond))
	// A is untouched by B's end.
	waitRunning(t, rt, idA)
}

func filepathNS(pid int, ns string) string {
	return filepath.Join("/proc", strconv.Itoa(pid), "ns", ns)
}

func TestStartContainerFailureLeavesNothing(t *testing.T) {
	_, rt := StartTestContainerd(t)
	ctx := testCtx(t, time.Minute)

	missing := busyboxSpec(t, "uid-fail", "noimage", "true")
	missing.Image = "example.invalid/missing:1"
	if _, err := rt.StartContainer(ctx, missing); err == nil {
		t.Error("missing image: no error")
	}
	bad := busyboxSpec(t, "uid-fail", "nobinary", "/no/such/binary")
	start := time.Now()
	if _, err := rt.StartContainer(ctx, bad); err == nil {
		t.Error("missing binary: no error")
	} else {
		t.Logf("missing binary failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	cs, err := rt.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 0 {
		t.Errorf("containers left behind: %+v", cs)
	}
	var keys []string
	err = rt.client.SnapshotService(rt.cfg.Snapshotter).Walk(rt.ns(ctx), func(_ context.Context, info snapshots.Info) error {
		if info.Kind != snapshots.KindCommitted {
			keys = append(keys, info.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("snapshots left behind: %v", keys)
	}
	if err := rt.RemovePod(ctx, "uid-fail"); err != nil {
		t.Errorf("RemovePod after failures: %v", err)
	}
}

func TestStartManagedReuse(t *testing.T) {
	m, rt := StartTestContainerd(t)
	ctx := testCtx(t, 30*time.Second)
	m2, err := StartManaged(ctx, ManagedConfig{Dir: m.Dir()})
	if err != nil {
		t.Fatal(err)
	}
	if m2.PID() != m.PID() || m2.Address() != m.Address() {
		t.Fatalf("second StartManaged: pid %d at %s, first %d at %s", m2.PID(), m2.Address(), m.PID(), m.Address())
	}
	if _, err := rt.Version(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, Config{Address: filepath.Join(m.Dir(), "nope.sock"), StateDir: t.TempDir()}); err == nil {
		t.Error("New with an unreachable address: no error")
	}
}

// TestDaemonRestartKeepsContainers stops the daemon without killing tasks
// (as when the node's containerd is upgraded or crashes), starts it again
// on the same Dir and adopts the running container with a new Runtime.
func TestDaemonRestartKeepsContainers(t *testing.T) {
	m, rt := StartTestContainerd(t)
	ctx := testCtx(t, time.Minute)
	id, err := rt.StartContainer(ctx, busyboxSpec(t, "uid-restart", "c", "sh", "-c", "trap 'exit 7' TERM; sleep 1000 & wait"))
	if err != nil {
		t.Fatal(err)
	}
	before := waitRunning(t, rt, id)

	if err := m.Stop(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(ctx, false); err != nil {
		t.Errorf("second stop: %v", err)
	}
	m2, err := StartManaged(ctx, ManagedConfig{Dir: m.Dir()})
	if err != nil {
		t.Fatal(err)
	}
	// StartTestContainerd's cleanup finds and stops the restarted daemon
	// through Dir's pid file.
	if m2.PID() == m.PID() {
		t.Fatalf("daemon not restarted: pid %d", m2.PID())
	}
	rt2, err := New(ctx, rt.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	after := waitRunning(t, rt2, id)
	if after.PID != before.PID || !after.StartedAt.Equal(before.StartedAt) {
		t.Errorf("container after restart = %+v, before %+v", after, before)
	}
	exitC, err := rt2.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt2.StopContainer(ctx, id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := <-exitC; st.Err != nil || st.Code != 7 {
		t.Errorf("exit after daemon restart = %+v", st)
	}
	if err := rt2.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := rt2.RemovePod(ctx, "uid-restart"); err != nil {
		t.Fatal(err)
	}
}
