// Package events records Kubernetes-style Events about objects, with
// Kubernetes' semantics: Eventf(obj, type, reason, message) as client-go's
// EventRecorder, identical events aggregated into one with a growing count
// and lastTimestamp, similar events (same reason, different messages)
// combined, and a spam filter per source and object — all by client-go's
// own EventCorrelator (tools/record). On top of that a token bucket per
// recorder bounds how many writes (raft entries) its events may cost:
// events waiting for a token are coalesced (a later count replaces an
// earlier one), so a crash-looping pod costs a few writes, not one per
// restart. Where a Sink can write many events in one entry (a master's
// controllers proposing one batch command) it gets them together.
//
// The package has no API client of its own: the master's controllers give
// it a Sink that proposes batches through raft, a node agent one that
// writes through the API.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/clock"

	v1 "orch.io/orch/api/v1"
)

// Recorder defaults.
const (
	// DefaultQPS and DefaultBurst bound the writes of one recorder: at
	// most DefaultBurst at once, then DefaultQPS a second.
	DefaultQPS   = 5
	DefaultBurst = 10
	// DefaultMaxPending bounds the events waiting for a write; a new
	// event beyond it is dropped (client-go's broadcaster drops likewise
	// when its queue of 1000 is full).
	DefaultMaxPending = 1000
	// maxTries is how often a write that failed for want of a server is
	// tried before the event is dropped.
	maxTries = 5
)

// Write is one event for a Sink to store.
type Write struct {
	// Event is the event, with its final name. For a create it has no
	// resourceVersion; for an update it is the whole new event (an
	// unconditional replace, as client-go's patch of count, message and
	// lastTimestamp).
	Event *v1.Event
	// Update says the event is already stored under its name.
	Update bool
}

// Sink stores events.
type Sink interface {
	// Write stores the events and returns, for each, the stored event or
	// an error (a *v1.StatusError for an API refusal). A Sink that can
	// write several events in one raft entry does so; each call costs
	// the recorder one token.
	Write(ctx context.Context, writes []Write) []Result
}

// Result is what a Sink made of one Write.
type Result struct {
	Event *v1.Event
	Err   error
}

// Config configures a Recorder.
type Config struct {
	// Component is the source of the events ("default-scheduler",
	// "kubelet", "replication-controller", "node-controller").
	Component string
	// Host is the node of a node agent's events, else "".
	Host string
	// Sink stores the events.
	Sink Sink
	// QPS and Burst are the recorder's token bucket: each Sink.Write
	// takes a token. Zero means DefaultQPS and DefaultBurst.
	QPS   float32
	Burst int
	// MaxBatch is how many events one Sink.Write may carry: 1 for a sink
	// that writes each event with its own request. Zero means 1.
	MaxBatch int
	// MaxPending bounds the events waiting for a token; zero means
	// DefaultMaxPending.
	MaxPending int
	// Clock is the recorder's clock (a fake in tests); nil means the real one.
	Clock clock.WithTicker
	// Logger logs dropped events and failed writes.
	Logger *slog.Logger
	// Correlator overrides client-go's correlator options (tests); the
	// zero value is client-go's defaults.
	Correlator record.CorrelatorOptions
}

// Recorder records events. It is safe for concurrent use; Run writes them.
type Recorder struct {
	cfg        Config
	clock      clock.WithTicker
	correlator *record.EventCorrelator
	limiter    flowcontrol.PassiveRateLimiter
	kick       chan struct{}

	mu       sync.Mutex
	lastName int64                    // the newest nanosecond used in a name
	pending  map[string]*pendingEvent // by event namespace/name
	order    []string                 // pending keys, oldest first
	stats    Stats
}

// pendingEvent is an event waiting for its write.
type pendingEvent struct {
	event  *v1.Event
	update bool
	tries  int
}

// Stats counts what a recorder did with its events.
type Stats struct {
	// Recorded is every Eventf call.
	Recorded int
	// Filtered were dropped by the spam filter.
	Filtered int
	// Coalesced replaced a pending write of the same event.
	Coalesced int
	// Dropped found the pending queue full, or failed for good.
	Dropped int
	// Writes are Sink.Write calls, each one token; Written the events
	// they stored.
	Writes, Written int
}

