package main

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"orch.io/orch/events"
	"orch.io/orch/sched"
)

// eventFlags are the master's event settings.
type eventFlags struct {
	ttl   time.Duration
	qps   float32
	burst int
}

func (f *eventFlags) register(fl *pflag.FlagSet) {
	fl.DurationVar(&f.ttl, "event-ttl", sched.DefaultEventTTL, "the leader deletes an event this long after it was last seen (kube-apiserver's --event-ttl)")
	fl.Float32Var(&f.qps, "event-qps", events.DefaultQPS, "the most writes (raft entries) a second of each of the leader's event sources (scheduler, replication manager, node lifecycle), after a burst of --event-burst; each write carries a batch of events")
	fl.IntVar(&f.burst, "event-burst", events.DefaultBurst, "the burst of event writes of each of the leader's event sources")
}

// leaderRecorders are the event recorders of the leader's controllers, by
// Kubernetes' component names.
type leaderRecorders struct {
	scheduler, replication, nodeLifecycle, cidrAllocator, job, cronJob, daemonSet, statefulSet, deployment *events.Recorder
}

func newLeaderRecorders(f eventFlags, p sched.Proposer, log *slog.Logger) leaderRecorders {
	return leaderRecorders{
		scheduler:     sched.NewLeaderRecorder("default-scheduler", p, f.qps, f.burst, log),
		replication:   sched.NewLeaderRecorder("replication-controller", p, f.qps, f.burst, log),
		nodeLifecycle: sched.NewLeaderRecorder("node-controller", p, f.qps, f.burst, log),
		cidrAllocator: sched.NewLeaderRecorder("cidrAllocator", p, f.qps, f.burst, log),
		job:           sched.NewLeaderRecorder("job-controller", p, f.qps, f.burst, log),
		cronJob:       sched.NewLeaderRecorder("cronjob-controller", p, f.qps, f.burst, log),
		daemonSet:     sched.NewLeaderRecorder("daemonset-controller", p, f.qps, f.burst, log),
		statefulSet:   sched.NewLeaderRecorder("statefulset-controller", p, f.qps, f.burst, log),
		deployment:    sched.NewLeaderRecorder("deployment-controller", p, f.qps, f.burst, log),
	}
}

func (r leaderRecorders) all() map[string]*events.Recorder {
	return map[string]*events.Recorder{"default-scheduler": r.scheduler, "replication-controller": r.replication,
		"node-controller": r.nodeLifecycle, "cidrAllocator": r.cidrAllocator, "job-controller": r.job,
		"cronjob-controller": r.cronJob, "daemonset-controller": r.daemonSet, "statefulset-controller": r.statefulSet,
		"deployment-controller": r.deployment}
}

// registerEventMetrics exposes what each recorder did with its events.
func registerEventMetrics(reg prometheus.Registerer, recs map[string]*events.Recorder) {
	for name, rec := range recs {
		labels := prometheus.Labels{"component": name}
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "orch_event_writes_total", ConstLabels: labels,
			Help: "Writes (raft entries) of an event source; each carries a batch of event creates and updates."},
			func() float64 { return float64(rec.Stats().Writes) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "orch_events_recorded_total", ConstLabels: labels,
			Help: "Events recorded by an event source, before aggregation and the spam filter."},
			func() float64 { return float64(rec.Stats().Recorded) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "orch_events_dropped_total", ConstLabels: labels,
			Help: "Events of a source dropped: filtered as spam, refused, or beyond the pending bound."},
			func() float64 { s := rec.Stats(); return float64(s.Dropped + s.Filtered) }))
	}
}
