package node

import (
	"log/slog"
	"time"
)

// startTrace times the phases of a pod's first start on this node: from
// the agent receiving the pod to its Running status being queued for the
// API, as the kubelet's pod_start_sli_duration_seconds (image pulls
// excluded) and pod_worker_duration_seconds measure. The worker logs the
// phases once, at debug level; the status manager logs when that status
// reached the API. The run goroutine owns it.
type startTrace struct {
	// received is when the agent got the pod from its watch or list.
	received time.Time
	marks    []traceMark
	// pulling is the time spent pulling images, excluded from the total
	// as the kubelet's SLI excludes it.
	pulling time.Duration
	done    bool
}

// traceMark is the end of one phase.
type traceMark struct {
	phase string
	at    time.Time
}

// newStartTrace starts a trace at received.
func newStartTrace(received time.Time) *startTrace {
	return &startTrace{received: received, marks: make([]traceMark, 0, 8)}
}

// mark ends a phase now. A nil or finished trace ignores it.
func (t *startTrace) mark(phase string) {
	if t == nil || t.done {
		return
	}
	t.marks = append(t.marks, traceMark{phase: phase, at: time.Now()})
}

// pulled adds the time an image pull took.
func (t *startTrace) pulled(d time.Duration) {
	if t == nil || t.done {
		return
	}
	t.pulling += d
}

// finish logs the phases (each one's duration after the previous mark)
// and the total at debug level, once.
func (t *startTrace) finish(log *slog.Logger, pod string) {
	if t == nil || t.done {
		return
	}
	t.done = true
	attrs := make([]any, 0, 2*len(t.marks)+6)
	attrs = append(attrs, "pod", pod)
	prev := t.received
	for _, m := range t.marks {
		attrs = append(attrs, m.phase, m.at.Sub(prev))
		prev = m.at
	}
	attrs = append(attrs, "pulling", t.pulling, "total", prev.Sub(t.received)-t.pulling)
	log.Debug("pod start phases", attrs...)
}
