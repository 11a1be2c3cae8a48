package containerd

import (
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"orch.io/orch/node/ociimage"
)

func TestRegistryHostsScheme(t *testing.T) {
	for _, tc := range []struct {
		host, wantScheme, wantHost string
	}{
		{"127.0.0.1:5000", "http", "127.0.0.1:5000"},
		{"127.0.0.1", "http", "127.0.0.1"},
		{"127.1.2.3:5000", "http", "127.1.2.3:5000"},
		{"localhost:5000", "http", "localhost:5000"},
		{"localhost", "http", "localhost"},
		{"[::1]:5000", "http", "[::1]:5000"},
		{"::1", "http", "::1"},
		{"docker.io", "https", "registry-1.docker.io"},
		{"registry.example.com:5000", "https", "registry.example.com:5000"},
		{"10.0.0.1:5000", "https", "10.0.0.1:5000"},
		{"localhost.example.com", "https", "localhost.example.com"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			hosts, err := registryHosts()(tc.host)
			if err != nil {
				t.Fatal(err)
			}
			if len(hosts) != 1 {
				t.Fatalf("%d hosts: %+v", len(hosts), hosts)
			}
			h := hosts[0]
			if h.Scheme != tc.wantScheme || h.Host != tc.wantHost || h.Path != "/v2" {
				t.Errorf("%s://%s%s, want %s://%s/v2", h.Scheme, h.Host, h.Path, tc.wantScheme, tc.wantHost)
			}
			if h.Authorizer == nil {
				t.Error("no authorizer: registries that hand out anonymous tokens (docker.io) would answer 401")
			}
		})
	}
}

