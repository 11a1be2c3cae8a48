package containerd

import (
	"context"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/distribution/reference"

	"orch.io/orch/node/credentialprovider"
)

// configuredHosts returns the registry hosts of a pull of ref as
// containerd's hosts configuration in dir (containerd's config_path,
// /etc/containerd/certs.d) gives them, read with containerd's own
// config.ConfigureHosts: dir/<registry>/hosts.toml (a port as
// _<port>_, e.g. dir/10.0.0.5_5000_), else dir/_default/hosts.toml,
// lists the hosts to try in order — mirrors first, then the registry's
// server unless hosts.toml names another — each with its scheme, its
// capabilities (pull, resolve), its CA, client certificate or
// skip_verify; a host that fails (unreachable, an error status, not
// found) gives way to the next, as in containerd. A registry without a
// directory is reached as containerd reaches it without one: docker.io at
// registry-1.docker.io, others over HTTPS, a loopback registry with a port
// over HTTP after HTTPS. The directory is read at each pull, so changes
// apply to the next pull without a restart.
//
// auth, when not nil, is offered to every host configured for ref's
// registry (the host actually contacted: a mirror, or the registry) and to
// no other, as containerd's CRI plugin passes a pull's credentials to the
// host it contacts.
func configuredHosts(ctx context.Context, dir, ref string, auth *credentialprovider.AuthConfig) docker.RegistryHosts {
	opts := config.HostOptions{HostDir: config.HostDirFromRoot(dir)}
	if auth == nil {
		return config.ConfigureHosts(ctx, opts)
	}
	var hosts []string
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		// An error here is the pull's error too: it reads the same files.
		configured, _ := config.ConfigureHosts(ctx, opts)(reference.Domain(named))
		for _, h := range configured {
			hosts = append(hosts, h.Host)
		}
	}
	opts.Credentials = credsFor(ref, *auth, hosts)
	return config.ConfigureHosts(ctx, opts)
}
