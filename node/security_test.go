package node

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestContainerSecurityMerge(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "profiles"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "profiles", "audit.json"), []byte(`{"defaultAction":"SCMP_ACT_LOG"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &Agent{cfg: Config{SeccompProfileRoot: root}}
	for _, tc := range []struct {
		name string
		pod  *v1.PodSecurityContext
		c    *v1.SecurityContext
		want ContainerSecurity
		err  string
	}{
		{"nothing set: RuntimeDefault", nil, nil, ContainerSecurity{Seccomp: SeccompRuntimeDefault}, ""},
		{"pod settings apply", &v1.PodSecurityContext{
			RunAsUser: new(int64(1000)), RunAsGroup: new(int64(3000)), SupplementalGroups: []int64{4000}, FSGroup: new(int64(2000)),
			SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeUnconfined},
			Sysctls:        []v1.Sysctl{{Name: "net/ipv4/ip_unprivileged_port_start", Value: "0"}},
		}, nil, ContainerSecurity{RunAsUser: new(int64(1000)), RunAsGroup: new(int64(3000)), SupplementalGroups: []int64{4000, 2000},
			Seccomp: SeccompUnconfined, Sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"}}, ""},
		{"container overrides pod", &v1.PodSecurityContext{
			RunAsUser: new(int64(1000)), RunAsGroup: new(int64(3000)), SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeUnconfined},
		}, &v1.SecurityContext{
			RunAsUser: new(int64(2000)), SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault},
			ReadOnlyRootFilesystem: new(true), AllowPrivilegeEscalation: new(false),
			Capabilities: &v1.Capabilities{Add: []v1.Capability{"NET_BIND_SERVICE"}, Drop: []v1.Capability{"ALL"}},
		}, ContainerSecurity{RunAsUser: new(int64(2000)), RunAsGroup: new(int64(3000)), Seccomp: SeccompRuntimeDefault,
			ReadOnlyRootFilesystem: true, NoNewPrivileges: true, CapAdd: []string{"NET_BIND_SERVICE"}, CapDrop: []string{"ALL"}}, ""},
		{"allowPrivilegeEscalation true", nil, &v1.SecurityContext{AllowPrivilegeEscalation: new(true)},
			ContainerSecurity{Seccomp: SeccompRuntimeDefault}, ""},
		{"privileged", nil, &v1.SecurityContext{Privileged: new(true), ProcMount: new(v1.ProcMountDefault)},
			ContainerSecurity{Privileged: true, Seccomp: SeccompRuntimeDefault}, ""},
		{"localhost profile from the pod", &v1.PodSecurityContext{
			SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost, LocalhostProfile: new("profiles/audit.json")},
		}, nil, ContainerSecurity{Seccomp: SeccompLocalhost, SeccompProfilePath: filepath.Join(root, "profiles", "audit.json")}, ""},
		{"missing localhost profile", nil, &v1.SecurityContext{
			SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost, LocalhostProfile: new("profiles/none.json")},
		}, ContainerSecurity{}, "no such file"},
		{"localhost profile outside the directory", nil, &v1.SecurityContext{
			SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost, LocalhostProfile: new("../../etc/passwd")},
		}, ContainerSecurity{}, "is not a path under"},
		{"localhost profile is a directory", nil, &v1.SecurityContext{
			SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost, LocalhostProfile: new("profiles")},
		}, ContainerSecurity{}, "is not a regular file"},
		{"unmasked /proc", nil, &v1.SecurityContext{ProcMount: new(v1.ProcMountUnmasked)}, ContainerSecurity{}, "procMount Unmasked"},
		{"AppArmor", &v1.PodSecurityContext{AppArmorProfile: &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeRuntimeDefault}}, nil,
			ContainerSecurity{}, "cannot enforce AppArmor"},
		{"AppArmor Unconfined", nil, &v1.SecurityContext{AppArmorProfile: &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeUnconfined}},
			ContainerSecurity{Seccomp: SeccompRuntimeDefault}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{Spec: v1.PodSpec{SecurityContext: tc.pod, Containers: []v1.Container{{Name: "c", SecurityContext: tc.c}}}}
			got, err := a.containerSecurity(pod, &pod.Spec.Containers[0])
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// Sysctls of a namespace the pod shares with the host are refused, as by
// the kubelet's sysctl admission.
func TestSysctlsAndHostNamespaces(t *testing.T) {
	a := &Agent{}
	for _, tc := range []struct {
		name             string
		hostNet, hostIPC bool
		sysctl           string
		err              string
	}{
		{"net sysctl in the pod's network", false, true, "net.ipv4.tcp_syncookies", ""},
		{"net sysctl with host network", true, false, "net.ipv4.tcp_syncookies", `forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host net enabled`},
		{"ipc sysctl in the pod's IPC", true, false, "kernel.shm_rmid_forced", ""},
		{"ipc sysctl with host IPC", false, true, "kernel/shm_rmid_forced", `forbidden sysctl: "kernel/shm_rmid_forced" not allowed with host ipc enabled`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{Spec: v1.PodSpec{HostNetwork: tc.hostNet, HostIPC: tc.hostIPC,
				SecurityContext: &v1.PodSecurityContext{Sysctls: []v1.Sysctl{{Name: tc.sysctl, Value: "1"}}},
				Containers:      []v1.Container{{Name: "c"}}}}
			got, err := a.containerSecurity(pod, &pod.Spec.Containers[0])
			if tc.err == "" {
				if err != nil || got.Sysctls[v1.SysctlDotted(tc.sysctl)] != "1" {
					t.Fatalf("sysctls %v, %v", got.Sysctls, err)
				}
				return
			}
			if err == nil || err.Error() != tc.err {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestVerifyRunAsNonRoot(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pod       *v1.PodSecurityContext
		c         *v1.SecurityContext
		imageUser string
		err       string
	}{
		{"not asked", nil, nil, "", ""},
		{"runAsNonRoot false", &v1.PodSecurityContext{RunAsNonRoot: new(false)}, nil, "", ""},
		{"image without USER", &v1.PodSecurityContext{RunAsNonRoot: new(true)}, nil, "",
			`container has runAsNonRoot and image will run as root (pod: "p_ns(u1)", container: c)`},
		{"image USER 0:0", nil, &v1.SecurityContext{RunAsNonRoot: new(true)}, "0:0", "image will run as root"},
		{"image USER name", &v1.PodSecurityContext{RunAsNonRoot: new(true)}, nil, "nginx",
			`container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root (pod: "p_ns(u1)", container: c)`},
		{"image USER 101", &v1.PodSecurityContext{RunAsNonRoot: new(true)}, nil, "101:101", ""},
		{"runAsUser 1000 on root image", &v1.PodSecurityContext{RunAsNonRoot: new(true)}, &v1.SecurityContext{RunAsUser: new(int64(1000))}, "", ""},
		{"pod runAsUser 0", &v1.PodSecurityContext{RunAsNonRoot: new(true), RunAsUser: new(int64(0))}, nil, "101",
			`container's runAsUser breaks non-root policy (pod: "p_ns(u1)", container: c)`},
		{"container allows root", &v1.PodSecurityContext{RunAsNonRoot: new(true)}, &v1.SecurityContext{RunAsNonRoot: new(false)}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"},
				Spec: v1.PodSpec{SecurityContext: tc.pod, Containers: []v1.Container{{Name: "c", SecurityContext: tc.c}}}}
			err := verifyRunAsNonRoot(pod, &pod.Spec.Containers[0], tc.imageUser)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

// TestRunAsNonRootWaits checks the worker's report of a refused start:
// the container waits with CreateContainerConfigError and is not started.
func TestRunAsNonRootWaits(t *testing.T) {
	w := newLifecycleWorker(t, nil)
	w.pod = initPod(v1.RestartAlways)
	w.pod.Spec.SecurityContext = &v1.PodSecurityContext{RunAsNonRoot: new(true)}
	w.sync(context.Background())
	if got := w.rt.startedIDs(); got != "" {
		t.Fatalf("started %q", got)
	}
	st := w.podStatus(w.pod)
	if len(st.ContainerStatuses) != 1 || st.ContainerStatuses[0].State.Waiting == nil {
		t.Fatalf("statuses %+v", st.ContainerStatuses)
	}
	wt := st.ContainerStatuses[0].State.Waiting
	if wt.Reason != "CreateContainerConfigError" || !strings.Contains(wt.Message, "container has runAsNonRoot and image will run as root") {
		t.Errorf("waiting %+v", wt)
	}
	if st.Phase != v1.PodPending {
		t.Errorf("phase %s", st.Phase)
	}
}

func TestSetVolumeOwnership(t *testing.T) {
	const gid = 4242
	for _, tc := range []struct {
		name           string
		onRootMismatch bool
		prepared       bool // the root already has the group and mode
		wantChanged    bool // the file inside was changed
	}{
		{"Always", false, false, true},
		{"Always on a prepared volume", false, true, true},
		{"OnRootMismatch", true, false, true},
		{"OnRootMismatch on a prepared volume", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "vol")
			if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "sub", "f")
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			outside := filepath.Join(t.TempDir(), "outside")
			if err := os.WriteFile(outside, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
			outsideDir := t.TempDir()
			if err := os.Chmod(outsideDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outsideDir, filepath.Join(dir, "sub", "dirlink")); err != nil {
				t.Fatal(err)
			}
			if tc.prepared {
				if err := os.Chown(dir, -1, gid); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, 0o775|os.ModeSetgid); err != nil {
					t.Fatal(err)
				}
			}
			if err := setVolumeOwnership(dir, gid, tc.onRootMismatch); err != nil {
				t.Fatal(err)
			}
			check := func(path string, wantGid int, wantMode os.FileMode) {
				t.Helper()
				fi, err := os.Lstat(path)
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if int(st.Gid) != wantGid || fi.Mode()&(os.ModePerm|os.ModeSetgid) != wantMode {
					t.Errorf("%s: gid %d mode %v, want gid %d mode %v", path, st.Gid, fi.Mode(), wantGid, wantMode)
				}
			}
			check(dir, gid, 0o775|os.ModeSetgid)
			if tc.wantChanged {
				check(filepath.Join(dir, "sub"), gid, 0o775|os.ModeSetgid)
				check(file, gid, 0o660)
			} else {
				check(file, 0, 0o600)
			}
			// A symlink's target outside the volume is never touched.
			check(outside, 0, 0o600)
			check(outsideDir, 0, 0o700)
			// The link itself takes the group.
			wantLinkGid := 0
			if tc.wantChanged {
				wantLinkGid = gid
			}
			if fi, err := os.Lstat(filepath.Join(dir, "link")); err != nil || int(fi.Sys().(*syscall.Stat_t).Gid) != wantLinkGid {
				t.Errorf("the link itself: %v %v, want gid %d", fi, err, wantLinkGid)
			}
		})
	}
}
