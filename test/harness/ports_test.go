package harness

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeAddrReservesPortsBelowTheEphemeralRange(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		addr := freeAddr(t, "127.0.0.1")
		if seen[addr] {
			t.Fatalf("%s handed out twice while reserved", addr)
		}
		seen[addr] = true
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		if port < portLow || port >= portHigh {
			t.Fatalf("port %d outside [%d, %d)", port, portLow, portHigh)
		}
		// Another test process cannot take a reserved port.
		if _, ok, err := lockPort(port); err != nil || ok {
			t.Fatalf("port %d: lock taken twice (ok=%v, err=%v)", port, ok, err)
		}
	}
}
