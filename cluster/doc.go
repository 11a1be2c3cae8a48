// Package cluster runs the Raft group of the masters: raft-boltdb/v2 log and
// stable stores behind a log cache, file snapshots, a TCP transport with
// mutual TLS, bootstrap from a static initial cluster, leader forwarding,
// linearizable reads and the leadership lifecycle.
//
// Writes: Apply on the leader calls raft.Apply; on a follower it forwards
// the encoded command to the leader's internal endpoint (mutual TLS: each
// master accepts only the certificate of a server of the Raft configuration,
// peers.go) and decodes the results. Reads: ReadBarrier makes a
// read linearizable: the leader confirms its leadership with a heartbeat
// round (VerifyLeader) and names its commit index; the reading master waits
// until it has applied that index, then reads its own store. This is Raft's
// ReadIndex, so followers serve linearizable reads too.
package cluster
