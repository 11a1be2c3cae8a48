package containerd

import (
	"context"
	"maps"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"orch.io/orch/node"
)

func TestNamespaceOpts(t *testing.T) {
	const (
		newNS = "(new)"
	)
	pod := node.ContainerSpec{NetNS: "/sb/net", UTSNS: "/sb/uts", IPCNS: "/sb/ipc"}
	for _, tc := range []struct {
		name   string
		mutate func(s *node.ContainerSpec)
		want   map[specs.LinuxNamespaceType]string // absent: the node's
	}{
		{"pod namespaces", func(*node.ContainerSpec) {}, map[specs.LinuxNamespaceType]string{
			specs.NetworkNamespace: "/sb/net", specs.UTSNamespace: "/sb/uts", specs.IPCNamespace: "/sb/ipc",
			specs.PIDNamespace: newNS, specs.MountNamespace: newNS}},
		{"hostNetwork", func(s *node.ContainerSpec) { s.NetNS, s.UTSNS, s.IPCNS, s.HostNetwork = "", "", "", true },
			map[specs.LinuxNamespaceType]string{specs.IPCNamespace: newNS, specs.PIDNamespace: newNS, specs.MountNamespace: newNS}},
		{"hostPID", func(s *node.ContainerSpec) { s.HostPID = true }, map[specs.LinuxNamespaceType]string{
			specs.NetworkNamespace: "/sb/net", specs.UTSNamespace: "/sb/uts", specs.IPCNamespace: "/sb/ipc",
			specs.MountNamespace: newNS}},
		{"hostIPC wins over the pod's", func(s *node.ContainerSpec) { s.HostIPC = true }, map[specs.LinuxNamespaceType]string{
			specs.NetworkNamespace: "/sb/net", specs.UTSNamespace: "/sb/uts",
			specs.PIDNamespace: newNS, specs.MountNamespace: newNS}},
		{"all three", func(s *node.ContainerSpec) {
			s.NetNS, s.UTSNS, s.IPCNS = "", "", ""
			s.HostNetwork, s.HostPID, s.HostIPC = true, true, true
		}, map[specs.LinuxNamespaceType]string{specs.MountNamespace: newNS}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := pod
			tc.mutate(&cs)
			// containerd's default spec: every namespace new.
			s := &oci.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
			}}}
			for _, o := range namespaceOpts(&cs) {
				if err := o(context.Background(), nil, &containers.Container{}, s); err != nil {
					t.Fatal(err)
				}
			}
			got := map[specs.LinuxNamespaceType]string{}
			for _, ns := range s.Linux.Namespaces {
				got[ns.Type] = ns.Path
				if ns.Path == "" {
					got[ns.Type] = newNS
				}
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("namespaces = %v, want %v", got, tc.want)
			}
		})
	}
}
