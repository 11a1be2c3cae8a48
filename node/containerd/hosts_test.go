package containerd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"

	"orch.io/orch/node/credentialprovider"
	"orch.io/orch/node/ociimage"
)

// writeHosts writes dir/<registry dir>/hosts.toml with server and one
// host section per mirror (plain HTTP, pull and resolve).
func writeHosts(t *testing.T, dir, registryDir, server string, mirrors ...string) {
	t.Helper()
	toml := ""
	if server != "" {
		toml = fmt.Sprintf("server = %q\n", server)
	}
	for _, m := range mirrors {
		toml += fmt.Sprintf("\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", m)
	}
	if err := os.MkdirAll(filepath.Join(dir, registryDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, registryDir, "hosts.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConfiguredHosts: the hosts a pull tries, in order, and whom its
// credentials are offered to, from a hosts configuration directory.
func TestConfiguredHosts(t *testing.T) {
	dir := t.TempDir()
	writeHosts(t, dir, "docker.io", "https://registry-1.docker.io", "http://10.1.2.3:5000")
	writeHosts(t, dir, "registry.k8s.io", "https://registry.k8s.io", "http://10.1.2.3:5000", "https://mirror.example.com")
	writeHosts(t, dir, "10.0.0.5_5000_", "http://10.0.0.5:5000")
	auth := credentialprovider.AuthConfig{Username: "u", Password: "p"}
	for _, tc := range []struct {
		ref, registry string
		want          []string // scheme://host of each host, in order
		credsTo       []string // hosts auth is offered to
		noCredsTo     []string
	}{
		{ref: "nginx", registry: "docker.io",
			want:    []string{"http://10.1.2.3:5000", "https://registry-1.docker.io"},
			credsTo: []string{"10.1.2.3:5000", "registry-1.docker.io"}, noCredsTo: []string{"auth.docker.io", "registry.k8s.io"}},
		{ref: "registry.k8s.io/busybox", registry: "registry.k8s.io",
			want:    []string{"http://10.1.2.3:5000", "https://mirror.example.com", "https://registry.k8s.io"},
			credsTo: []string{"10.1.2.3:5000", "mirror.example.com", "registry.k8s.io"}, noCredsTo: []string{"registry-1.docker.io"}},
		// A port is _<port>_ in the directory's name.
		{ref: "10.0.0.5:5000/team/app:1", registry: "10.0.0.5:5000",
			want: []string{"http://10.0.0.5:5000"}, credsTo: []string{"10.0.0.5:5000"}, noCredsTo: []string{"10.1.2.3:5000"}},
		// No directory: as containerd without one.
		{ref: "quay.io/team/app:1", registry: "quay.io",
			want: []string{"https://quay.io"}, credsTo: []string{"quay.io"}, noCredsTo: []string{"10.1.2.3:5000"}},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			hosts, err := configuredHosts(context.Background(), dir, tc.ref, &auth)(tc.registry)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range hosts {
				got = append(got, h.Scheme+"://"+h.Host)
				if h.Path != "/v2" || h.Authorizer == nil {
					t.Errorf("%s: path %q, authorizer %v", h.Host, h.Path, h.Authorizer)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("hosts %v, want %v", got, tc.want)
			}
			var mirrors []string
			for _, h := range hosts {
				mirrors = append(mirrors, h.Host)
			}
			creds := credsFor(tc.ref, auth, mirrors)
			for _, h := range tc.credsTo {
				if u, p, _ := creds(h); u != "u" || p != "p" {
					t.Errorf("no credentials offered to %s", h)
				}
			}
			for _, h := range tc.noCredsTo {
				if u, p, _ := creds(h); u != "" || p != "" {
					t.Errorf("credentials offered to %s", h)
				}
			}
		})
	}
}

// TestPullThroughMirror pulls through a hosts configuration whose
// registry ("upstream", a docker-registry on loopback) has a mirror
// (another one): an image only the mirror holds is pulled from it; one
// only upstream holds is pulled after the mirror answers 404; with the
// mirror stopped, pulls fall back to upstream, as containerd's do. A
// mirror asking for credentials gets the pull's, and refuses a pull
// without them.
func TestPullThroughMirror(t *testing.T) {
	_, rt := StartTestContainerd(t)
	upstream := StartTestRegistry(t)
	mirror := StartTestRegistry(t)
	private := StartTestRegistryWithUsers(t, map[string]string{"puller": "s3cret"})
	ctx := rt.ns(testCtx(t, 3*time.Minute))
	src, err := rt.client.GetImage(ctx, ociimage.BusyboxImage)
	if err != nil {
		t.Fatal(err)
	}
	good := credentialprovider.AuthConfig{Username: "puller", Password: "s3cret"}
	push := func(reg *TestRegistry, repo string, auth *credentialprovider.AuthConfig) {
		t.Helper()
		ref := reg.Host + "/" + repo
		if err := rt.client.Push(ctx, ref, src.Target(), client.WithResolver(newResolver(ctx, ref, auth, ""))); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
	push(mirror, "orch/mirrored:1", nil)
	push(upstream, "orch/upstream-only:1", nil)
	push(private, "orch/private:1", &good)

	dir := t.TempDir()
	hostDir := func(host string) string { return strings.Replace(host, ":", "_", 1) + "_" }
	writeHosts(t, dir, hostDir(upstream.Host), "http://"+upstream.Host, "http://"+mirror.Host)
	// A registry whose only mirror needs credentials; the registry itself
	// (a closed port) is never reached.
	closed, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	gated := fmt.Sprintf("127.0.0.1:%d", closed)
	writeHosts(t, dir, hostDir(gated), "http://"+gated, "http://"+private.Host)
	rt.cfg.RegistryConfigDir = dir

	pull := func(ref string, auth []credentialprovider.AuthConfig) error {
		t.Helper()
		_, err := rt.EnsureImage(ctx, ref, PullAlways, auth)
		if err == nil {
			if err := rt.client.ImageService().Delete(ctx, ref, images.SynchronousDelete()); err != nil {
				t.Fatal(err)
			}
		}
		return err
	}
	mirrored := upstream.Host + "/orch/mirrored:1"
	if err := pull(mirrored, nil); err != nil {
		t.Errorf("an image only the mirror holds: %v", err)
	}
	if err := pull(upstream.Host+"/orch/upstream-only:1", nil); err != nil {
		t.Errorf("an image only upstream holds: %v", err)
	}
	if err := pull(gated+"/orch/private:1", nil); err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Errorf("anonymous pull through a mirror with htpasswd: %v, want 401 Unauthorized", err)
	}
	if err := pull(gated+"/orch/private:1", []credentialprovider.AuthConfig{good}); err != nil {
		t.Errorf("pull with credentials through a mirror with htpasswd: %v", err)
	}

	// Without the hosts configuration the mirror plays no part.
	rt.cfg.RegistryConfigDir = ""
	if err := pull(mirrored, nil); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("pull without the hosts configuration: %v, want not found", err)
	}
	rt.cfg.RegistryConfigDir = dir

	// The mirror gone: upstream serves.
	push(upstream, "orch/mirrored:1", nil)
	if err := mirror.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := pull(mirrored, nil); err != nil {
		t.Errorf("with the mirror stopped: %v", err)
	}
}
