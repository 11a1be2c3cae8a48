package containerd

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"orch.io/orch/node"
)

// Image pull policies (Kubernetes' imagePullPolicy values).
const (
	PullAlways       = "Always"
	PullIfNotPresent = "IfNotPresent"
	PullNever        = "Never"
)

// NormalizeImage returns the fully qualified form of an image reference:
// busybox → docker.io/library/busybox:latest.
func NormalizeImage(image string) (string, error) {
	named, err := reference.ParseDockerRef(image)
	if err != nil {
		return "", fmt.Errorf("parse image reference %q: %w", image, err)
	}
	return named.String(), nil
}

// EnsureImage makes image available according to policy and unpacked into
// the snapshotter. An empty policy means IfNotPresent (the API server is
// expected to have defaulted it). Always pulls, and a failed pull is an
// error even when the image is present, as with the kubelet.
func (r *Runtime) EnsureImage(ctx context.Context, image, policy string) (node.ImageInfo, error) {
	ctx = r.ns(ctx)
	name, err := NormalizeImage(image)
	if err != nil {
		return node.ImageInfo{}, err
	}
	var img client.Image
	var pulled time.Duration // how long a pull took; 0 when none was needed
	pull := func() (client.Image, error) {
		start := time.Now()
		img, err := r.pull(ctx, name)
		pulled = max(time.Since(start), time.Nanosecond)
		return img, err
	}
	switch policy {
	case PullNever:
		img, err = r.client.GetImage(ctx, name)
		if errdefs.IsNotFound(err) {
			return node.ImageInfo{}, fmt.Errorf("image %s is not present on the node and imagePullPolicy is Never", name)
		}
		if err != nil {
			return node.ImageInfo{}, fmt.Errorf("get image %s: %w", name, err)
		}
	case PullIfNotPresent, "":
		img, err = r.client.GetImage(ctx, name)
		if errdefs.IsNotFound(err) {
			img, err = pull()
		}
		if err != nil {
			return node.ImageInfo{}, fmt.Errorf("ensure image %s: %w", name, err)
		}
	case PullAlways:
		if img, err = pull(); err != nil {
			return node.ImageInfo{}, fmt.Errorf("ensure image %s (imagePullPolicy Always): %w", name, err)
		}
	default:
		return node.ImageInfo{}, fmt.Errorf("ensure image %s: unknown imagePullPolicy %q", name, policy)
	}
	if err := r.unpack(ctx, img); err != nil {
		return node.ImageInfo{}, err
	}
	config, err := img.Spec(ctx)
	if err != nil {
		return node.ImageInfo{}, fmt.Errorf("image %s config: %w", name, err)
	}
	return node.ImageInfo{Name: name, Digest: img.Target().Digest.String(), User: config.Config.User, Pulled: pulled}, nil
}

// pull fetches name from its registry and unpacks it. The fetch runs in
// this process (the containerd client), not in the daemon: blobs reach the
// daemon through its content API, so the daemon's own registry
// configuration plays no part. See newResolver for the schemes used.
func (r *Runtime) pull(ctx context.Context, name string) (client.Image, error) {
	r.log.Info("pulling image", "image", name)
	img, err := r.client.Pull(ctx, name,
		client.WithResolver(newResolver()),
		client.WithPullUnpack,
		client.WithPullSnapshotter(r.cfg.Snapshotter))
	if err != nil {
		// A missing tag or repository reads "failed to resolve reference
		// ...: not found" and is an errdefs.ErrNotFound.
		return nil, fmt.Errorf("pull %s: %w", name, err)
	}
	return img, nil
}

// newResolver returns the resolver for pulls (and the tests' pushes): see
// registryHosts. Credentials are not supported; registries that ask for a
// token get an anonymous one, as docker.io does.
func newResolver() remotes.Resolver {
	return docker.NewResolver(docker.ResolverOptions{Hosts: registryHosts()})
}

// registryHosts configures registries as containerd does when it has no
// hosts configuration: a loopback registry (localhost, 127.0.0.0/8, ::1,
// with or without a port) is reached over plain HTTP, every other one over
// HTTPS, and docker.io at registry-1.docker.io. Plain HTTP on loopback lets
// a node pull from a registry running on the node itself without a
// certificate; a pull that leaves the machine is always over TLS.
func registryHosts() docker.RegistryHosts {
	return docker.ConfigureDefaultRegistries(
		docker.WithPlainHTTP(docker.MatchLocalhost),
		docker.WithAuthorizer(docker.NewDockerAuthorizer()))
}

// unpack unpacks img into the snapshotter unless it already is.
func (r *Runtime) unpack(ctx context.Context, img client.Image) error {
	ok, err := img.IsUnpacked(ctx, r.cfg.Snapshotter)
	if err != nil {
		return fmt.Errorf("check image %s unpacked: %w", img.Name(), err)
	}
	if ok {
		return nil
	}
	if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil && !errdefs.IsAlreadyExists(err) {
		return fmt.Errorf("unpack image %s into %s: %w", img.Name(), r.cfg.Snapshotter, err)
	}
	return nil
}
