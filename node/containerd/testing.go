package containerd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"orch.io/orch/node/ociimage"
)

// testTimeout bounds the helper's start and its cleanup.
const testTimeout = 60 * time.Second

// StartTestContainerd starts a private containerd for a test and returns it
// with a connected Runtime in which ociimage.BusyboxImage
// (docker.io/library/busybox:1.35, built from the host's busybox-static) is
// imported and unpacked. Use it from any package's tests:
//
//	m, rt := ctrd.StartTestContainerd(t)
//	id, err := rt.StartContainer(ctx, &node.ContainerSpec{Image: ociimage.BusyboxImage, ...})
//
// Everything lives in a short directory /tmp/orchctd* (unix socket paths
// must fit in 107 bytes, t.TempDir paths do not): the daemon's root, state,
// socket and log, and the Runtime's StateDir (rt.Config().StateDir). The
// Runtime's cgroup root is /orch-<dir name>, unique per call. t.Cleanup kills
// and deletes every task, stops the daemon by PID, removes the cgroups under
// the cgroup root and the directory.
//
// The test fails when not running as root or when containerd, runc or
// /bin/busybox are missing. Tests using it must not run in parallel with
// other tests that change the host's mounts or cgroups under the same root.
func StartTestContainerd(t testing.TB) (*Managed, *Runtime) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root to run containerd (run the suite as root, as make test in CI does)")
	}
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("needs %s (run make deps): %v", bin, err)
		}
	}
	if _, err := os.Stat(ociimage.DefaultBusyboxPath); err != nil {
		t.Fatalf("needs busybox-static (run make deps): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	dir, err := os.MkdirTemp("/tmp", "orchctd")
	if err != nil {
		t.Fatalf("containerd test dir: %v", err)
	}
	logger, stopLogging := testLogger(t)
	cgroupRoot := "/orch-" + filepath.Base(dir)

	var (
		m  *Managed
		rt *Runtime
	)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if m != nil {
			if err := m.Stop(ctx, true); err != nil {
				t.Errorf("stop test containerd: %v", err)
			}
			// A daemon the test restarted on the same Dir.
			if pid, ok := m.running(ctx); ok {
				again := &Managed{dir: m.dir, address: m.address, pid: pid, log: m.log}
				if err := again.Stop(ctx, true); err != nil {
					t.Errorf("stop restarted test containerd: %v", err)
				}
			}
		}
		if rt != nil {
			_ = rt.Close()
		}
		if err := removeCgroupTree(cgroupRoot); err != nil {
			t.Errorf("remove test cgroups %s: %v", cgroupRoot, err)
		}
		if err := unmountUnder(dir); err != nil {
			t.Errorf("unmount under %s: %v", dir, err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
		stopLogging()
	})

	m, err = StartManaged(ctx, ManagedConfig{Dir: dir, Logger: logger})
	if err != nil {
		t.Fatalf("start test containerd: %v", err)
	}
	rt, err = New(ctx, Config{
		Address:    m.Address(),
		CgroupRoot: cgroupRoot,
		StateDir:   filepath.Join(dir, "rt"),
		Logger:     logger,
	})
	if err != nil {
		t.Fatalf("connect to test containerd: %v", err)
	}
	var img bytes.Buffer
	if err := ociimage.WriteBusybox(&img, ociimage.BusyboxOptions{}); err != nil {
		t.Fatalf("build busybox image: %v", err)
	}
	if _, err := rt.ImportImages(ctx, &img); err != nil {
		t.Fatalf("import busybox image: %v", err)
	}
	return m, rt
}

// testLogger routes slog records to t.Log until stop is called (logging to
// a finished test panics).
func testLogger(t testing.TB) (*slog.Logger, func()) {
	w := &testWriter{t: t}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), w.stop
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// unmountUnder lazily unmounts every mount point below dir, deepest first,
// so that removing dir cannot reach into a still-mounted filesystem.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return err
	}
	defer f.Close()
	var targets []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		mp := unescapeMount(fields[1])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			targets = append(targets, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	sort.Slice(targets, func(i, j int) bool { return len(targets[i]) > len(targets[j]) })
	for _, mp := range targets {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			return fmt.Errorf("unmount %s: %w", mp, err)
		}
	}
	return nil
}
