package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// describeEvents lists the events about obj as kubectl describe does,
// with a field selector on involvedObject (a Node's uid is its name, as
// the kubelet's node events have it), and prints kubectl's Events table.
// An error leaves the section out: the object is described anyway.
func (a *app) describeEvents(ctx context.Context, c *client.Client, d *descWriter, obj v1.Object) {
	m := obj.GetObjectMeta()
	kind := v1.KindOf(obj)
	uid := m.UID
	if kind == "Node" {
		uid = m.Name
	}
	sel := fmt.Sprintf("involvedObject.kind=%s,involvedObject.name=%s,involvedObject.namespace=%s,involvedObject.uid=%s",
		kind, m.Name, m.Namespace, uid)
	objs, _, err := a.listObjects(ctx, c, mustResource("events"), m.Namespace, "", sel)
	if err != nil {
		return
	}
	if len(objs) == 0 {
		d.line(0, "Events:\t<none>")
		return
	}
	evs := make([]*v1.Event, 0, len(objs))
	for _, o := range objs {
		if e, ok := o.(*v1.Event); ok {
			evs = append(evs, e)
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return eventLess(evs[i], evs[j]) })
	d.line(0, "Events:")
	d.line(1, "Type\tReason\tAge\tFrom\tMessage")
	d.line(1, "----\t------\t----\t----\t-------")
	for _, e := range evs {
		ago := age(v1.Time{Time: e.LastSeen()}, d.now)
		if e.Count > 1 {
			first := e.FirstTimestamp
			if first.IsZero() {
				first = e.CreationTimestamp
			}
			ago = fmt.Sprintf("%s (x%d over %s)", ago, e.Count, age(first, d.now))
		}
		from := e.Source.Component
		if e.Source.Host != "" {
			from += ", " + e.Source.Host
		}
		d.line(1, "%s\t%s\t%s\t%s\t%s", e.Type, e.Reason, ago, from, strings.TrimSpace(e.Message))
	}
}
