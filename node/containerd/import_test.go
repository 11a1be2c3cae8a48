package containerd

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/node/ociimage"
)

// An import replaces a tag no container uses, but refuses (409, naming the
// pods, changing nothing) to give a tag in use another digest: the attack
// of an image swapped under a running pod's feet, run at its next restart.
func TestImportNeverReplacesATagInUse(t *testing.T) {
	_, rt := StartTestContainerd(t)
	ctx := testCtx(t, 2*time.Minute)
	build := func(marker string) []byte {
		var b bytes.Buffer
		opts := ociimage.BusyboxOptions{}
		if marker != "" {
			opts.Files = map[string][]byte{"bin/marker": []byte("#!/bin/sh\necho " + marker + "\n")}
		}
		if err := ociimage.WriteBusybox(&b, opts); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	digest := func() string {
		img, err := rt.client.ImageService().Get(rt.ns(ctx), ociimage.BusyboxImage)
		if err != nil {
			t.Fatal(err)
		}
		return img.Target.Digest.String()
	}
	original := digest()
	evil := build("evil")

	// No container uses the tag: it is replaced, and can be put back.
	if _, err := rt.ImportImages(ctx, bytes.NewReader(evil)); err != nil {
		t.Fatalf("replace an unused tag: %v", err)
	}
	evilDigest := digest()
	if evilDigest == original {
		t.Fatal("the marked image has the same digest")
	}
	if _, err := rt.ImportImages(ctx, bytes.NewReader(build(""))); err != nil {
		t.Fatalf("put the original back: %v", err)
	}
	if digest() != original {
		t.Fatalf("digest %s, want the original %s", digest(), original)
	}

	// A pod's container uses the tag.
	id, err := rt.StartContainer(ctx, busyboxSpec(t, "uid-imp", "main", "sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	waitRunning(t, rt, id)
	_, err = rt.ImportImages(ctx, bytes.NewReader(evil))
	if v1.CodeOf(err) != 409 || !strings.Contains(err.Error(), "default/pod-uid-imp") ||
		!strings.Contains(err.Error(), ociimage.BusyboxImage) {
		t.Fatalf("import over a tag in use: %v, want 409 naming the image and pod default/pod-uid-imp", err)
	}
	if digest() != original {
		t.Fatalf("the refused import changed the image to %s", digest())
	}
	// The same image again changes nothing and is accepted.
	if _, err := rt.ImportImages(ctx, bytes.NewReader(build(""))); err != nil {
		t.Fatalf("re-import the image in use: %v", err)
	}
	// Nothing is left in the staging namespace.
	list, err := rt.client.ImageService().List(namespaces.WithNamespace(ctx, importStagingNamespace))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) > 0 {
		t.Errorf("staged images left behind: %v", list)
	}
}