// New returns a Recorder; Run writes what it records.
func New(cfg Config) *Recorder {
	if cfg.QPS <= 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	opts := cfg.Correlator
	opts.Clock = cfg.Clock
	return &Recorder{
		cfg:        cfg,
		clock:      cfg.Clock,
		correlator: record.NewEventCorrelatorWithOptions(opts),
		limiter:    flowcontrol.NewTokenBucketPassiveRateLimiterWithClock(cfg.QPS, cfg.Burst, cfg.Clock),
		kick:       make(chan struct{}, 1),
		pending:    map[string]*pendingEvent{},
	}
}

// Eventf records an event about obj: eventtype is Normal or Warning,
// reason a CamelCase word, the message formatted as fmt.Sprintf.
func (r *Recorder) Eventf(obj v1.Object, eventtype, reason, messageFmt string, args ...any) {
	r.RefEventf(Ref(obj), eventtype, reason, messageFmt, args...)
}

// RefEventf records an event about the object ref names (with a
// fieldPath for a container: ContainerRef).
func (r *Recorder) RefEventf(ref v1.ObjectReference, eventtype, reason, messageFmt string, args ...any) {
	if r == nil {
		return
	}
	msg := messageFmt
	if len(args) > 0 {
		msg = fmt.Sprintf(messageFmt, args...)
	}
	r.record(r.makeEvent(ref, eventtype, reason, msg))
}

// Ref is the reference of an event about obj. A Node's uid is its name,
// as the kubelet's node events have it and as kubectl describe node
// searches for.
func Ref(obj v1.Object) v1.ObjectReference {
	m := obj.GetObjectMeta()
	ref := v1.ObjectReference{Kind: v1.KindOf(obj), Namespace: m.Namespace, Name: m.Name, UID: m.UID,
		ResourceVersion: m.ResourceVersion, APIVersion: v1.APIVersion}
	if res, err := v1.ResourceOf(obj); err == nil {
		ref.APIVersion = res.GroupVersion()
	}
	if ref.Kind == "Node" {
		ref.UID = m.Name
	}
	return ref
}

// ContainerRef is the reference of an event about one container of a pod,
// with the kubelet's fieldPath spec.containers{name}.
func ContainerRef(pod *v1.Pod, container string) v1.ObjectReference {
	ref := Ref(pod)
	ref.FieldPath = "spec.containers{" + container + "}"
	for _, c := range pod.Spec.InitContainers {
		if c.Name == container {
			ref.FieldPath = "spec.initContainers{" + container + "}"
		}
	}
	return ref
}

// makeEvent is client-go's makeEvent: the name is the object's name and
// the time in hex nanoseconds; the namespace the object's, or default.
func (r *Recorder) makeEvent(ref v1.ObjectReference, eventtype, reason, message string) *corev1.Event {
	now := r.clock.Now()
	// client-go names an event by the time in nanoseconds; two events in
	// the same nanosecond (a coarse clock) get consecutive ones.
	r.mu.Lock()
	nanos := max(now.UnixNano(), r.lastName+1)
	r.lastName = nanos
	r.mu.Unlock()
	ns := ref.Namespace
	if ns == "" {
		ns = v1.DefaultNamespace
	}
	t := v1.NewTime(now)
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%v.%x", ref.Name, nanos), Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name,
			UID: types.UID(ref.UID), APIVersion: ref.APIVersion, ResourceVersion: ref.ResourceVersion, FieldPath: ref.FieldPath},
		Reason:         reason,
		Message:        message,
		FirstTimestamp: metav1.NewTime(t.Time),
		LastTimestamp:  metav1.NewTime(t.Time),
		Count:          1,
		Type:           eventtype,
		Source:         corev1.EventSource{Component: r.cfg.Component, Host: r.cfg.Host},
		// As client-go's recorder: the reporting fields name the source.
		ReportingController: r.cfg.Component,
		ReportingInstance:   r.cfg.Host,
	}
}

