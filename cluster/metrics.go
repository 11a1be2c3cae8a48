package cluster

import "github.com/prometheus/client_golang/prometheus"

// metrics are the cluster's Prometheus collectors.
type metrics struct {
	applyLatency  *prometheus.HistogramVec
	leaderChanges prometheus.Counter
	isLeader      prometheus.Gauge
	forwarded     prometheus.Counter
	// forwardBatches counts the requests that carried forwarded commands:
	// forwarded over it is the commands per batch, which decides what
	// forwarding costs (most of it is per request).
	forwardBatches prometheus.Counter
	diskFull       prometheus.Gauge
}

// registerFSMMetrics exposes what the FSM counts.
func registerFSMMetrics(reg prometheus.Registerer, rejected func() uint64) {
	if reg == nil {
		return
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "orch_fsm_rejected_entries_total",
		Help: "Committed Raft entries this master's FSM could not apply (undecodable or invalid); each changed nothing and was answered with an error.",
	}, func() float64 { return float64(rejected()) }))
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		applyLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orch_raft_apply_duration_seconds",
			Help:    "Time from proposing a command to its result, by where it was applied (leader or forwarded).",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}, []string{"path"}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orch_raft_leader_changes_total",
			Help: "Times this master saw the Raft leadership change (gained or lost).",
		}),
		isLeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "orch_raft_is_leader",
			Help: "1 if this master is the Raft leader.",
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orch_raft_forwarded_commands_total",
			Help: "Commands this master forwarded to the leader.",
		}),
		forwardBatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orch_raft_forwarded_batches_total",
			Help: "Requests that carried forwarded commands to the leader, each a batch of one or more; orch_raft_forwarded_commands_total over this is the commands per batch.",
		}),
		diskFull: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "orch_raft_disk_full",
			Help: "1 while this master's data dir is full: its last write to the Raft log failed for lack of room.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.applyLatency, m.leaderChanges, m.isLeader, m.forwarded, m.forwardBatches, m.diskFull)
	}
	return m
}

// registerMemoryGauges exposes what the byte-bounded caches hold: the watch
// feed of the current store and the Raft log cache.
func registerMemoryGauges(reg prometheus.Registerer, feedBytes func() int64, cache *logCache) {
	if reg == nil {
		return
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "orch_watch_feed_bytes",
			Help: "Bytes counted against --watch-feed-bytes by the change events kept for watches.",
		}, func() float64 { return float64(feedBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "orch_raft_log_cache_bytes",
			Help: "Bytes of Raft log entries held in memory (bounded by --raft-log-cache-bytes).",
		}, func() float64 { _, b := cache.stats(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "orch_raft_log_cache_entries",
			Help: "Raft log entries held in memory.",
		}, func() float64 { n, _ := cache.stats(); return float64(n) }),
	)
}
