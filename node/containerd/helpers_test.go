package containerd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orch.io/orch/node"
	"orch.io/orch/node/ociimage"
)

// testCtx returns a context bounded for one test step.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// busyboxSpec is a container spec of pod uid running args in busybox.
func busyboxSpec(t *testing.T, uid, name string, args ...string) *node.ContainerSpec {
	t.Helper()
	return &node.ContainerSpec{
		PodUID:       uid,
		PodNamespace: "default",
		PodName:      "pod-" + uid,
		Name:         name,
		SpecHash:     "hash-" + name,
		Image:        ociimage.BusyboxImage,
		Command:      args,
		LogPath:      filepath.Join(t.TempDir(), "logs", name+".log"),
	}
}

// eventually polls cond every 20 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v (last: %s)", what, d, state)
		}
		<-tick.C
	}
}

// findContainer lists the runtime's containers and returns id's.
func findContainer(t *testing.T, rt *Runtime, id string) (node.Container, bool) {
	t.Helper()
	cs, err := rt.ListContainers(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	for _, c := range cs {
		if c.ID == id {
			return c, true
		}
	}
	return node.Container{}, false
}

// waitRunning waits until id runs and returns it.
func waitRunning(t *testing.T, rt *Runtime, id string) node.Container {
	t.Helper()
	var c node.Container
	eventually(t, 10*time.Second, "container "+id+" running", func() (bool, string) {
		var ok bool
		c, ok = findContainer(t, rt, id)
		return ok && c.State == node.StateRunning && c.PID > 0, string(c.State)
	})
	return c
}

// mustExec runs cmd in id and checks the exit code.
func mustExec(t *testing.T, rt *Runtime, id string, wantCode int, cmd ...string) string {
	t.Helper()
	code, out, err := rt.Exec(testCtx(t, 20*time.Second), id, cmd)
	if err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	if code != wantCode {
		t.Fatalf("exec %q: exit %d, want %d (output %q)", cmd, code, wantCode, out)
	}
	return string(out)
}

// snapshotExists reports whether the snapshotter holds key.
func snapshotExists(t *testing.T, rt *Runtime, key string) bool {
	t.Helper()
	ctx := rt.ns(testCtx(t, 10*time.Second))
	_, err := rt.client.SnapshotService(rt.cfg.Snapshotter).Stat(ctx, key)
	return err == nil
}

// readCgroupFile reads a controller file of cgroup path rel.
func readCgroupFile(t *testing.T, controller, rel, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, rel, file))
	if err != nil {
		t.Fatalf("read cgroup file: %v", err)
	}
	return strings.TrimSpace(string(b))
}
