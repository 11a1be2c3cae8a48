// Package hostport gives pods the host ports they ask for
// (spec.containers[*].ports[*].hostPort), the way the CNI portmap plugin
// does for the kubelet: DNAT from the node's address and port to the pod's
// address and container port, with iptables.
//
// # Chain layout (nat table)
//
//	PREROUTING, OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -> ORCH-HOSTPORTS
//	  [-d <hostIP>/32] -s <podCIDR> -p <proto> -m <proto> --dport <hostPort> -j MARK --set-xmark 0x2000/0x2000
//	  [-d <hostIP>/32] -p <proto> -m <proto> --dport <hostPort> -j DNAT --to-destination <podIP>:<containerPort>
//	POSTROUTING -> ORCH-HOSTPORTS-MASQ
//	  -m mark --mark 0x2000/0x2000 -j MASQUERADE
//
// A hostIP of 0.0.0.0 (or none) answers on every local address of the
// node but loopback (127.0.0.0/8 would need route_localnet, which the
// node does not open to pods). Traffic from the node's own pods to a host
// port is masqueraded, so a pod reaching its own host port (hairpin) gets
// its replies, as portmap's SNAT does.
//
// The Manager rewrites both chains whole on every sync, in one
// iptables-restore --noflush, and inserts the jump rules from the built-in
// chains with go-iptables when they are missing. Cleanup removes the jumps
// and the chains; `orchd node reset` calls it. hostNetwork pods need no
// rules: they bind the node's ports themselves.
package hostport