// TestPullFromLocalRegistry pushes the test busybox image to a
// docker-registry on loopback (plain HTTP), removes every local copy of its
// content and pulls it back through EnsureImage.
func TestPullFromLocalRegistry(t *testing.T) {
	_, rt := StartTestContainerd(t)
	reg := StartTestRegistry(t)
	ctx := rt.ns(testCtx(t, 2*time.Minute))

	src, err := rt.client.GetImage(ctx, ociimage.BusyboxImage)
	if err != nil {
		t.Fatal(err)
	}
	pushed := src.Target()
	ref := reg.Host + "/orch/busybox:1.35"
	if err := rt.client.Push(ctx, ref, pushed, client.WithResolver(newResolver(ctx, ref, nil, ""))); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	layers := imageBlobs(t, rt, src)

	// Without the imported image, garbage collection removes its blobs and
	// snapshots: the pull has to fetch every blob from the registry.
	if err := rt.client.ImageService().Delete(ctx, ociimage.BusyboxImage, images.SynchronousDelete()); err != nil {
		t.Fatal(err)
	}
	for _, d := range append(layers, pushed) {
		if _, err := rt.client.ContentStore().Info(ctx, d.Digest); !errdefs.IsNotFound(err) {
			t.Fatalf("blob %s (%s) still in the content store after delete: %v", d.Digest, d.MediaType, err)
		}
	}
	if _, err := rt.client.GetImage(ctx, ref); !errdefs.IsNotFound(err) {
		t.Fatalf("%s present before the pull: %v", ref, err)
	}

	missingTag := reg.Host + "/orch/busybox:no-such-tag"
	missingRepo := reg.Host + "/orch/no-such-repo:1"
	neverMsg := "is not present on the node and imagePullPolicy is Never"
	for _, tc := range []struct {
		name, image, policy string
		// wantErr is a substring of the error; empty means success with
		// the pushed manifest's digest.
		wantErr      string
		wantNotFound bool
	}{
		{name: "Always pulls an absent image", image: ref, policy: PullAlways},
		{name: "Always pulls again", image: ref, policy: PullAlways},
		{name: "IfNotPresent present", image: ref, policy: PullIfNotPresent},
		{name: "Always missing tag", image: missingTag, policy: PullAlways, wantErr: missingTag, wantNotFound: true},
		{name: "IfNotPresent missing tag", image: missingTag, policy: PullIfNotPresent, wantErr: missingTag, wantNotFound: true},
		{name: "Always missing repository", image: missingRepo, policy: PullAlways, wantErr: missingRepo, wantNotFound: true},
		{name: "Never missing", image: missingTag, policy: PullNever, wantErr: neverMsg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := rt.EnsureImage(testCtx(t, time.Minute), tc.image, tc.policy, nil)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if info.Name != tc.image || info.Digest != pushed.Digest.String() {
					t.Fatalf("EnsureImage = %+v, want %s at %s", info, tc.image, pushed.Digest)
				}
				return
			}
			t.Logf("error: %v", err)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if errdefs.IsNotFound(err) != tc.wantNotFound {
				t.Errorf("IsNotFound(%v) = %v, want %v", err, !tc.wantNotFound, tc.wantNotFound)
			}
			if _, err := rt.client.GetImage(ctx, tc.image); !errdefs.IsNotFound(err) {
				t.Errorf("image store after the failed pull: GetImage(%s) = %v, want not found", tc.image, err)
			}
		})
	}

	// The pulled image is complete and unpacked: a container runs from it.
	for _, d := range append(layers, pushed) {
		if _, err := rt.client.ContentStore().Info(ctx, d.Digest); err != nil {
			t.Errorf("blob %s (%s) after the pull: %v", d.Digest, d.MediaType, err)
		}
	}
	img, err := rt.client.GetImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := img.IsUnpacked(ctx, rt.cfg.Snapshotter); err != nil || !ok {
		t.Fatalf("pulled image unpacked = %v, %v", ok, err)
	}
	spec := busyboxSpec(t, "uid-pull", "pulled", "true")
	spec.Image = ref
	id, err := rt.StartContainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	exitC, err := rt.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-exitC:
		if st.Err != nil || st.Code != 0 {
			t.Errorf("container from the pulled image: exit %+v, want 0", st)
		}
	case <-ctx.Done():
		t.Fatal("container from the pulled image did not exit")
	}
	if c, ok := findContainer(t, rt, id); !ok || c.ImageID != pushed.Digest.String() {
		t.Errorf("listed container = %+v (found %v), want image ID %s", c, ok, pushed.Digest)
	}
	if err := rt.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := rt.RemovePod(ctx, "uid-pull"); err != nil {
		t.Fatal(err)
	}

	// With the registry gone, only Always needs it.
	if err := reg.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, policy string
		wantErr      bool
	}{
		{name: "IfNotPresent", policy: PullIfNotPresent},
		{name: "default policy", policy: ""},
		{name: "Never", policy: PullNever},
		{name: "Always", policy: PullAlways, wantErr: true},
	} {
		t.Run("registry stopped/"+tc.name, func(t *testing.T) {
			info, err := rt.EnsureImage(testCtx(t, time.Minute), ref, tc.policy, nil)
			if tc.wantErr {
				t.Logf("error: %v", err)
				if err == nil || !strings.Contains(err.Error(), ref) {
					t.Fatalf("error %v, want one naming %s", err, ref)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Digest != pushed.Digest.String() {
				t.Fatalf("EnsureImage = %+v, want digest %s", info, pushed.Digest)
			}
		})
	}
	// A failed Always pull leaves the present image alone.
	if _, err := rt.client.GetImage(ctx, ref); err != nil {
		t.Errorf("image after the failed Always pull: %v", err)
	}
}

// imageBlobs returns the descriptors of img's config and layers.
func imageBlobs(t *testing.T, rt *Runtime, img client.Image) []ocispec.Descriptor {
	t.Helper()
	ctx := rt.ns(testCtx(t, 10*time.Second))
	m, err := images.Manifest(ctx, rt.client.ContentStore(), img.Target(), img.Platform())
	if err != nil {
		t.Fatalf("manifest of %s: %v", img.Name(), err)
	}
	return append([]ocispec.Descriptor{m.Config}, m.Layers...)
}
