// Package apiserver is orch's HTTPS API: Kubernetes-shaped REST paths for the
// supported kinds, bearer-token authentication, strict decoding with limits,
// compare-and-swap updates, merge patches, subresources, lists and
// resumable watches, discovery, health and Prometheus metrics.
//
// Writes are turned into FSM commands and committed through the Backend (the
// cluster), which forwards them to the leader when needed. Reads are
// linearizable by default (Backend.ReadBarrier); ?stale=true reads this
// master's copy without the check.
package apiserver
