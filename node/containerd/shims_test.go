package containerd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestIsShimOf(t *testing.T) {
	const addr = "/var/lib/orch/node/containerd/c.sock"
	for _, tc := range []struct {
		name string
		argv []string
		want bool
	}{
		{"our shim", []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "orch", "-id", "web_c_0_1", "-address", addr}, true},
		{"another daemon's shim", []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "orch", "-address", "/run/containerd/containerd.sock"}, false},
		{"not a shim", []string{"/usr/bin/sleep", "-address", addr}, false},
		{"address as a prefix only", []string{"containerd-shim-runc-v2", "-address", addr + ".old"}, false},
		{"flag without value", []string{"containerd-shim-runc-v2", "-address"}, false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isShimOf(tc.argv, addr); got != tc.want {
				t.Fatalf("isShimOf(%q) = %v, want %v", tc.argv, got, tc.want)
			}
		})
	}
}

// TestKillShims starts two processes that look like shims, one of ours and
// one of another daemon, and checks that only ours is killed.
func TestKillShims(t *testing.T) {
	addr := filepath.Join(t.TempDir(), "c.sock")
	start := func(address string) *exec.Cmd {
		cmd := exec.Command("/bin/sh")
		// argv[0] names a shim; "sleep; true" keeps sh from exec'ing sleep.
		cmd.Args = []string{"containerd-shim-runc-v2", "-c", "sleep 60; true", "-address", address}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	ours, theirs := start(addr), start(addr+"-other")
	// Until sh's child has exec'd sleep, it is a copy of sh with the same
	// command line: a second process of "ours" for a moment.
	for _, c := range []*exec.Cmd{ours, theirs} {
		waitForSleepChild(t, c.Process.Pid)
	}
	n, err := killShims(addr)
	if err != nil || n != 1 {
		t.Fatalf("killShims = %d, %v; want 1 killed", n, err)
	}
	done := make(chan error, 1)
	go func() { done <- ours.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("our shim is still running")
	}
	// The null signal checks that the process exists.
	if err := theirs.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the other daemon's shim was killed: %v", err)
	}
}

// waitForSleepChild waits until process pid has a child running sleep.
func waitForSleepChild(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		for _, k := range strings.Fields(string(kids)) {
			if argv, err := os.ReadFile("/proc/" + k + "/cmdline"); err == nil && strings.HasPrefix(string(argv), "sleep\x00") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d has no sleep child after 10s (children %q)", pid, kids)
		}
		time.Sleep(10 * time.Millisecond) // polling /proc, with a deadline
	}
}
