// Package proxy is orch's service proxy: it turns Services and Endpoints
// into iptables rules on a node, the way kube-proxy's iptables mode does,
// using only chains it owns and one iptables-restore per sync.
//
// # Chain layout
//
// nat table (jumped to from the built-in chains by rules Setup inserts):
//
//	PREROUTING, OUTPUT -> ORCH-SERVICES
//	  -d <clusterIP>/32 -p <proto> --dport <port> -j ORCH-SVC-<hash>   one per service port
//	  -m addrtype --dst-type LOCAL -j ORCH-NODEPORTS                   last (or one -d rule per
//	                                                                   Config.NodeIPs and 127.0.0.1)
//	ORCH-NODEPORTS
//	  -p <proto> --dport <nodePort> -j ORCH-MARK-MASQ
//	  -p <proto> --dport <nodePort> -j ORCH-SVC-<hash>
//	ORCH-SVC-<hash>   one per service port with ready endpoints (empty otherwise)
//	  ! -s <clusterCIDR> -d <clusterIP>/32 ... -j ORCH-MARK-MASQ       off-cluster clients are masqueraded
//	  -m recent --rcheck ... --name ORCH-SEP-<hash> -j ORCH-SEP-<hash> ClientIP affinity only, per endpoint
//	  -m statistic --mode random --probability 1/n -j ORCH-SEP-<hash>  then 1/(n-1), ...; the last is unconditional
//	ORCH-SEP-<hash>   one per endpoint of a service port
//	  -s <podIP>/32 -j ORCH-MARK-MASQ                                  hairpin: a pod reaching itself
//	  -p <proto> [-m recent --set ...] -j DNAT --to-destination <podIP>:<port>
//	ORCH-MARK-MASQ
//	  -j MARK --set-xmark 0x4000/0x4000
//	POSTROUTING -> ORCH-POSTROUTING
//	  -s <clusterCIDR> ! -d <clusterCIDR> -j MASQUERADE                pods leaving the cluster network
//	  -m mark ! --mark 0x4000/0x4000 -j RETURN
//	  -j MARK --set-xmark 0x4000/0x0
//	  -j MASQUERADE --random-fully
//
// filter table:
//
//	INPUT, FORWARD, OUTPUT -> (-m conntrack --ctstate NEW) ORCH-FIREWALL
//	  -d <clusterIP>/32 -p tcp --dport <port> -j REJECT --reject-with tcp-reset         no ready endpoints
//	  -d <clusterIP>/32 -p udp --dport <port> -j REJECT --reject-with icmp-port-unreachable
//	  and the same for the node port of a NodePort service
//	INPUT -> ORCH-LOCALNET                                          every packet, not only NEW ones
//	  ! -s 127.0.0.0/8 -d 127.0.0.0/8 ... ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP   kube-proxy's CVE-2020-8558 rule
//	  -s 127.0.0.0/8 ! -i lo ... ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP             spoofed loopback sources
//
// Hashes are the first 16 characters of the base32 SHA-256 of the service
// port (namespace/name:port/protocol) and, for SEP chains, of the endpoint
// too, so names are stable across restarts and at most 25 characters.
//
// Rules are written in the canonical form iptables-save prints them in, so
// a restarted agent can read the live chains back (Setup) and rewrite only
// the chains that differ. A sync declares and rewrites only chains whose
// rules changed and deletes stale ORCH-SVC-/ORCH-SEP- chains in the same
// iptables-restore --noflush; after a failed restore the next sync reads the
// kernel's state again and rewrites every chain.
//
// BuildRules is pure. The Proxier keeps each service's rules keyed by its
// (immutable) Service and Endpoints objects; a sync after one that worked
// finds the services whose objects changed, rebuilds those, updates the
// applied ruleset in place and renders the restore from what they
// contributed before and after (delta.go), rewriting a shared chain
// (ORCH-SERVICES, ORCH-NODEPORTS, ORCH-FIREWALL) only when its text
// changed. What remains of a one-endpoint change at 10,000 services is the
// kernel's: with the nf_tables backend, a transaction that adds a rule
// with a jump or a DNAT re-validates every chain reachable from the nat
// table's base chains. Restore text lists chains sorted by name, the order
// iptables-save prints: iptables-nft-restore is markedly faster that way.
//
// Setup creates the base chains with iptables-restore, then checks each
// jump rule from a built-in chain with go-iptables and inserts the missing
// ones at position 1 (one that is present lower down stays there); Cleanup
// deletes them with go-iptables before the restore that deletes our chains.
// go-iptables runs the binary of the flavour detected (iptables-nft or
// iptables-legacy).
//
// NodePorts on 127.0.0.1 need route_localnet on the devices towards their
// endpoints: each sync turns it on for exactly those (localnet_devices.go),
// and ORCH-LOCALNET drops what it would otherwise let in (localnet.go).
//
// Config.NetNS says which network namespace the rules live in: every
// iptables exec (go-iptables' included), sysctl write and conntrack netlink
// call is made there.
package proxy
