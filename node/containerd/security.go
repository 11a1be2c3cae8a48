package containerd

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cap"
	"github.com/containerd/containerd/v2/pkg/oci"

	"orch.io/orch/node"
)

// securityOpts applies a container's effective security settings on top of
// containerd's default spec and the image's config, in the order the CRI
// plugin applies them (container_create.go, containerSpecOpts): user and
// groups, capabilities, privileged, no_new_privs, read-only root, and the
// seccomp profile last, because the default profile depends on the
// capabilities the container keeps.
//
// As with CRI, no_new_privs is set only for allowPrivilegeEscalation:
// false (containerd's default spec sets it; Kubernetes' default is to
// allow escalation, e.g. through setuid binaries of the image).
func securityOpts(sec node.ContainerSecurity, abis compatABIs) []oci.SpecOpts {
	opts := []oci.SpecOpts{oci.WithNewPrivileges}
	if sec.RunAsUser != nil || sec.RunAsGroup != nil {
		opts = append(opts, withRunAs(sec.RunAsUser, sec.RunAsGroup))
	}
	if len(sec.SupplementalGroups) > 0 {
		opts = append(opts, withSupplementalGroups(sec.SupplementalGroups))
	}
	opts = append(opts, withCapabilities(sec.CapAdd, sec.CapDrop))
	if sec.Privileged {
		// WithPrivileged: every capability, /proc and /sys unmasked and
		// writable, no seccomp; then the host's devices, all allowed.
		opts = append(opts, oci.WithPrivileged, oci.WithHostDevices, oci.WithAllDevicesAllowed)
	}
	if sec.NoNewPrivileges {
		opts = append(opts, oci.WithNoNewPrivileges)
	}
	if sec.ReadOnlyRootFilesystem {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if len(sec.Sysctls) > 0 {
		opts = append(opts, withSysctls(sec.Sysctls))
	}
	if !sec.Privileged { // as CRI: a privileged container has no filter
		switch sec.Seccomp {
		case node.SeccompUnconfined:
		case node.SeccompLocalhost:
			opts = append(opts, seccomp.WithProfile(sec.SeccompProfilePath))
		default:
			opts = append(opts, withRuntimeDefaultSeccomp(abis))
		}
	}
	return opts
}

// SecurityOpts are the OCI spec options StartContainer applies for a
// container's effective security settings sec, with the RuntimeDefault
// seccomp profile cut to the compatibility ABIs this kernel runs, as the
// runtime cuts it (the kernel is probed on every call). For programs that
// start containers beside the runtime and must pay the same security cost,
// such as orchbench's bare containerd anchor.
func SecurityOpts(sec node.ContainerSecurity) []oci.SpecOpts {
	return securityOpts(sec, probeCompatABIs())
}

// withRunAs sets the process's user as the CRI plugin does from runAsUser
// and runAsGroup: the uid is runAsUser, else the image's (already resolved
// by WithImageConfig); the gid is runAsGroup, else the user's primary
// group in the image's /etc/passwd (0 when it has none). The user's
// groups in the image's /etc/group are added, as WithAdditionalGIDs.
func withRunAs(uid, gid *int64) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		var user string
		if uid != nil {
			user = strconv.FormatInt(*uid, 10)
		} else {
			if s.Process == nil {
				return fmt.Errorf("runAsGroup: no process in the spec")
			}
			user = strconv.FormatUint(uint64(s.Process.User.UID), 10)
		}
		userstr := user
		if gid != nil {
			userstr += ":" + strconv.FormatInt(*gid, 10)
		}
		if err := oci.WithUser(userstr)(ctx, client, c, s); err != nil {
			return fmt.Errorf("user %s: %w", userstr, err)
		}
		if err := oci.WithAdditionalGIDs(user)(ctx, client, c, s); err != nil {
			return fmt.Errorf("groups of user %s: %w", user, err)
		}
		return nil
	}
}

// withSupplementalGroups adds groups to the process's additional groups.
func withSupplementalGroups(groups []int64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			return fmt.Errorf("supplementalGroups: no process in the spec")
		}
		gids := s.Process.User.AdditionalGids
		for _, g := range groups {
			if !slices.Contains(gids, uint32(g)) {
				gids = append(gids, uint32(g))
			}
		}
		slices.Sort(gids)
		s.Process.User.AdditionalGids = gids
		return nil
	}
}

// withCapabilities adds and drops capabilities as the CRI plugin's
// WithCapabilities: "ALL" in add gives every capability the agent has and
// "ALL" in drop removes every one, before the named ones are added and
// dropped (add ALL, drop CHOWN is all but CAP_CHOWN). Names are
// Kubernetes' (NET_ADMIN); a CAP_ prefix is accepted too. A name the
// kernel does not know is an error: runc would silently ignore it.
func withCapabilities(add, drop []string) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		if len(add) == 0 && len(drop) == 0 {
			return nil
		}
		known := cap.Known()
		norm := func(names []string) (all bool, out []string, err error) {
			for _, n := range names {
				n = strings.ToUpper(n)
				if n == "ALL" {
					all = true
					continue
				}
				if !strings.HasPrefix(n, "CAP_") {
					n = "CAP_" + n
				}
				if !slices.Contains(known, n) {
					return false, nil, fmt.Errorf("unknown capability %q", strings.TrimPrefix(n, "CAP_"))
				}
				out = append(out, n)
			}
			return all, out, nil
		}
		addAll, addCaps, err := norm(add)
		if err != nil {
			return err
		}
		dropAll, dropCaps, err := norm(drop)
		if err != nil {
			return err
		}
		var opts []oci.SpecOpts
		if addAll {
			current, err := cap.Current()
			if err != nil {
				return fmt.Errorf("capabilities of the agent: %w", err)
			}
			opts = append(opts, oci.WithCapabilities(current))
		}
		if dropAll {
			opts = append(opts, oci.WithCapabilities(nil))
		}
		opts = append(opts, oci.WithAddedCapabilities(addCaps), oci.WithDroppedCapabilities(dropCaps))
		return oci.Compose(opts...)(ctx, client, c, s)
	}
}

// withSysctls sets namespaced kernel parameters; runc writes them inside
// the namespaces the container joins (the pod's network and IPC ones).
func withSysctls(sysctls map[string]string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			return fmt.Errorf("sysctls: no linux section in the spec")
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		maps.Copy(s.Linux.Sysctl, sysctls)
		return nil
	}
}
