// Package hollow runs hollow nodes: the real node agent (node.Agent:
// registration, Lease heartbeats, node status, the pod watch, pod workers,
// the status manager, the services and endpoints watch) with a runtime that
// starts containers at once and runs nothing, a pod network that hands out
// addresses from the node's pod CIDR without namespaces, volumes that are
// plain directories, and a service proxy that renders its iptables ruleset
// without applying it. Each serves the agent's endpoint (logs; exec and
// attach answer that no process runs) on a loopback address of its own. Many hollow nodes share one process, each with its
// own client certificate and its own connections to the masters, as
// Kubernetes' kubemark runs the kubelet with a fake runtime. Everything
// that is not the kernel's business is the same code as on a real node.
package hollow
