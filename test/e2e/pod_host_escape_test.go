package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// subPathError is the kubelet's message when a subPath cannot be mounted
// safely (it names no host path).
const subPathError = `failed to prepare subPath for volumeMount "v" of container "c"`

// A container replaces its subPath with a symlink to a host directory (or
// to /) and exits; the restarted container must not get the host directory
// (CVE-2017-1002101): it fails to start with CreateContainerConfigError
// and the host directory is untouched.
func TestPodSubPathEscape(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 1, false, nil, "--restart-backoff", "1s", "--restart-backoff-max", "2s")
	cl, nd := c.Client(), nodes[0]
	// hostPath volumes are for pods that own their node: only the
	// privileged Pod Security level admits them.
	allowPrivilegedPods(t, cl, "default")
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "marker"), []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rootFile := fmt.Sprintf("orch-e2e-escape-%d", time.Now().UnixNano())
	t.Cleanup(func() { _ = os.Remove("/" + rootFile) })

	cases := []struct {
		name, target string
		written      string // where a successful escape writes on the host
	}{
		{"escape-dir", hostDir, filepath.Join(hostDir, "escaped")},
		{"escape-root", "/", "/" + rootFile},
	}
	for _, tc := range cases {
		file := filepath.Base(tc.written)
		// First run: swap x for a symlink and exit. A run that finds the
		// symlink writes through the subPath mount.
		script := fmt.Sprintf("if [ -L /v/x ]; then echo escaped > /sub/%s; ls /sub > /v/seen; exec sleep 100000; fi; "+
			"rm -rf /v/x && ln -s %s /v/x && exit 1", file, tc.target)
		createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: tc.name}, Spec: v1.PodSpec{
			TerminationGracePeriodSeconds: int64p(1),
			Volumes:                       []v1.Volume{{Name: "v", EmptyDir: &v1.EmptyDirVolumeSource{}}},
			Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sh", "-c", script},
				VolumeMounts: []v1.VolumeMount{{Name: "v", MountPath: "/v"}, {Name: "v", MountPath: "/sub", SubPath: "x"}}}}}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The refusal is the kubelet's Failed event ("Error: ..."):
			// the status shows CreateContainerConfigError only until the
			// next pass of the back-off turns it into CrashLoopBackOff
			// (as the kubelet's reason cache does), so a poll can miss it.
			var refused *v1.Event
			waitFor(t, 60*time.Second, "the restart refused or the escape made", func() (bool, string) {
				if _, err := os.Stat(tc.written); err == nil {
					return true, ""
				}
				for _, e := range eventsOf(t, cl, "Pod", tc.name) {
					if e.Reason == "Failed" && strings.Contains(e.Message, subPathError) {
						refused = &e
						return true, ""
					}
				}
				return false, fmt.Sprintf("%+v", containerStatus(getPod(t, cl, tc.name), "c"))
			})
			if _, err := os.Stat(tc.written); err == nil {
				t.Fatalf("the container wrote %s on the host through its subPath", tc.written)
			}
			// The node posts the refusal's event at once and the pod's
			// status on its status manager's next write: the status may
			// still show the first run for a moment.
			var cs *v1.ContainerStatus
			waitFor(t, 30*time.Second, "the container waiting after the refusal", func() (bool, string) {
				cs = containerStatus(getPod(t, cl, tc.name), "c")
				return cs != nil && cs.State.Waiting != nil, fmt.Sprintf("%+v", cs)
			})
			if r := cs.State.Waiting.Reason; r != "CreateContainerConfigError" && r != "CrashLoopBackOff" {
				t.Errorf("waiting reason %q, want CreateContainerConfigError or CrashLoopBackOff", r)
			}
			for _, msg := range []string{refused.Message, cs.State.Waiting.Message} {
				if strings.Contains(msg, tc.target+"\"") || strings.Contains(msg, hostDir) {
					t.Errorf("a message names a host path: %q", msg)
				}
			}
			if last := cs.LastState.Terminated; last == nil || last.ExitCode != 1 {
				t.Errorf("the first run did not end as planted (exit 1): %+v", cs.LastState)
			}
		})
	}
	ents, err := os.ReadDir(hostDir)
	if err != nil || len(ents) != 1 {
		t.Errorf("the host directory changed: %v %v", ents, err)
	}
	if b, err := os.ReadFile(filepath.Join(hostDir, "marker")); err != nil || string(b) != "host data\n" {
		t.Errorf("the marker changed: %q %v", b, err)
	}
	// Deleting the pods unmounts and removes everything of them.
	for _, tc := range cases {
		if _, err := cl.Delete(ctxT(t, 5*time.Second), "pods", "default", tc.name, nil); err != nil {
			t.Fatal(err)
		}
	}
	podsDir := filepath.Join(nd.StateDir, "pods")
	waitFor(t, 60*time.Second, "the pods' directories removed", func() (bool, string) {
		ents, err := os.ReadDir(podsDir)
		return err == nil && len(ents) == 0, fmt.Sprint(ents, err)
	})
	if m := mountsUnder(t, nd.StateDir+"/pods/"); len(m) != 0 {
		t.Errorf("mounts left behind: %v", m)
	}
}

