package harness

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Masters keep their addresses across a restart (the raft address is in the
// configuration), so a port picked with ":0" may be taken while a master is
// down: by another test's ":0" or by any outgoing connection, since ":0" ports
// come from the kernel's ephemeral range. Ports are therefore picked below
// that range and reserved for the life of the test with a lock file that
// every test process on the machine honours.
const (
	portLow  = 20000
	portHigh = 32000 // below net.ipv4.ip_local_port_range's usual 32768
)

// portLockDir holds one lock file per reserved port.
var portLockDir = filepath.Join(os.TempDir(), "orch-test-ports")

// freeAddr returns an address of host with a port that is free now (TCP and
// UDP) and reserved for t: no other test on this machine picks it until t's
// cleanup, and the kernel does not hand it out as an ephemeral port.
func freeAddr(t T, host string) string {
	t.Helper()
	if err := os.MkdirAll(portLockDir, 0o1777); err != nil {
		t.Fatalf("reserve a port: %v", err)
	}
	for i := 0; i < 200; i++ {
		port := portLow + rand.IntN(portHigh-portLow)
		f, ok, err := lockPort(port)
		if err != nil {
			t.Fatalf("reserve a port: %v", err)
		}
		if !ok {
			continue
		}
		addr := net.JoinHostPort(host, fmt.Sprint(port))
		if portFree(addr) {
			t.Cleanup(func() { f.Close() }) // closing releases the lock
			return addr
		}
		f.Close()
	}
	t.Fatalf("no port in [%d, %d) free for both TCP and UDP on %s", portLow, portHigh, host)
	return ""
}

// lockPort takes the machine-wide lock of port without waiting; ok is false
// when another test holds it.
func lockPort(port int) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(filepath.Join(portLockDir, fmt.Sprintf("%d.lock", port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false, fmt.Errorf("open the lock of port %d: %w", port, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock port %d: %w", port, err)
	}
	return f, true, nil
}

// portFree reports whether addr can be bound for TCP and UDP right now.
func portFree(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	pc.Close()
	return true
}
