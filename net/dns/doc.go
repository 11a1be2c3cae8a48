// Package dns is the cluster DNS server that runs on every node. It answers
// for the cluster domain (Config.Domain, "cluster.local" by default) from an
// in-memory table of services and endpoints that the node agent replaces
// with Server.Update, and forwards every other name to the node's upstream
// resolvers. Pods reach it at the node's bridge gateway through a
// resolv.conf written by the node agent:
//
//	nameserver <Config.Addr IP>
//	search <ns>.svc.<domain> svc.<domain> <domain>
//	options ndots:5
//
// # Records
//
// It follows the Kubernetes DNS specification for the records below; names
// match case-insensitively and answers repeat the owner name as asked.
// Every record carries Config.TTL (5 s by default).
//
//	<svc>.<ns>.svc.<domain>.                  A / AAAA  the ClusterIP(s)
//	_<port>._<proto>.<svc>.<ns>.svc.<domain>. SRV       0 100 <port> <svc>.<ns>.svc.<domain>.
//	                                                    (named ports only; proto is tcp, udp
//	                                                    or sctp; the target's addresses go in
//	                                                    the additional section)
//	<svc>.<ns>.svc.<domain>.                  A / AAAA  a headless service's ready endpoint
//	                                                    addresses (none: NODATA)
//	<host>.<svc>.<ns>.svc.<domain>.           A / AAAA  each of them: <host> is the endpoint's
//	                                                    hostname (a pod whose subdomain is the
//	                                                    service) or its dashed address
//	_<port>._<proto>.<svc>.<ns>.svc.<domain>. SRV       of a headless service: one per address,
//	                                                    targeting <host>.<svc>...
//	<a-b-c-d>.<ns>.pod.<domain>.              A         a.b.c.d, for any well-formed dashed
//	                                                    IPv4 address in any namespace, as
//	                                                    Kubernetes' "pods insecure" mode
//	<domain>.                                 SOA       ns.dns.<domain>. hostmaster.<domain>.
//
// A name that exists without a record of the asked type (AAAA for an
// IPv4-only service, A for the namespace name <ns>.svc.<domain>.) gets an
// empty NOERROR answer (NODATA); a name in the domain that does not exist
// gets NXDOMAIN. Both carry the zone's SOA in the authority section, whose
// minimum field (the TTL of the negative answer) is Config.TTL. Answers for
// the domain set the authoritative bit.
//
// Not implemented yet: a service without a cluster IP (empty) has no
// records and answers NXDOMAIN; there are no PTR records for
// service or pod addresses (reverse lookups are forwarded upstream) and no
// ExternalName services. Records are answered for the IN (and ANY) class
// only; other classes in the cluster domain are REFUSED.
//
// # Forwarding
//
// Names outside the domain go to Config.Upstreams in order, each tried over
// UDP with a 2 s timeout, and again over TCP when the UDP answer is
// truncated. The first answer is relayed unchanged, whatever its rcode; the
// next upstream is only tried when one does not answer. When no upstream
// answers the client gets SERVFAIL. Without upstreams, the nameservers of
// Config.ResolvConf (/etc/resolv.conf) are used, minus loopback ones and
// the server's own address, which would send queries back to this server
// or to a stub resolver that the pods cannot reach. On hosts running
// systemd-resolved, whose /etc/resolv.conf only names 127.0.0.53, point
// ResolvConf at /run/systemd/resolve/resolv.conf. With no upstream left,
// names outside the domain are REFUSED.
//
// # Transport and EDNS0
//
// The server listens on UDP and TCP on the same address and port. A UDP
// response larger than the client can take (512 bytes, or the size in its
// EDNS0 OPT record) is truncated with the TC bit set so that the client
// retries over TCP. Queries with an OPT record get one back for local
// answers (advertising 1232 bytes and echoing the DO bit, with no options);
// an EDNS version other than 0 gets BADVERS. Forwarded queries keep the
// client's OPT record, and the upstream's is relayed.
package dns
