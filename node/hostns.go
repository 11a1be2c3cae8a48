package node

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/net/podnet"
)

// Paths on the node that host-namespace pods share.
const (
	nodeHostsFile = "/etc/hosts"
	nodeShm       = "/dev/shm"
)

// podSandbox is the pod's sandbox: for a hostNetwork pod the node's own
// network with an IPC namespace for the pod (made, or found again after an
// agent restart); for any other pod the one the pod network holds, if any.
func (a *Agent) podSandbox(ctx context.Context, uid string, pod *v1.Pod) (*podnet.Sandbox, bool, error) {
	if pod.Spec.HostNetwork {
		// As the kubelet reports status.podIP = status.hostIP for such pods.
		sb, err := a.network.HostNetworkSandbox(ctx, uid, net.ParseIP(a.cfg.NodeIP))
		return sb, err == nil, err
	}
	sb, ok := a.network.Sandbox(uid)
	return sb, ok, nil
}

// nodeEtc is the hostname and /etc/hosts a hostNetwork pod sees: the
// node's own, as the kubelet gives such pods a copy of the node's hosts
// file.
func nodeEtc() (hostname, hosts string, err error) {
	if hostname, err = os.Hostname(); err != nil {
		return "", "", fmt.Errorf("node hostname: %w", err)
	}
	b, err := os.ReadFile(nodeHostsFile)
	if err != nil {
		return "", "", fmt.Errorf("node hosts file: %w", err)
	}
	return hostname, "# Kubernetes-managed hosts file (host network).\n" + string(b), nil
}

// usesClusterDNS reports whether the pod's resolv.conf names the cluster's
// DNS, by Kubernetes' rules: ClusterFirst, except for a hostNetwork pod,
// which falls back to the node's resolv.conf (Default) unless it asks for
// ClusterFirstWithHostNet.
func usesClusterDNS(pod *v1.Pod) bool {
	switch pod.Spec.DNSPolicy {
	case v1.DNSClusterFirstWithHostNet:
		return true
	case v1.DNSDefault:
		return false
	default: // ClusterFirst
		return !pod.Spec.HostNetwork
	}
}

// applyHostNamespaces makes the container share the node's namespaces the
// pod asks for: hostNetwork (network and UTS: the node's hostname),
// hostPID and hostIPC. With hostIPC the container's /dev/shm is the
// node's, as the CRI mounts it, whatever the pod's own /dev/shm would be.
func applyHostNamespaces(pod *v1.Pod, spec *ContainerSpec) {
	spec.HostNetwork, spec.HostPID, spec.HostIPC = pod.Spec.HostNetwork, pod.Spec.HostPID, pod.Spec.HostIPC
	if spec.HostNetwork {
		spec.NetNS, spec.UTSNS, spec.Hostname = "", "", ""
	}
	if spec.HostIPC {
		spec.IPCNS = ""
		for i := range spec.Mounts {
			if strings.TrimSuffix(spec.Mounts[i].Destination, "/") == nodeShm {
				spec.Mounts[i] = Mount{Source: nodeShm, Destination: nodeShm}
			}
		}
	}
}
