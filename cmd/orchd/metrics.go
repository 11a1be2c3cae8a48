package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"orch.io/orch/pki"
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

// registerCertificateMetrics exposes the seconds until each certificate
// of the master expires (its own, the CA's, the signer's), read at each
// scrape so a renewed certificate shows at once.
func registerCertificateMetrics(reg prometheus.Registerer, b *pki.Bundle) {
	reg.MustRegister(&certificateExpiry{bundle: b, desc: prometheus.NewDesc("orch_certificate_expiry_seconds",
		"Seconds until the certificate expires (negative once expired): master (this master's own), ca, signer.",
		[]string{"certificate"}, nil)})
}

type certificateExpiry struct {
	bundle *pki.Bundle
	desc   *prometheus.Desc
}

func (c *certificateExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certificateExpiry) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, e := range c.bundle.Expiries() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, e.NotAfter.Sub(now).Seconds(), e.Certificate)
	}
}
