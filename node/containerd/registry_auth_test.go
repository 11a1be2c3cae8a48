package containerd

import (
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"

	"orch.io/orch/node/credentialprovider"
	"orch.io/orch/node/ociimage"
)

// TestPullWithCredentials pushes the test busybox image to a registry
// that asks for htpasswd credentials and pulls it back through
// EnsureImage: anonymously and with a wrong password the pull fails with
// the registry's 401 and leaves nothing; with the right credentials, also
// after wrong ones (each is tried, as the kubelet tries them), it works.
func TestPullWithCredentials(t *testing.T) {
	_, rt := StartTestContainerd(t)
	reg := StartTestRegistryWithUsers(t, map[string]string{"puller": "s3cret"})
	ctx := rt.ns(testCtx(t, 2*time.Minute))

	src, err := rt.client.GetImage(ctx, ociimage.BusyboxImage)
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/orch/private:1"
	good := credentialprovider.AuthConfig{Username: "puller", Password: "s3cret"}
	bad := credentialprovider.AuthConfig{Username: "puller", Password: "wrong"}
	if err := rt.client.Push(ctx, ref, src.Target(), client.WithResolver(newResolver(ctx, ref, &bad, ""))); err == nil {
		t.Fatal("push with a wrong password worked")
	}
	if err := rt.client.Push(ctx, ref, src.Target(), client.WithResolver(newResolver(ctx, ref, &good, ""))); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	if err := rt.client.ImageService().Delete(ctx, ociimage.BusyboxImage, images.SynchronousDelete()); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		auth    []credentialprovider.AuthConfig
		wantErr string
	}{
		{name: "anonymous", wantErr: "401 Unauthorized"},
		{name: "wrong password", auth: []credentialprovider.AuthConfig{bad}, wantErr: "401 Unauthorized"},
		{name: "two wrong ones", auth: []credentialprovider.AuthConfig{bad, bad}, wantErr: "401 Unauthorized"},
		{name: "wrong then right", auth: []credentialprovider.AuthConfig{bad, good}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := rt.EnsureImage(testCtx(t, time.Minute), ref, PullAlways, tc.auth)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if info.Digest != src.Target().Digest.String() {
					t.Fatalf("EnsureImage = %+v, want digest %s", info, src.Target().Digest)
				}
				return
			}
			t.Logf("error: %v", err)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) ||
				!strings.Contains(err.Error(), `failed to pull and unpack image "`+ref+`"`) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if _, err := rt.client.GetImage(ctx, ref); !errdefs.IsNotFound(err) {
				t.Errorf("image store after the failed pull: GetImage = %v, want not found", err)
			}
		})
	}
}

// TestCredsFor: a pull's credentials are offered to its image's registry
// only.
func TestCredsFor(t *testing.T) {
	auth := credentialprovider.AuthConfig{Username: "u", Password: "p"}
	for _, tc := range []struct {
		ref, host string
		want      bool
	}{
		{"127.0.0.1:5000/orch/app:1", "127.0.0.1:5000", true},
		{"127.0.0.1:5000/orch/app:1", "127.0.0.1:5001", false},
		{"127.0.0.1:5000/orch/app:1", "auth.example.com", false},
		{"registry.example.com/team/app@sha256:" + strings.Repeat("a", 64), "registry.example.com", true},
		{"busybox", "registry-1.docker.io", true},
		{"busybox", "auth.docker.io", false},
		{"Not A Ref", "", false},
	} {
		user, pass, err := credsFor(tc.ref, auth, nil)(tc.host)
		if err != nil {
			t.Fatal(err)
		}
		if got := user == "u" && pass == "p"; got != tc.want {
			t.Errorf("%s: credentials offered to %q = %v, want %v", tc.ref, tc.host, got, tc.want)
		}
	}
}
