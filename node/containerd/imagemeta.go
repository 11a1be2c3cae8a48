package containerd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A container start needs an image's config (entrypoint, env, user) and
// the chain ID of its layers (the parent of the container's snapshot).
// Reading them costs several round trips to containerd each time (the
// manifest and the config blob, each an Info and a Read, for the unpack
// check, for the config, again for the spec and for the snapshot), and
// EnsureImage and StartContainer each did so for every container. Both
// are fixed by the manifest's digest, so the runtime reads them once per
// image version, as containerd's CRI plugin keeps its image store in
// memory. A start still looks the name up (a tag may move) and checks the
// snapshot, one round trip each.

// maxImageMetas bounds the cache; when full it starts over.
const maxImageMetas = 256

// imageMeta is what the runtime keeps of one image version.
type imageMeta struct {
	// img is the image as looked up when the entry was made; it keeps
	// its layers' diff IDs, so a snapshot made from it reads nothing.
	img        client.Image
	config     ocispec.Image
	configDesc ocispec.Descriptor
	configBlob []byte
	// chainID is the chain ID of the image's layers.
	chainID string
}

// imageMetas caches imageMeta by image name and manifest digest.
type imageMetas struct {
	mu sync.Mutex
	m  map[string]*imageMeta
}

// get returns the entry of img's version, reading it on first use.
func (c *imageMetas) get(ctx context.Context, img client.Image) (*imageMeta, error) {
	key := img.Name() + "@" + img.Target().Digest.String()
	c.mu.Lock()
	meta := c.m[key]
	c.mu.Unlock()
	if meta != nil {
		return meta, nil
	}
	meta, err := readImageMeta(ctx, img)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxImageMetas {
		c.m = map[string]*imageMeta{}
	}
	c.m[key] = meta
	return meta, nil
}

// readImageMeta reads an image's config and layers from the content store.
func readImageMeta(ctx context.Context, img client.Image) (*imageMeta, error) {
	desc, err := img.Config(ctx)
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w", img.Name(), err)
	}
	if !images.IsConfigType(desc.MediaType) {
		return nil, fmt.Errorf("image %s config: unknown media type %s", img.Name(), desc.MediaType)
	}
	blob, err := content.ReadBlob(ctx, img.ContentStore(), desc)
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w", img.Name(), err)
	}
	meta := &imageMeta{img: img, configDesc: desc, configBlob: blob}
	if err := json.Unmarshal(blob, &meta.config); err != nil {
		return nil, fmt.Errorf("image %s config: %w", img.Name(), err)
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		return nil, fmt.Errorf("image %s layers: %w", img.Name(), err)
	}
	meta.chainID = identity.ChainID(diffIDs).String()
	return meta, nil
}

// image looks up name and returns its metadata (see unpacked).
func (r *Runtime) image(ctx context.Context, name string) (*imageMeta, error) {
	img, err := r.client.GetImage(ctx, name)
	if err != nil {
		return nil, err
	}
	return r.unpacked(ctx, img)
}

// unpacked returns img's cached metadata, unpacking the image into the
// snapshotter when its snapshot is missing.
func (r *Runtime) unpacked(ctx context.Context, img client.Image) (*imageMeta, error) {
	name := img.Name()
	meta, err := r.images.get(ctx, img)
	if err != nil {
		return nil, err
	}
	if _, err := r.client.SnapshotService(r.cfg.Snapshotter).Stat(ctx, meta.chainID); err == nil {
		return meta, nil
	} else if !errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("check image %s unpacked: %w", name, err)
	}
	if err := meta.img.Unpack(ctx, r.cfg.Snapshotter); err != nil && !errdefs.IsAlreadyExists(err) {
		return nil, fmt.Errorf("unpack image %s into %s: %w", name, r.cfg.Snapshotter, err)
	}
	return meta, nil
}

// specImage is the image as oci.WithImageConfig reads it: its config
// comes from memory.
func (m *imageMeta) specImage() oci.Image {
	return cachedConfigImage{meta: m, store: configStore{Store: m.img.ContentStore(), desc: m.configDesc, blob: m.configBlob}}
}

type cachedConfigImage struct {
	meta  *imageMeta
	store content.Store
}

func (i cachedConfigImage) Config(context.Context) (ocispec.Descriptor, error) {
	return i.meta.configDesc, nil
}
func (i cachedConfigImage) ContentStore() content.Store { return i.store }

// configStore is a content store that serves one blob from memory.
type configStore struct {
	content.Store
	desc ocispec.Descriptor
	blob []byte
}

func (s configStore) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	if desc.Digest == s.desc.Digest {
		return blobReader{bytes.NewReader(s.blob)}, nil
	}
	return s.Store.ReaderAt(ctx, desc)
}

// blobReader is a content.ReaderAt over bytes in memory.
type blobReader struct{ *bytes.Reader }

func (blobReader) Close() error { return nil }
