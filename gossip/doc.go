// Package gossip is the memberlist pool that masters and nodes share: who
// is in the cluster, which members are masters and where their APIs are,
// which nodes still answer, and the keyring that encrypts it all.
//
// Everything in the pool is encrypted and authenticated with the gossip
// key, but every node holds that key, so the package trusts gossip only for
// what a key holder may say about itself. What it chose:
//
// Keyring rotation (Pool.KeyringOp), as Serf's KeyManager: a master applies
// the operation (install, use, remove, list) to its own memberlist keyring,
// then sends every other alive member a memberlist user message with the
// command, over TCP (SendReliable), and waits up to KeyringTimeout for one
// answer per member; members that stay silent are reported, not retried.
// A command is signed with the master's TLS key and carries its
// certificate chain; a member applies it only if the chain verifies
// against the cluster CA (Config.Roots) with O=orch:masters, the command
// names this member (To), was issued within two minutes of its clock, and
// its ID was not seen before. A node holding the gossip key therefore
// cannot install or remove keys on others, nor replay a master's command
// elsewhere. Answers are not signed: a forged one can only misreport an
// outcome to the admin. Each member persists its keyring after every change
// (Config.KeyringFile, KeyringFileName in its state directory, 0600, primary
// key first) and starts from it, falling back to pki's gossip.key.
//
// Master discovery (MasterDiscovery): any key holder can publish master
// metadata, so a node uses a claim only when the masters' Raft membership,
// read through the API (GET /orch/v1/members, whose TLS certificate the
// node verifies against the cluster CA), names a master of that name at
// that API address. Other claims are ignored and logged once.
//
// Node liveness (Liveness): the pool's view of each member, for the node
// lifecycle controller on the leader. Gossip alone cannot keep a node
// Ready, because any key holder can gossip under a dead node's name: the
// controller (sched.NodeLifecycle) keeps a node Ready only on its own Ready
// heartbeats posted through the authenticated API, and uses gossip only to
// mark a node that gossip declares dead sooner (GossipDeadGrace). Once nodes
// gossip under certificates of their own (CN=system:node:<name>), gossip
// could count as evidence of life again.
package gossip