// A container plants a setuid-root binary in its /dev/shm and in an
// emptyDir. It must not give euid 0 to a non-root process in the container
// (nosuid; noexec for shm), nor to a host user (the agent's state tree is
// 0700, tightened at start when an older agent left it open), and no host
// user can write into the pod's shm.
func TestPodSetuidThroughVolumes(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 1, false, nil)
	cl, nd := c.Client(), nodes[0]
	// A state directory left world-readable (by an older agent, or made
	// by hand) is tightened when the agent starts.
	if err := os.Chmod(nd.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	nd.Kill()
	nd.Start()
	waitFor(t, 30*time.Second, "the agent restarted", func() (bool, string) {
		b, err := os.ReadFile(nd.LogPath)
		return strings.Count(string(b), "msg=registered") >= 2, fmt.Sprint(err)
	})

	elf := euidELF()
	var oct strings.Builder
	for _, b := range elf {
		fmt.Fprintf(&oct, "\\%03o", b)
	}
	script := "printf '" + oct.String() + "' > /tmp/euid && " +
		"for f in /tmp/euid /dev/shm/euid /v/euid; do cp /tmp/euid $f; chown 0:0 $f; chmod 4755 $f; done; " +
		"su -s /bin/sh nobody -c '/tmp/euid; echo rootfs=$?; /v/euid; echo emptydir=$?; /dev/shm/euid; echo shm=$?' > /v/result 2>&1; " +
		"grep ' /dev/shm ' /proc/mounts | tail -n 1 >> /v/result; touch /v/ready; exec sleep 100000"
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "setuid"}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: int64p(1),
		Volumes:                       []v1.Volume{{Name: "v", EmptyDir: &v1.EmptyDirVolumeSource{}}},
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sh", "-c", script},
			VolumeMounts: []v1.VolumeMount{{Name: "v", MountPath: "/v"}}}}}})
	var p *v1.Pod
	waitFor(t, 60*time.Second, "setuid running", func() (bool, string) {
		p = getPod(t, cl, "setuid")
		return p.Status.Phase == v1.PodRunning, p.Status.Phase
	})
	podDir := filepath.Join(nd.StateDir, "pods", p.UID)
	vol := filepath.Join(podDir, "volumes", "v")
	waitFor(t, 30*time.Second, "the container planted its binaries", func() (bool, string) {
		_, err := os.Stat(filepath.Join(vol, "ready"))
		return err == nil, fmt.Sprint(err)
	})
	res, err := os.ReadFile(filepath.Join(vol, "result"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("in the container:\n%s", res)

	t.Run("in the container", func(t *testing.T) {
		// exit status = euid & 0xff: 0 is root.
		if !strings.Contains(string(res), "rootfs=0") {
			t.Logf("the setuid binary did not elevate even in the root filesystem (no_new_privs?)")
		}
		for _, bad := range []string{"emptydir=0", "shm=0"} {
			if strings.Contains(string(res), bad) {
				t.Errorf("a non-root process got euid 0 through a setuid binary (%s)", bad)
			}
		}
		for _, opt := range []string{"nosuid", "nodev", "noexec"} {
			if !strings.Contains(string(res), opt) {
				t.Errorf("/dev/shm is mounted without %s", opt)
			}
		}
	})

	t.Run("on the host", func(t *testing.T) {
		// setpriv keeps root's capabilities until its own execve (it
		// resolves the program's path as root): a shell running as nobody
		// makes the exec, as a host user would.
		asNobody := func(args ...string) (string, error) {
			out, err := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups",
				"/bin/sh", "-c", `exec "$@"`, "sh"}, args...)...).CombinedOutput()
			return string(out), err
		}
		for _, bin := range []string{filepath.Join(vol, "euid"), filepath.Join(podDir, "shm", "euid")} {
			out, err := asNobody(bin)
			if err == nil {
				t.Errorf("nobody ran %s and got euid 0 (%q)", bin, out)
			}
		}
		shmFile := filepath.Join(podDir, "shm", "from-host")
		if out, err := asNobody("busybox", "touch", shmFile); err == nil {
			t.Errorf("nobody created a file in the pod's shm (%q)", out)
		}
		if _, err := os.Stat(shmFile); err == nil {
			t.Errorf("%s exists", shmFile)
		}
		for _, d := range []string{nd.StateDir, filepath.Join(nd.StateDir, "pods"), podDir} {
			if st, err := os.Stat(d); err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("%s: %v %v, want 0700", d, st.Mode(), err)
			}
		}
		for _, f := range []string{filepath.Join(podDir, "pod.json"), filepath.Join(podDir, "logs", "c", "0.log")} {
			if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v %v, want 0600", f, st.Mode(), err)
			}
		}
		opts := mountsUnder(t, filepath.Join(podDir, "shm"))[filepath.Join(podDir, "shm")]
		for _, opt := range []string{"nosuid", "nodev", "noexec"} {
			if !strings.Contains(opts, opt) {
				t.Errorf("the pod's shm is mounted on the host with %q, without %s", opts, opt)
			}
		}
	})
}

