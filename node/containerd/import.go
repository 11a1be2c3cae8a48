package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/node"
)

// ImportImages imports an OCI image-layout (or docker save) tarball,
// unpacks every named image in it into the snapshotter and returns their
// names. Only the node's platform is imported.
//
// An import never silently replaces a tag in use: when a name in the
// tarball already names an image with another digest and a container on
// the node (running or not, so also one that may restart) was made from
// that name, the whole import is refused with 409 naming the pods, and
// nothing changes. Replacing the image under a running pod's feet would
// change what its containers run at their next restart, with no trace in
// the pod's spec. Pinning containers to digests instead would keep those
// pods safe but still let the next pod of the same spec run other code
// than its siblings; refusing leaves the choice to the operator: a new
// tag, or the pods deleted first. A tag no container uses is replaced, as
// `ctr import` does.
//
// containerd's import writes the image names as it goes, so the tarball is
// first imported into a staging namespace of its own (learning the names
// and digests exactly as containerd makes them, docker save included),
// checked, and only then imported into the runtime's namespace from a
// copy kept in StateDir (the second import finds the blobs present).
func (r *Runtime) ImportImages(ctx context.Context, rd io.Reader) ([]string, error) {
	f, err := os.CreateTemp(r.cfg.StateDir, "import-*.tar")
	if err != nil {
		return nil, fmt.Errorf("import images: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, rd); err != nil {
		return nil, fmt.Errorf("import images: read the archive: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("import images: %w", err)
	}
	sctx := namespaces.WithNamespace(ctx, importStagingNamespace)
	staged, err := r.client.Import(sctx, f)
	defer r.dropStaged(sctx, staged)
	if err != nil {
		return nil, fmt.Errorf("import images: %w", err)
	}
	if len(staged) == 0 {
		return nil, errors.New("import images: the archive holds no named image")
	}
	ctx = r.ns(ctx)
	if err := r.checkReplacements(ctx, staged); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("import images: %w", err)
	}
	imgs, err := r.client.Import(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("import images: %w", err)
	}
	names := make([]string, 0, len(imgs))
	for _, meta := range imgs {
		if err := r.unpack(ctx, client.NewImage(r.client, meta)); err != nil {
			return names, fmt.Errorf("import images: %w", err)
		}
		names = append(names, meta.Name)
		r.log.Info("imported image", "image", meta.Name, "digest", meta.Target.Digest)
	}
	return names, nil
}

// checkReplacements refuses an import that would give a name in use
// another image: 409 naming the image and the pods using it.
func (r *Runtime) checkReplacements(ctx context.Context, imgs []images.Image) error {
	is := r.client.ImageService()
	var replaced []string
	for _, meta := range imgs {
		name := meta.Name
		cur, err := is.Get(ctx, name)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("import images: look up %s: %w", name, err)
		}
		if cur.Target.Digest != meta.Target.Digest {
			replaced = append(replaced, name)
		}
	}
	if len(replaced) == 0 {
		return nil
	}
	cs, err := r.ListContainers(ctx)
	if err != nil {
		return fmt.Errorf("import images: %w", err)
	}
	var msgs []string
	for _, name := range replaced {
		if pods := podsUsing(cs, name); len(pods) > 0 {
			msgs = append(msgs, fmt.Sprintf("image %s is used by pod(s) %s", name, strings.Join(pods, ", ")))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return v1.NewConflict("images", replaced[0], fmt.Sprintf(
		"the archive would replace an image in use with another digest (%s): nothing was imported; "+
			"import it under a new tag, or delete those pods first", strings.Join(msgs, "; ")))
}

// podsUsing returns namespace/name of the pods with a container made from
// image, sorted.
func podsUsing(cs []node.Container, image string) []string {
	var out []string
	for _, c := range cs {
		if c.Image != image {
			continue
		}
		p := c.Labels[node.LabelPodNamespace] + "/" + c.Labels[node.LabelPodName]
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// importStagingNamespace is the containerd namespace an import is checked in.
const importStagingNamespace = "orch-import"

// dropStaged removes the images an import staged (containerd's garbage
// collector then drops the content no namespace refers to).
func (r *Runtime) dropStaged(ctx context.Context, imgs []images.Image) {
	for _, img := range imgs {
		if err := r.client.ImageService().Delete(context.WithoutCancel(ctx), img.Name); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("import images: remove staging name", "image", img.Name, "err", err)
		}
	}
}
