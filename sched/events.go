package sched

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/fsm"
)

// EventSink is the events.Sink of the leader's controllers: it proposes
// a recorder's batch of event creates and updates as one batch command, so
// a burst of events costs one raft entry. uid and creationTimestamp are
// made here, before proposing, never in the FSM.
type EventSink struct {
	// Proposer commits the batch.
	Proposer Proposer
	// Now is the sink's clock (default time.Now).
	Now func() time.Time
}

// Write implements events.Sink.
func (s EventSink) Write(ctx context.Context, writes []events.Write) []events.Result {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	out := make([]events.Result, len(writes))
	var items []fsm.BatchItem
	var at []int // at[j] is the write of items[j]
	for i, w := range writes {
		ev := *w.Event
		var cmd []byte
		var err error
		if w.Update {
			ev.ResourceVersion = "" // an unconditional replace, as client-go's patch
			if err = v1.Validate(&ev); err == nil {
				cmd, err = fsm.NewUpdate(&ev, false)
			}
		} else {
			ev.UID = uuid.NewString()
			ev.CreationTimestamp = v1.NewTime(now())
			v1.Default(&ev)
			if err = v1.Validate(&ev); err == nil {
				cmd, err = fsm.NewCreate(&ev)
			}
		}
		if err != nil {
			out[i].Err = err
			continue
		}
		items = append(items, fsm.BatchItem{Type: fsm.CommandType(cmd[0]), Body: cmd[1:]})
		at = append(at, i)
	}
	if len(items) == 0 {
		return out
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err == nil {
		var res any
		res, err = s.Proposer.Apply(ctx, cmd)
		if results, ok := res.(fsm.BatchResult); err == nil && ok && len(results) == len(items) {
			for j, r := range results {
				out[at[j]].Err = r.Err
				if r.Err == nil && r.Record != nil {
					out[at[j]].Event, _ = r.Record.Object().(*v1.Event)
				}
			}
			return out
		}
		if err == nil {
			err = fmt.Errorf("event batch: unexpected result %T", res)
		}
	}
	for _, i := range at {
		out[i].Err = err
	}
	return out
}

// NewLeaderRecorder returns the recorder of one of the leader's
// controllers: its writes are batches proposed through p, at most qps a
// second after a burst.
func NewLeaderRecorder(component string, p Proposer, qps float32, burst int, log *slog.Logger) *events.Recorder {
	return events.New(events.Config{Component: component, Sink: EventSink{Proposer: p},
		QPS: qps, Burst: burst, MaxBatch: maxEventBatch, Logger: log})
}

// maxEventBatch bounds the events of one batch entry (each ~1 KiB).
const maxEventBatch = 200

// DefaultEventTTL is how long an event lives after it was last seen, as
// kube-apiserver's --event-ttl.
const DefaultEventTTL = time.Hour

// EventTTLConfig configures the event TTL controller.
type EventTTLConfig struct {
	// Store returns the current store.
	Store func() *fsm.Store
	// Proposer commits the deletes.
	Proposer Proposer
	// Logger receives the controller's logs.
	Logger *slog.Logger
	// TTL is how long an event lives after it was last seen (default
	// DefaultEventTTL).
	TTL time.Duration
	// Interval is the longest pause between passes (default TTL/10,
	// between 1 s and 1 min).
	Interval time.Duration
	// Now is the leader's clock (default time.Now).
	Now func() time.Time
}

// EventTTL deletes, while this master leads, the events last seen more
// than TTL ago by the leader's clock, as kube-apiserver's etcd lease does.
// The clock is read here and the deletes carry each event's
// resourceVersion as a precondition: an event updated meanwhile (seen
// again) stays. The FSM reads no clock.
type EventTTL struct {
	cfg EventTTLConfig
}

// NewEventTTL returns the event TTL controller; Run starts it.
func NewEventTTL(cfg EventTTLConfig) *EventTTL {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultEventTTL
	}
	if cfg.Interval <= 0 {
		cfg.Interval = min(max(cfg.TTL/10, time.Second), time.Minute)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "event-ttl")
	return &EventTTL{cfg: cfg}
}

// Run deletes expired events every Interval until ctx ends.
func (c *EventTTL) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		if err := c.Pass(ctx, c.cfg.Store()); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("event expiry failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass deletes the events of store last seen more than TTL ago, in
// batches of at most maxEventBatch per entry.
func (c *EventTTL) Pass(ctx context.Context, store *fsm.Store) error {
	res, err := store.List("events", fsm.ListOptions{})
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	now := c.cfg.Now()
	nowT := v1.NewTime(now)
	var items []fsm.BatchItem
	expired := 0
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
		if err != nil {
			return err
		}
		items = items[:0]
		if _, err := c.cfg.Proposer.Apply(ctx, cmd); err != nil {
			return fmt.Errorf("delete expired events: %w", err)
		}
		return nil
	}
	for _, rec := range res.Items {
		ev, ok := rec.Object().(*v1.Event)
		if !ok || now.Sub(ev.LastSeen()) < c.cfg.TTL {
			continue
		}
		body, err := fsm.EncodeBody(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "events", Namespace: ev.Namespace,
			Name: ev.Name, UID: ev.UID, ResourceVersion: ev.ResourceVersion, Now: nowT})
		if err != nil {
			return err
		}
		items = append(items, fsm.BatchItem{Type: fsm.DeleteCommand, Body: body})
		expired++
		if len(items) == maxEventBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if expired > 0 {
		c.cfg.Logger.Info("deleted expired events", "count", expired, "ttl", c.cfg.TTL)
	}
	return nil
}

// recordPod is the pod of a stored record, if it is one.
func recordPod(r *fsm.Record) (*v1.Pod, bool) {
	if r == nil {
		return nil, false
	}
	p, ok := r.Object().(*v1.Pod)
	return p, ok
}