// mountsUnder returns the mount points of the host's mount table at or
// under prefix, with their options (mount and superblock).
func mountsUnder(t *testing.T, prefix string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.HasPrefix(f[4], prefix) {
			continue
		}
		opts := f[5]
		for i, x := range f {
			if x == "-" && i+3 < len(f) {
				opts += "," + f[i+3]
			}
		}
		out[f[4]] = opts
	}
	return out
}

// euidELF is a static x86-64 Linux program that exits with its effective
// uid (mod 256): 0 when it runs as root.
func euidELF() []byte {
	code := []byte{
		0xb8, 0x6b, 0x00, 0x00, 0x00, // mov eax, 107 (geteuid)
		0x0f, 0x05, // syscall
		0x89, 0xc7, // mov edi, eax
		0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
		0x0f, 0x05, // syscall
	}
	const base, hdr = 0x400000, 64 + 56
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	w(uint16(2))               // ET_EXEC
	w(uint16(0x3e))            // x86-64
	w(uint32(1))               // version
	w(uint64(base + hdr))      // entry
	w(uint64(64))              // program headers
	w(uint64(0))               // section headers
	w(uint32(0))               // flags
	w(uint16(64))              // header size
	w(uint16(56))              // program header size
	w(uint16(1))               // one program header
	w([3]uint16{})             // no sections
	w(uint32(1))               // PT_LOAD
	w(uint32(5))               // R+X
	w(uint64(0))               // offset
	w(uint64(base))            // vaddr
	w(uint64(base))            // paddr
	w(uint64(hdr + len(code))) // file size
	w(uint64(hdr + len(code))) // memory size
	w(uint64(0x1000))          // alignment
	b.Write(code)
	return b.Bytes()
}

