package harness

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"orch.io/orch/node/ociimage"
)

// Mirror is the registry mirror of an air-gapped site, as a test network
// has it: an anonymous docker-registry on a host of its own on the
// network, holding the images the Kubernetes docs' examples name
// (MirrorImages), and a containerd hosts configuration directory that
// sends pulls from docker.io and registry.k8s.io to it — what nodes are
// given with --registry-config-dir (Options.RegistryMirror). The mirror is
// each registry's server, not a host tried before it: a pull of an image
// the mirror lacks fails there and never leaves the machine.
type Mirror struct {
	*Registry
	// HostsDir is the hosts configuration directory
	// (HostsDir/docker.io/hosts.toml, HostsDir/registry.k8s.io/hosts.toml).
	HostsDir string
	// Digests are the manifest digests of the images it holds, by full
	// name (docker.io/library/nginx:latest).
	Digests map[string]string
}

// MirrorImage is an image a Mirror holds.
type MirrorImage struct {
	// Registry is the registry the image's name names (docker.io).
	Registry string
	// Repo and Tag are its repository and tag (library/nginx, latest).
	Repo, Tag string
	// Cmd is the image's default command (default sh).
	Cmd []string
	// HostFiles are the machine's executables the image also holds (with
	// the shared libraries ldd lists for each), at the same paths.
	HostFiles []string
}

// MirrorImages are the images a Mirror holds: those the Kubernetes docs'
// examples name untagged (so pulled Always), each the test busybox image
// with what the example runs in it — nginx's stand-in serves HTTP on port
// 80 with busybox httpd until it is stopped; debian adds printenv, which
// busybox-static lacks (commands.yaml runs it).
func MirrorImages() []MirrorImage {
	return []MirrorImage{
		{Registry: "docker.io", Repo: "library/nginx", Tag: "latest", Cmd: []string{"httpd", "-f", "-p", "80", "-h", "/var/www"}},
		{Registry: "docker.io", Repo: "library/debian", Tag: "latest", HostFiles: []string{"printenv"}},
		{Registry: "registry.k8s.io", Repo: "busybox", Tag: "latest"},
	}
}

// StartMirror starts a Mirror on a new host of n: the registry, the
// images of MirrorImages pushed to it, and the hosts configuration. The
// registry stops by PID and the host's namespace goes with t.Cleanup.
func (n *Net) StartMirror() *Mirror {
	t := n.t
	t.Helper()
	netns, ip := n.addHost("mirror")
	reg := startRegistry(t, netns, ip, filepath.Join(t.TempDir(), "registry-mirror.log"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := &Mirror{Registry: reg, HostsDir: t.TempDir(), Digests: map[string]string{}}
	registries := map[string]bool{}
	for _, img := range MirrorImages() {
		files := map[string][]byte{}
		for _, name := range img.HostFiles {
			path, err := exec.LookPath(name)
			if err != nil {
				t.Fatalf("mirror image %s: %v", img.Repo, err)
			}
			libs, err := SharedLibs(path)
			if err != nil {
				t.Fatalf("mirror image %s: %v", img.Repo, err)
			}
			for _, f := range append(libs, path) {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatalf("mirror image %s: %v", img.Repo, err)
				}
				files[strings.TrimPrefix(f, "/")] = b
			}
		}
		m.Digests[img.Registry+"/"+img.Repo+":"+img.Tag] = reg.Push(ctx, img.Repo, img.Tag, "", "", ociimage.BusyboxOptions{Files: files, Cmd: img.Cmd})
		registries[img.Registry] = true
	}
	for registry := range registries {
		dir := filepath.Join(m.HostsDir, registry)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("mirror hosts configuration: %v", err)
		}
		hosts := fmt.Sprintf("# %s is mirrored by the test network's registry.\nserver = %q\n", registry, reg.URL)
		if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(hosts), 0o644); err != nil {
			t.Fatalf("mirror hosts configuration: %v", err)
		}
	}
	return m
}

// SharedLibs returns the shared libraries (and the dynamic loader) ldd
// lists for the executable at path, as absolute paths; none for a static
// one.
func SharedLibs(path string) ([]string, error) {
	out, err := exec.Command("ldd", path).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %w\n%s", path, err, out)
	}
	var libs []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		// "libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x...)",
		// "/lib64/ld-linux-x86-64.so.2 (0x...)" or "linux-vdso.so.1 (0x...)".
		line := strings.TrimSpace(sc.Text())
		if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("ldd %s: %s", path, line)
		}
		if _, after, ok := strings.Cut(line, "=>"); ok {
			line = strings.TrimSpace(after)
		}
		if f := strings.Fields(line); len(f) > 0 && filepath.IsAbs(f[0]) {
			libs = append(libs, f[0])
		}
	}
	return libs, nil
}