// record correlates an event and queues its write.
func (r *Recorder) record(ev *corev1.Event) {
	res, err := r.correlator.EventCorrelate(ev)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Recorded++
	if err != nil {
		r.cfg.Logger.Warn("event correlation failed", "err", err)
	}
	if res == nil || res.Skip {
		r.stats.Filtered++
		return
	}
	out, err := fromCore(res.Event)
	if err != nil {
		r.cfg.Logger.Warn("event not recorded", "reason", ev.Reason, "err", err)
		r.stats.Dropped++
		return
	}
	out.ResourceVersion = ""
	key := v1.Key(out.Namespace, out.Name)
	if p, ok := r.pending[key]; ok {
		// A later observation of an event not yet written: one write
		// carries the latest count, as a create if the event is not
		// stored yet.
		p.event = out
		r.stats.Coalesced++
		return
	}
	if len(r.pending) >= r.cfg.MaxPending {
		r.stats.Dropped++
		r.cfg.Logger.Warn("event dropped: too many events waiting to be written", "reason", out.Reason,
			"object", v1.Key(out.InvolvedObject.Namespace, out.InvolvedObject.Name))
		return
	}
	r.pending[key] = &pendingEvent{event: out, update: res.Event.Count > 1}
	r.order = append(r.order, key)
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Stats returns the recorder's counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Pending is the number of events waiting for a write.
func (r *Recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Run writes the recorded events until ctx ends, each Sink.Write after
// taking a token of the recorder's bucket.
func (r *Recorder) Run(ctx context.Context) {
	wait := time.Duration(float64(time.Second) / float64(r.cfg.QPS))
	for {
		for r.Pending() > 0 && ctx.Err() == nil {
			if !r.Flush(ctx) {
				break
			}
		}
		var retry <-chan time.Time
		if r.Pending() > 0 {
			retry = r.clock.After(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-retry:
		}
	}
}

// Flush writes the oldest pending events (up to MaxBatch) with one
// Sink.Write if the bucket has a token, and reports whether it wrote.
func (r *Recorder) Flush(ctx context.Context) bool {
	r.mu.Lock()
	if len(r.order) == 0 || !r.limiter.TryAccept() {
		r.mu.Unlock()
		return false
	}
	n := min(len(r.order), r.cfg.MaxBatch)
	keys := append([]string(nil), r.order[:n]...)
	r.order = r.order[n:]
	writes := make([]Write, n)
	taken := make([]*pendingEvent, n)
	for i, k := range keys {
		p := r.pending[k]
		delete(r.pending, k)
		p.tries++
		taken[i] = p
		writes[i] = Write{Event: p.event, Update: p.update}
	}
	r.stats.Writes++
	r.mu.Unlock()

	results := r.cfg.Sink.Write(ctx, writes)
	for i, p := range taken {
		res := Result{Err: fmt.Errorf("sink returned %d results for %d events", len(results), len(writes))}
		if i < len(results) {
			res = results[i]
		}
		r.done(p, res)
	}
	return true
}

// done handles the outcome of one event's write, as client-go's
// recordEvent: a stored event updates the correlator's view of it; an
// update of an event that is gone (expired) becomes a create; an API
// refusal drops it; anything else (no server) is tried again later.
func (r *Recorder) done(p *pendingEvent, res Result) {
	if res.Err == nil {
		if res.Event != nil {
			if ce, err := toCore(res.Event); err == nil {
				r.correlator.UpdateState(ce)
			}
		}
		r.mu.Lock()
		r.stats.Written++
		r.mu.Unlock()
		return
	}
	retry := false
	switch {
	case p.update && v1.IsNotFound(res.Err):
		p.update, retry = false, true
	case v1.IsAlreadyExists(res.Err):
		// As client-go: another writer has the name; never overwrite it.
	case v1.CodeOf(res.Err) >= 400 && v1.CodeOf(res.Err) < 500:
		r.cfg.Logger.Warn("server rejected event (will not retry)", "event", p.event.Name, "reason", p.event.Reason, "err", res.Err)
	default:
		retry = p.tries < maxTries
		if !retry {
			r.cfg.Logger.Warn("unable to write event (retry limit exceeded)", "event", p.event.Name, "err", res.Err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !retry {
		r.stats.Dropped++
		return
	}
	key := v1.Key(p.event.Namespace, p.event.Name)
	if newer, ok := r.pending[key]; ok {
		// A later observation is already waiting; it keeps what we learnt.
		newer.update = p.update
		return
	}
	r.pending[key] = p
	r.order = append(r.order, key)
}

// fromCore and toCore convert between client-go's Event and orch's, whose
// JSON is the same.
func fromCore(e *corev1.Event) (*v1.Event, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	var out v1.Event
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	v1.SetTypeMeta(&out)
	return &out, nil
}

func toCore(e *v1.Event) (*corev1.Event, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	var out corev1.Event
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return &out, nil
}
