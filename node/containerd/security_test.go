package containerd

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"orch.io/orch/node"
)

// statusLine returns the value of one field of /proc/self/status as the
// container's process sees it.
func statusLine(t *testing.T, rt *Runtime, id, field string) string {
	t.Helper()
	out := mustExec(t, rt, id, 0, "grep", "^"+field+":", "/proc/self/status")
	_, v, _ := strings.Cut(strings.TrimSpace(out), ":")
	return strings.TrimSpace(v)
}

func TestContainerSecurity(t *testing.T) {
	_, rt := StartTestContainerd(t)
	profile := filepath.Join(t.TempDir(), "no-mkdir.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
		{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	i64 := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name  string
		sec   node.ContainerSecurity
		check func(t *testing.T, id string, s *specs.Spec)
	}{
		{"default is RuntimeDefault seccomp, root, default caps", node.ContainerSecurity{}, func(t *testing.T, id string, s *specs.Spec) {
			if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno {
				t.Errorf("seccomp = %+v, want containerd's default profile", s.Linux.Seccomp)
			}
			if got := statusLine(t, rt, id, "Seccomp"); got != "2" {
				t.Errorf("Seccomp: %s, want 2 (filter)", got)
			}
			// unshare(CLONE_NEWUSER) needs CAP_SYS_ADMIN under the profile.
			if code, out, err := rt.Exec(testCtx(t, 20*time.Second), id, []string{"unshare", "-Urm", "true"}); err != nil || code == 0 {
				t.Errorf("unshare -Urm: exit %d, %v (%q), want a failure", code, err, out)
			}
			if out := mustExec(t, rt, id, 0, "id", "-u"); out != "0\n" {
				t.Errorf("id -u = %q", out)
			}
			if got := statusLine(t, rt, id, "NoNewPrivs"); got != "0" {
				t.Errorf("NoNewPrivs: %s", got)
			}
			if len(s.Linux.MaskedPaths) == 0 || len(s.Linux.ReadonlyPaths) == 0 {
				t.Errorf("masked %v, read-only %v: want containerd's defaults", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
			}
			mustExec(t, rt, id, 0, "touch", "/written")
		}},
		{"runAsUser, runAsGroup, groups, read-only root", node.ContainerSecurity{
			RunAsUser: i64(1000), RunAsGroup: i64(3000), SupplementalGroups: []int64{4000, 2000}, ReadOnlyRootFilesystem: true,
		}, func(t *testing.T, id string, s *specs.Spec) {
			if out := mustExec(t, rt, id, 0, "id", "-u"); out != "1000\n" {
				t.Errorf("id -u = %q", out)
			}
			if out := mustExec(t, rt, id, 0, "id", "-g"); out != "3000\n" {
				t.Errorf("id -g = %q", out)
			}
			groups := strings.Fields(mustExec(t, rt, id, 0, "id", "-G"))
			for _, g := range []string{"2000", "3000", "4000"} {
				if !slices.Contains(groups, g) {
					t.Errorf("id -G = %v, missing %s", groups, g)
				}
			}
			if !s.Root.Readonly {
				t.Error("root not read-only in the spec")
			}
			if out := mustExec(t, rt, id, 1, "touch", "/written"); !strings.Contains(out, "Read-only file system") {
				t.Errorf("touch / as 1000: %q", out)
			}
			if got := statusLine(t, rt, id, "CapEff"); got != "0000000000000000" {
				t.Errorf("CapEff of uid 1000: %s", got)
			}
		}},
		{"runAsGroup alone keeps the image's user", node.ContainerSecurity{RunAsGroup: i64(5000)}, func(t *testing.T, id string, s *specs.Spec) {
			if out := mustExec(t, rt, id, 0, "id", "-u"); out != "0\n" {
				t.Errorf("id -u = %q", out)
			}
			if out := mustExec(t, rt, id, 0, "id", "-g"); out != "5000\n" {
				t.Errorf("id -g = %q", out)
			}
		}},
		{"drop ALL", node.ContainerSecurity{CapDrop: []string{"ALL"}}, func(t *testing.T, id string, s *specs.Spec) {
			if got := statusLine(t, rt, id, "CapEff"); got != "0000000000000000" {
				t.Errorf("CapEff: %s", got)
			}
			if got := statusLine(t, rt, id, "CapBnd"); got != "0000000000000000" {
				t.Errorf("CapBnd: %s", got)
			}
			mustExec(t, rt, id, 1, "chown", "1:1", "/tmp")
		}},
		{"drop ALL, add NET_BIND_SERVICE", node.ContainerSecurity{CapDrop: []string{"ALL"}, CapAdd: []string{"NET_BIND_SERVICE"}},
			func(t *testing.T, id string, s *specs.Spec) {
				if got := statusLine(t, rt, id, "CapEff"); got != "0000000000000400" {
					t.Errorf("CapEff: %s, want only CAP_NET_BIND_SERVICE (bit 10)", got)
				}
			}},
		{"add ALL, drop CHOWN", node.ContainerSecurity{CapAdd: []string{"ALL"}, CapDrop: []string{"chown"}}, func(t *testing.T, id string, s *specs.Spec) {
			b := s.Process.Capabilities.Bounding
			if slices.Contains(b, "CAP_CHOWN") || !slices.Contains(b, "CAP_SYS_ADMIN") || !slices.Contains(b, "CAP_NET_ADMIN") {
				t.Errorf("bounding set %v", b)
			}
			mustExec(t, rt, id, 1, "chown", "1:1", "/tmp")
			// The default profile follows the capabilities: with
			// CAP_SYS_ADMIN, unshare is allowed.
			mustExec(t, rt, id, 0, "unshare", "-m", "true")
		}},
		{"no_new_privs", node.ContainerSecurity{NoNewPrivileges: true}, func(t *testing.T, id string, s *specs.Spec) {
			if got := statusLine(t, rt, id, "NoNewPrivs"); got != "1" {
				t.Errorf("NoNewPrivs: %s", got)
			}
		}},
		{"Unconfined", node.ContainerSecurity{Seccomp: node.SeccompUnconfined}, func(t *testing.T, id string, s *specs.Spec) {
			if s.Linux.Seccomp != nil {
				t.Errorf("seccomp %+v", s.Linux.Seccomp)
			}
			if got := statusLine(t, rt, id, "Seccomp"); got != "0" {
				t.Errorf("Seccomp: %s", got)
			}
		}},
		{"Localhost", node.ContainerSecurity{Seccomp: node.SeccompLocalhost, SeccompProfilePath: profile}, func(t *testing.T, id string, s *specs.Spec) {
			if got := statusLine(t, rt, id, "Seccomp"); got != "2" {
				t.Errorf("Seccomp: %s", got)
			}
			mustExec(t, rt, id, 1, "mkdir", "/tmp/d")
			mustExec(t, rt, id, 0, "touch", "/tmp/f")
		}},
		{"privileged", node.ContainerSecurity{Privileged: true, Seccomp: node.SeccompLocalhost, SeccompProfilePath: profile},
			func(t *testing.T, id string, s *specs.Spec) {
				if s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
					t.Errorf("seccomp %+v, masked %v, read-only %v", s.Linux.Seccomp, s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
				}
				if got := statusLine(t, rt, id, "Seccomp"); got != "0" {
					t.Errorf("Seccomp: %s", got)
				}
				if !slices.Contains(s.Process.Capabilities.Effective, "CAP_SYS_ADMIN") {
					t.Errorf("effective caps %v", s.Process.Capabilities.Effective)
				}
				if len(s.Linux.Resources.Devices) == 0 || !s.Linux.Resources.Devices[len(s.Linux.Resources.Devices)-1].Allow {
					t.Errorf("devices cgroup %+v, want all allowed", s.Linux.Resources.Devices)
				}
				mustExec(t, rt, id, 0, "test", "-e", "/dev/kmsg")
			}},
		{"sysctls in the container's namespaces", node.ContainerSecurity{
			Sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shm_rmid_forced": "1"},
		}, func(t *testing.T, id string, s *specs.Spec) {
			if out := mustExec(t, rt, id, 0, "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"); out != "80\n" {
				t.Errorf("ip_unprivileged_port_start = %q", out)
			}
			if out := mustExec(t, rt, id, 0, "cat", "/proc/sys/kernel/shm_rmid_forced"); out != "1\n" {
				t.Errorf("shm_rmid_forced = %q", out)
			}
			host, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
			if err != nil || string(host) == "80\n" {
				t.Errorf("the host's ip_unprivileged_port_start = %q, %v", host, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, time.Minute)
			spec := busyboxSpec(t, "uid-sec", "main", "sleep", "1000")
			spec.Security = tc.sec
			id, err := rt.StartContainer(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cctx := testCtx(t, 30*time.Second)
				if err := rt.StopContainer(cctx, id, time.Second); err != nil {
					t.Errorf("stop: %v", err)
				}
				if err := rt.RemoveContainer(cctx, id); err != nil {
					t.Errorf("remove: %v", err)
				}
			})
			waitRunning(t, rt, id)
			c, err := rt.client.LoadContainer(rt.ns(ctx), id)
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.Spec(rt.ns(ctx))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, id, s)
		})
	}
}

func TestContainerSecurityRefused(t *testing.T) {
	_, rt := StartTestContainerd(t)
	for _, tc := range []struct {
		name string
		sec  node.ContainerSecurity
		want string
	}{
		{"unknown capability", node.ContainerSecurity{CapAdd: []string{"TIME_TRAVEL"}}, `unknown capability "TIME_TRAVEL"`},
		{"missing Localhost profile", node.ContainerSecurity{Seccomp: node.SeccompLocalhost, SeccompProfilePath: "/nonexistent/p.json"},
			"cannot load seccomp profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := busyboxSpec(t, "uid-bad", "main", "sleep", "1000")
			spec.Security = tc.sec
			_, err := rt.StartContainer(testCtx(t, time.Minute), spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("StartContainer: %v, want an error saying %q", err, tc.want)
			}
			cs, err := rt.ListContainers(testCtx(t, 10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				if c.Labels[node.LabelPodUID] == "uid-bad" {
					t.Errorf("container %s left behind", c.ID)
				}
			}
		})
	}
}
