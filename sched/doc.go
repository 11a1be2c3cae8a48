// Package sched holds the leader's control loops: the scheduler, the
// replication manager, pod GC, the garbage collector, the namespace controller,
// the endpoints controller and node lifecycle.
// They read the FSM's store and write through a Proposer, so their decision
// cores are pure functions tested with plain values, and the loops run for
// real on the Raft leader of a three-master cluster.
package sched
