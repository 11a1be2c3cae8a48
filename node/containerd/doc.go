// Package containerd implements node.Runtime on containerd.
//
// It uses the containerd v2 Go client against the containerd 1.6 daemon that
// Debian 12 ships (see MEASURED.md): images are imported or pulled and then
// explicitly unpacked into the snapshotter; containers get a fresh snapshot,
// an OCI spec derived from the image config and the node.ContainerSpec, and a
// runc v2 task whose stdout and stderr go to a log file written by the shim.
// Everything the agent needs to adopt a container after a restart lives in
// the container's labels (node.Label* plus the labels defined here), so a new
// Runtime in a new process lists, waits for, stops and removes containers it
// did not start.
//
// State outside containerd's root and state directories is kept under
// Config.StateDir: runc's state root (runc options Root) and the FIFOs of
// exec processes. Pod cgroups are <CgroupRoot>/pod<uid>/<containerID> in
// every hierarchy (cgroupfs driver); RemovePod removes the pod level.
//
// StartManaged runs a private containerd (own config, root, state and
// socket, own process group) for `orchd node`, `orchd dev` and tests, and
// reuses one that is already running for the same directory, so a restarted
// agent keeps its pods. StartTestContainerd wires a managed containerd, a
// Runtime and the busybox image for other packages' tests.
package containerd
