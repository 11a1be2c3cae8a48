package proxy

// The localnet guard: kube-proxy's fix for CVE-2020-8558.
//
// NodePorts answer on 127.0.0.1 (see RulesInput.NodeIPs), which needs
// net.ipv4.conf.*.route_localnet=1: a local client's packet to
// 127.0.0.1:<nodePort> is DNATed to an endpoint and leaves through the
// device towards it (the pod bridge, or the uplink to another node) still
// carrying source 127.0.0.1, which the kernel otherwise refuses as a
// martian, and so is the reply that comes back to it. But the same sysctl
// lets the kernel accept packets for 127.0.0.0/8 that arrive on those
// devices from outside: a pod could send to its gateway a packet for
// 127.0.0.1 and reach every service of the node bound to loopback only.
//
// ORCH-LOCALNET, jumped to from filter INPUT for every packet (not only
// NEW ones, as kube-proxy's KUBE-FIREWALL), drops what must never arrive
// from outside the node's own loopback:
//
//   - kube-proxy's rule: a packet for 127.0.0.0/8 whose source is not in
//     127.0.0.0/8 (it came from another host or a pod) unless conntrack
//     already knows its flow (a reply) or it was DNATed (the NodePort path);
//   - and one kube-proxy lacks: a packet whose source is in 127.0.0.0/8 but
//     that arrived on another device than lo. The kernel refuses a spoofed
//     127.0.0.1 (it is a local address) but, with route_localnet, accepts
//     127.0.0.2, which the first rule lets through: enough for a blind
//     datagram to a UDP service on loopback.
//
// Only INPUT: packets the node sends itself are not someone else's way in,
// and the FORWARD path never sees 127.0.0.0/8 (it is a local route).

// ChainLocalnet is the filter chain that drops packets for the node's
// loopback network arriving from outside it.
const ChainLocalnet = "ORCH-LOCALNET"

// localnetJump is the rule Setup inserts in filter INPUT.
var localnetJump = jumpRule{TableFilter, "INPUT", `-m comment --comment "orch localnet guard" -j ` + ChainLocalnet}

// localnetRules are ORCH-LOCALNET's rules in iptables-save's canonical form.
const localnetRules = "-A " + ChainLocalnet + ` ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP` + "\n" +
	"-A " + ChainLocalnet + ` -s 127.0.0.0/8 ! -i lo -m comment --comment "block localnet sources from outside lo" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP` + "\n"

// routeLocalnetAll is route_localnet for every device of a namespace.
const routeLocalnetAll = confDir + "/all/route_localnet"
