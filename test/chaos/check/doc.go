// Package check holds the checkers the chaos suite runs over recorded
// histories: a linearizability checker for the object API and simpler
// checks for watch streams, lost writes and resourceVersions.
//
// # Linearizability (Linearizable)
//
// Every client request is recorded as an [Op]: what was asked (kind, key,
// value, CAS precondition), when it was called, when its answer came back and
// what the answer was. [Linearizable] hands the history to porcupine
// (github.com/anishathalye/porcupine), partitioned by key: objects are
// independent, so the history is linearizable if and only if each key's
// sub-history is, and each key is checked on its own.
//
// The sequential model of one key is the state
//
//	{exists bool, value string, rv uint64, floor uint64}
//
// rv is the object's resourceVersion; 0 means "unknown" (see below). floor
// is the largest resourceVersion known to have been assigned to a write of
// this key, deleted incarnations included: resourceVersions are Raft indexes,
// strictly increasing across the cluster, so every later write of the key
// must get a larger one. A key starts absent, with floor 0.
//
// The transitions, for an answered request:
//
//	Create  OK                  !exists; then {true, value, RV}        (RV > floor)
//	Create  AlreadyExists       exists
//	Update  OK                  exists && (ExpectRV=="" || ExpectRV==rv); then {true, value, RV} (RV > floor)
//	Update  Conflict            !exists || (ExpectRV!="" && ExpectRV!=rv)
//	Update  NotFound            !exists
//	Delete  OK                  exists; then {false, "", -}
//	Delete  NotFound            !exists
//	Get     OK                  (Found, GotValue, RV) == (exists, value, rv)
//	Get     NotFound            !exists
//
// An OK write that did not report its resourceVersion leaves rv unknown.
//
// A request that failed for any other reason (422 Invalid, 503, a Create
// answered NotFound because its namespace is missing, ...) definitely had no
// effect and told us nothing about the object: it is dropped from the history.
// So is a Get whose answer never came back.
//
// # Unknown outcomes
//
// A write whose answer never came back may have been applied at any moment
// after it was called -- even long after the client gave up -- or never. As
// in etcd's robustness tests, such an op gets a return time after every other
// op in the history (+infinity), and the model is nondeterministic: the op
// steps to both the "applied" and the "not applied" state. porcupine's
// NondeterministicModel turns this into a deterministic model over sets of
// states (a power-set construction), so the checker explores both branches.
//
// An applied unknown write produced a resourceVersion nobody saw: the state
// keeps rv = 0 ("unknown, but > floor"). The first Get that sees the object
// again pins it down (any RV > floor is accepted and becomes rv), and an
// Update whose ExpectRV is > floor may match it.
//
// # Other checks
//
// [CheckWatch] checks one watch stream on its own: events strictly after the
// start resourceVersion, resourceVersions non-decreasing (one Raft entry may
// change several objects, so several events may share one), no duplicate
// event, and a sane per-key type sequence (no ADDED for a key the stream
// shows as existing, nothing but ADDED after a DELETED).
// [CheckWatchAgainst] compares a stream with the canonical history of
// changes: it must be exactly the part of the history after the start
// resourceVersion, with no gap, duplicate or reordering.
// [CheckNoLostWrites] compares the last acknowledged write of each key with
// what is read at the end, and [CheckRVs] checks that the resourceVersions
// returned by successful writes are unique and respect real-time order.
package check
