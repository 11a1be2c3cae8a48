package main

import (
	"strings"

	v1 "orch.io/orch/api/v1"
)

// eventHeaders are kubectl get events' columns: no NAME, the object
// instead; -o wide adds where the event came from, how often and its name.
func eventHeaders(o tableOptions) []string {
	var h []string
	if o.withNamespace {
		h = append(h, "NAMESPACE")
	}
	h = append(h, "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")
	if o.wide {
		h = append(h, "SUBOBJECT", "SOURCE", "FIRST SEEN", "COUNT", "NAME")
	}
	return h
}

// eventRow returns the cells of an event, matching eventHeaders.
func eventRow(e *v1.Event, o tableOptions) []string {
	var row []string
	if o.withNamespace {
		row = append(row, e.Namespace)
	}
	last := v1.Time{Time: e.LastSeen()}
	obj := strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name
	row = append(row, age(last, o.now), e.Type, e.Reason, obj, strings.TrimSpace(e.Message))
	if o.wide {
		source := e.Source.Component
		if e.Source.Host != "" {
			source += ", " + e.Source.Host
		}
		first := e.FirstTimestamp
		if first.IsZero() {
			first = v1.Time{Time: e.EventTime.Time}
		}
		count := e.Count
		if count == 0 {
			count = 1
		}
		row = append(row, e.InvolvedObject.FieldPath, source, age(first, o.now), itoa(count), e.Name)
	}
	return row
}

// eventLess orders events by when they were last seen, as kubectl
// get events does.
func eventLess(a, b *v1.Event) bool {
	return a.LastSeen().Before(b.LastSeen()) || a.LastSeen().Equal(b.LastSeen()) && a.Name < b.Name
}
