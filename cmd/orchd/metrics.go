package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"orch.io/orch/sched"
)

// registerReplicationMetrics exposes what the replication manager counts.
// The count lives in the manager (sched does not depend on Prometheus); it
// moves only on the master that leads, and keeps its value across
// leaderships, as a counter must.
func registerReplicationMetrics(reg prometheus.Registerer, rm *sched.ReplicationManager) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "orch_replication_create_failures_total",
		Help: "Pod creates of replication controllers that were refused (a ResourceQuota, a LimitRange, ...); each refusal backs its controller off exponentially.",
	}, func() float64 { return float64(rm.RefusedCreates()) }))
}
