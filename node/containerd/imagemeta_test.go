package containerd

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"orch.io/orch/node/ociimage"
)

// errStoreRead is what the fake store answers for any blob.
var errStoreRead = errors.New("read from the store")

type failingStore struct{ content.Store }

func (failingStore) ReaderAt(context.Context, ocispec.Descriptor) (content.ReaderAt, error) {
	return nil, errStoreRead
}

func TestConfigStoreServesTheConfigFromMemory(t *testing.T) {
	blob := []byte(`{"config":{"User":"1000"}}`)
	cfg := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(blob), Size: int64(len(blob))}
	s := configStore{Store: failingStore{}, desc: cfg, blob: blob}
	for _, tc := range []struct {
		name    string
		desc    ocispec.Descriptor
		want    []byte
		wantErr error
	}{
		{"the config", cfg, blob, nil},
		{"another blob", ocispec.Descriptor{Digest: digest.FromString("layer")}, nil, errStoreRead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := content.ReadBlob(context.Background(), s, tc.desc)
			if !errors.Is(err, tc.wantErr) || string(got) != string(tc.want) {
				t.Errorf("ReadBlob = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
	ra, err := s.ReaderAt(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ra.Size() != int64(len(blob)) || ra.Close() != nil {
		t.Errorf("size %d, want %d", ra.Size(), len(blob))
	}
	if _, err := ra.ReadAt(make([]byte, 1), int64(len(blob))); err != io.EOF {
		t.Errorf("read past the end: %v, want EOF", err)
	}
}

// TestImageMetaReadOnceAndUnpackedAgain: the config and layers of an image
// version are read once; a start whose snapshot went missing unpacks the
// image again.
func TestImageMetaReadOnceAndUnpackedAgain(t *testing.T) {
	_, rt := StartTestContainerd(t)
	ctx := rt.ns(testCtx(t, 30*time.Second))
	first, err := rt.image(ctx, ociimage.BusyboxImage)
	if err != nil {
		t.Fatal(err)
	}
	if first.config.Config.Cmd == nil && first.config.Config.Entrypoint == nil || first.chainID == "" {
		t.Fatalf("metadata %+v: no command or chain ID", first)
	}
	info, err := rt.EnsureImage(ctx, ociimage.BusyboxImage, PullNever, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.User != first.config.Config.User || info.Digest != first.img.Target().Digest.String() {
		t.Errorf("EnsureImage = %+v, metadata user %q digest %s", info, first.config.Config.User, first.img.Target().Digest)
	}
	again, err := rt.image(ctx, ociimage.BusyboxImage)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Error("the same image version was read again")
	}

	sn := rt.client.SnapshotService(rt.cfg.Snapshotter)
	if err := sn.Remove(ctx, first.chainID); err != nil {
		t.Fatalf("remove the image's snapshot: %v", err)
	}
	if _, err := rt.image(ctx, ociimage.BusyboxImage); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(ctx, first.chainID); err != nil {
		t.Fatalf("snapshot after the start: %v (want it unpacked again)", err)
	}
	id, err := rt.StartContainer(ctx, busyboxSpec(t, "meta-uid", "c", "sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.RemoveContainer(context.Background(), id) })
	if err := rt.StopContainer(ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
}
