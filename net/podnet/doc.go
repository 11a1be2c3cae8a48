// Package podnet gives pods their network on a node: a Linux bridge with
// the gateway address of the node's pod CIDR, one veth per pod, a
// host-local IPAM persisted on disk, and host-gw routes to the pod CIDRs of
// the other nodes. It speaks netlink directly (no CNI plugins, no `ip`).
//
// # No pause container
//
// A pod's shared namespaces (net, uts, ipc) are created on a locked,
// throwaway OS thread with unshare(2) and kept alive by bind-mounting
// /proc/self/task/<tid>/ns/<kind> onto files, as `ip netns add` does. The
// thread then exits (its goroutine returns while still locked, so the Go
// runtime terminates it and the changed namespaces never leak to other
// goroutines). Nothing runs in the sandbox until the pod's containers
// join the namespaces by path (OCI namespace paths), so there is no pause
// process to start, reap, account or restart: a sandbox costs two
// syscalls, three mounts and a veth, and it survives an agent restart
// because the mounts, not a process, hold the namespaces.
//
// # Layout on disk
//
//	<StateDir>/
//	  ipam/
//	    10.244.1.2            one file per allocated address; holds the pod UID
//	    10.244.1.3
//	    last_reserved_ip      the last address handed out; allocation continues
//	                          round-robin after it so freed addresses are not
//	                          reused at once
//	  sandboxes/              bind-mounted onto itself and made shared, so
//	                          the namespace mounts propagate to mount
//	                          namespaces created later (runc, shims)
//	    <pod UID>/
//	      net uts ipc         namespace files (bind mounts of nsfs)
//
// After a reboot the sandbox directories remain but their files are empty
// placeholders: Network.Sandbox does not return them and
// Network.DeleteSandbox cleans them up.
//
// # Host side
//
// Every host-side operation (bridge, host veths, routes, ip_forward) happens
// in the node network namespace named by Config.HostNetNS, through a netlink
// handle opened in it or a throwaway thread that joined it; the calling
// thread never switches namespaces. The pod end of a veth is created
// directly inside the pod netns and configured through a handle opened
// there. Host veths are named "veth" plus 8 hex digits of a hash of the pod
// UID and carry the alias "orch-pod:<uid>".
//
// Routes podnet owns are marked with the netlink route protocol
// RouteProtocol: host-gw routes (SetRoutes) are unicast, the fallback routes
// for the cluster and service CIDRs (Setup) are unreachable routes with the
// highest metric, so any more specific route wins.
//
// # Mount namespaces
//
// The namespace files are mounts in the mount namespace of the process.
// Whatever joins them (containerd, runc) must see those mounts: run the
// agent in the same mount namespace as containerd, not under `ip netns
// exec` or `unshare -m`, which give it a private copy.
package podnet
