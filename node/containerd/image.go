package containerd

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"orch.io/orch/node"
	"orch.io/orch/node/credentialprovider"
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
// error even when the image is present, as with the kubelet. auth are the
// credentials the pod's image pull Secrets hold for the image's registry,
// tried in turn as the kubelet tries them (none: an anonymous pull); an
// image already present needs none.
func (r *Runtime) EnsureImage(ctx context.Context, image, policy string, auth []credentialprovider.AuthConfig) (node.ImageInfo, error) {
	ctx = r.ns(ctx)
	name, err := NormalizeImage(image)
	if err != nil {
		return node.ImageInfo{}, err
	}
	var img client.Image
	var pulled time.Duration // how long a pull took; 0 when none was needed
	pull := func() (client.Image, error) {
		start := time.Now()
		img, err := r.pullWithAuth(ctx, name, auth)
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
			if img, err = pull(); err != nil {
				return node.ImageInfo{}, err
			}
		} else if err != nil {
			return node.ImageInfo{}, fmt.Errorf("get image %s: %w", name, err)
		}
	case PullAlways:
		if img, err = pull(); err != nil {
			return node.ImageInfo{}, err
		}
	default:
		return node.ImageInfo{}, fmt.Errorf("ensure image %s: unknown imagePullPolicy %q", name, policy)
	}
	meta, err := r.unpacked(ctx, img)
	if err != nil {
		return node.ImageInfo{}, err
	}
	return node.ImageInfo{Name: name, Digest: img.Target().Digest.String(), User: meta.config.Config.User, Pulled: pulled}, nil
}

// pullWithAuth is the kubelet's PullImage: without credentials one
// anonymous pull; else a pull with each set in turn until one succeeds,
// the error naming every failure ([e1, e2] for more than one).
func (r *Runtime) pullWithAuth(ctx context.Context, name string, auth []credentialprovider.AuthConfig) (client.Image, error) {
	if len(auth) == 0 {
		return r.pull(ctx, name, nil)
	}
	var errs []error
	for i := range auth {
		img, err := r.pull(ctx, name, &auth[i])
		if err == nil {
			return img, nil
		}
		errs = append(errs, err)
	}
	return nil, utilerrors.NewAggregate(errs)
}

// pull fetches name from its registry and unpacks it, with auth's
// credentials when not nil. The fetch runs in this process (the containerd
// client), not in the daemon: blobs reach the daemon through its content
// API, so the daemon's own registry configuration plays no part, and the
// credentials stay in this process's memory. The registries contacted are
// those of Config.RegistryConfigDir (see newResolver). The error reads as
// containerd's CRI plugin's.
func (r *Runtime) pull(ctx context.Context, name string, auth *credentialprovider.AuthConfig) (client.Image, error) {
	r.log.Info("pulling image", "image", name, "with_credentials", auth != nil)
	img, err := r.client.Pull(ctx, name,
		client.WithResolver(newResolver(ctx, name, auth, r.cfg.RegistryConfigDir)),
		client.WithPullUnpack,
		client.WithPullSnapshotter(r.cfg.Snapshotter))
	if err != nil {
		// A missing tag or repository reads "failed to resolve reference
		// ...: not found" and is an errdefs.ErrNotFound.
		return nil, fmt.Errorf("failed to pull and unpack image %q: %w", name, err)
	}
	return img, nil
}

// newResolver returns the resolver for a pull of ref (and the tests'
// pushes). With hostsDir "" the registries are configured as registryHosts
// says; else as containerd's hosts configuration in hostsDir says (see
// configuredHosts), mirrors first. auth, when not nil, answers the
// authentication challenges (Basic, or a token service's) of the hosts
// this pull contacts for ref's registry — the registry itself or, with a
// hosts configuration, its mirrors — and of no other host, as containerd's
// CRI plugin offers a pull's credentials to the host it contacts;
// registries that ask for a token get an anonymous one without it, as
// docker.io does.
func newResolver(ctx context.Context, ref string, auth *credentialprovider.AuthConfig, hostsDir string) remotes.Resolver {
	if hostsDir != "" {
		return docker.NewResolver(docker.ResolverOptions{Hosts: configuredHosts(ctx, hostsDir, ref, auth)})
	}
	var opts []docker.AuthorizerOpt
	if auth != nil {
		opts = append(opts, docker.WithAuthCreds(credsFor(ref, *auth, nil)))
	}
	return docker.NewResolver(docker.ResolverOptions{Hosts: registryHosts(opts...)})
}

// credsFor answers the authorizer's question for a host with auth when the
// host is ref's registry (docker.io's is registry-1.docker.io) or one of
// mirrors, the other hosts configured for it, and with no credentials for
// any other.
func credsFor(ref string, auth credentialprovider.AuthConfig, mirrors []string) func(host string) (string, string, error) {
	registry := ""
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		registry = reference.Domain(named)
		if registry == "docker.io" {
			registry = "registry-1.docker.io"
		}
	}
	return func(host string) (string, string, error) {
		if registry == "" || (host != registry && !slices.Contains(mirrors, host)) {
			return "", "", nil
		}
		return auth.Username, auth.Password, nil
	}
}

// registryHosts configures registries as containerd does when it has no
// hosts configuration: a loopback registry (localhost, 127.0.0.0/8, ::1,
// with or without a port) is reached over plain HTTP, every other one over
// HTTPS, and docker.io at registry-1.docker.io. Plain HTTP on loopback lets
// a node pull from a registry running on the node itself without a
// certificate; a pull that leaves the machine is always over TLS.
func registryHosts(auth ...docker.AuthorizerOpt) docker.RegistryHosts {
	return docker.ConfigureDefaultRegistries(
		docker.WithPlainHTTP(docker.MatchLocalhost),
		docker.WithAuthorizer(docker.NewDockerAuthorizer(auth...)))
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
