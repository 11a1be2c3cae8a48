// Package fsm is orch's replicated state machine: the go-memdb Store that
// holds every object, the commands that change it, the change feed that
// feeds watches, and FSM, the raft.FSM that applies committed log entries.
//
// Apply is deterministic: it reads no clock, draws no random numbers and does
// no I/O. Everything that varies (uids, timestamps, generated names) is set by
// the API server before the command is proposed. Checks that depend on state
// (name taken, resourceVersion precondition, namespace exists, pod already
// bound) are made here, so every master reaches the same answer.
package fsm
