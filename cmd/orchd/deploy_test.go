package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeployMasterUnitSandboxed: the master's systemd unit in deploy/ runs
// orchd as the unprivileged user orch (the one deploy/orch.sysusers.conf
// creates) in a sandbox, as systemd's own assessment of the unit file
// sees it: an exposure of at most 2.0 (of 10), no new privileges, no
// capability, a read-only system and a system call filter.
func TestDeployMasterUnitSandboxed(t *testing.T) {
	unit := filepath.Join("..", "..", "deploy", "orchd-master.service")
	raw, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains("\n"+string(raw), "\nUser=orch\n") {
		t.Errorf("%s does not run as User=orch", unit)
	}
	users, err := os.ReadFile(filepath.Join("..", "..", "deploy", "orch.sysusers.conf"))
	if err != nil || !strings.Contains("\n"+string(users), "\nu orch ") {
		t.Errorf("deploy/orch.sysusers.conf does not create the user orch: %v", err)
	}
	// --threshold=20 fails the command above an exposure of 2.0.
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--threshold=20", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security %s: %v\n%s", unit, err, out)
	}
	for _, want := range []string{
		"✓ User=/DynamicUser=", "✓ NoNewPrivileges=", "✓ ProtectSystem=",
		"✓ CapabilityBoundingSet=~CAP_SYS_ADMIN", "✓ CapabilityBoundingSet=~CAP_NET_ADMIN",
		"✓ SystemCallFilter=~@privileged", "✓ SystemCallFilter=~@mount",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("systemd-analyze security %s lacks %q:\n%s", unit, want, out)
		}
	}
}
