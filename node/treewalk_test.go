package node

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// withFewDescriptors runs f with the process's descriptor limit lowered to
// 64 above the descriptors open now, so a walk that holds one descriptor
// per directory level fails on a deep tree, and restores the limit.
func withFewDescriptors(t *testing.T, f func() error) error {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = uint64(len(ents) + 64)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
			t.Fatal(err)
		}
	}()
	return f()
}
