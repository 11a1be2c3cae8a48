package containerd

import (
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"orch.io/orch/node"
)

// namespaceOpts places the container in its namespaces: the pod's pinned
// ones by path, none of its own for those it shares with the node
// (hostNetwork: network and UTS; hostPID; hostIPC), as the CRI plugin
// does, so the container stays in the runtime's, which are the node's.
// The rest are new, from containerd's default spec.
func namespaceOpts(spec *node.ContainerSpec) []oci.SpecOpts {
	var opts []oci.SpecOpts
	for _, ns := range []struct {
		kind specs.LinuxNamespaceType
		path string
		host bool
	}{
		{specs.NetworkNamespace, spec.NetNS, spec.HostNetwork},
		{specs.UTSNamespace, spec.UTSNS, spec.HostNetwork},
		{specs.IPCNamespace, spec.IPCNS, spec.HostIPC},
		{specs.PIDNamespace, spec.PIDNS, spec.HostPID},
	} {
		switch {
		case ns.host:
			opts = append(opts, oci.WithHostNamespace(ns.kind))
		case ns.path != "":
			opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: ns.kind, Path: ns.path}))
		}
	}
	return opts
}