// hostPath volumes: made and checked by type as the kubelet does, mounted
// read-write or read-only, a subPath in them resolved inside them; deleting
// the pod leaves the host's files where they were.
func TestPodHostPathVolumes(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 1, false, nil)
	cl, nd := c.Client(), nodes[0]
	// hostPath volumes are for pods that own their node: only the
	// privileged Pod Security level admits them.
	allowPrivilegedPods(t, cl, "default")
	hostDir := t.TempDir()
	for _, d := range []string{"vol/inside", "outside"} {
		if err := os.MkdirAll(filepath.Join(hostDir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{"file": "host file\n", "vol/inside/data": "inside\n", "outside/secret": "secret\n"} {
		if err := os.WriteFile(filepath.Join(hostDir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"vol/in": "inside", "vol/out": filepath.Join(hostDir, "outside")} {
		if err := os.Symlink(target, filepath.Join(hostDir, link)); err != nil {
			t.Fatal(err)
		}
	}
	typ := func(s v1.HostPathType) *v1.HostPathType { return &s }
	made := filepath.Join(hostDir, "made", "dir")
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "hostpath"}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: int64p(1),
		Volumes: []v1.Volume{
			{Name: "made", HostPath: &v1.HostPathVolumeSource{Path: made, Type: typ(v1.HostPathDirectoryOrCreate)}},
			{Name: "file", HostPath: &v1.HostPathVolumeSource{Path: filepath.Join(hostDir, "file"), Type: typ(v1.HostPathFile)}},
			{Name: "vol", HostPath: &v1.HostPathVolumeSource{Path: filepath.Join(hostDir, "vol")}},
		},
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
			Command: []string{"sh", "-c", "cat /file /in/data > /made/out; echo x >> /file || echo read-only >> /made/out; exec sleep 100000"},
			VolumeMounts: []v1.VolumeMount{{Name: "made", MountPath: "/made"}, {Name: "file", MountPath: "/file", ReadOnly: true},
				{Name: "vol", MountPath: "/in", SubPath: "in"}}}}}})
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "hostpath-missing"}, Spec: v1.PodSpec{
		Volumes: []v1.Volume{{Name: "h", HostPath: &v1.HostPathVolumeSource{Path: filepath.Join(hostDir, "nope"), Type: typ(v1.HostPathDirectory)}}},
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"},
			VolumeMounts: []v1.VolumeMount{{Name: "h", MountPath: "/h"}}}}}})
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "hostpath-file"}, Spec: v1.PodSpec{
		Volumes: []v1.Volume{{Name: "h", HostPath: &v1.HostPathVolumeSource{Path: filepath.Join(hostDir, "file"), Type: typ(v1.HostPathDirectory)}}},
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"},
			VolumeMounts: []v1.VolumeMount{{Name: "h", MountPath: "/h"}}}}}})
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "hostpath-escape"}, Spec: v1.PodSpec{
		Volumes: []v1.Volume{{Name: "v", HostPath: &v1.HostPathVolumeSource{Path: filepath.Join(hostDir, "vol")}}},
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"},
			VolumeMounts: []v1.VolumeMount{{Name: "v", MountPath: "/out", SubPath: "out"}}}}}})

	waitFor(t, 60*time.Second, "hostpath wrote its output", func() (bool, string) {
		b, err := os.ReadFile(filepath.Join(made, "out"))
		return strings.Contains(string(b), "read-only"), fmt.Sprint(string(b), err)
	})
	if b, _ := os.ReadFile(filepath.Join(made, "out")); string(b) != "host file\ninside\nread-only\n" {
		t.Errorf("the container saw %q", b)
	}
	if st, err := os.Stat(made); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("DirectoryOrCreate made %v %v, want 0755", st.Mode(), err)
	}
	for name, want := range map[string]string{
		"hostpath-missing": `MountVolume.SetUp failed for volume "h" : hostPath ` + filepath.Join(hostDir, "nope") + ` doesn't exist`,
		"hostpath-file":    `MountVolume.SetUp failed for volume "h" : hostPath type check failed: ` + filepath.Join(hostDir, "file") + ` is not a directory, it's a File`,
		"hostpath-escape":  `failed to prepare subPath for volumeMount "v" of container "c"`,
	} {
		waitFor(t, 60*time.Second, name+" refused", func() (bool, string) {
			cs := containerStatus(getPod(t, cl, name), "c")
			if cs == nil || cs.State.Waiting == nil {
				return false, fmt.Sprintf("%+v", cs)
			}
			w := cs.State.Waiting
			return w.Reason == "CreateContainerConfigError" && w.Message == want, w.Reason + ": " + w.Message
		})
	}

	for _, name := range []string{"hostpath", "hostpath-missing", "hostpath-file", "hostpath-escape"} {
		if _, err := cl.Delete(ctxT(t, 5*time.Second), "pods", "default", name, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "the pods' directories removed", func() (bool, string) {
		ents, err := os.ReadDir(filepath.Join(nd.StateDir, "pods"))
		return err == nil && len(ents) == 0, fmt.Sprint(ents, err)
	})
	for name, want := range map[string]string{"file": "host file\n", "vol/inside/data": "inside\n", "outside/secret": "secret\n"} {
		if b, err := os.ReadFile(filepath.Join(hostDir, name)); err != nil || string(b) != want {
			t.Errorf("%s after the pods were deleted: %q %v", name, b, err)
		}
	}
	if m := mountsUnder(t, hostDir); len(m) != 0 {
		t.Errorf("mounts left on the host directory: %v", m)
	}
}
