package node

import (
	"context"
	"log/slog"

	"orch.io/orch/api/client"
	"orch.io/orch/events"
)

// EventSink is the events.Sink of a node agent: it writes each event with
// its own API request (a create, or for a repeat a replace of the stored
// event), with the node's credentials; the Node authorizer and
// NodeRestriction let a node write only events about itself and its pods.
type EventSink struct {
	Client *client.Client
}

// Write implements events.Sink.
func (s EventSink) Write(ctx context.Context, writes []events.Write) []events.Result {
	out := make([]events.Result, len(writes))
	for i, w := range writes {
		ev := *w.Event
		var err error
		if w.Update {
			ev.ResourceVersion = ""
			err = s.Client.Update(ctx, &ev)
		} else {
			err = s.Client.Create(ctx, &ev)
		}
		out[i] = events.Result{Event: &ev, Err: err}
	}
	return out
}

// NewRecorder returns the recorder of a node agent's events (the
// kubelet's component and the node's name as host): each write is one
// request, at most qps a second after a burst.
func NewRecorder(name string, c *client.Client, qps float32, burst int, log *slog.Logger) *events.Recorder {
	return events.New(events.Config{Component: "kubelet", Host: name, Sink: EventSink{Client: c},
		QPS: qps, Burst: burst, MaxBatch: 1, Logger: log})
}

var _ events.Sink = EventSink{}
