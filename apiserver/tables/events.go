package tables

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

// eventPrinter prints Events as Kubernetes' printEvent (the wide cells
// at priority 1, as the server always sends them).
var eventPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{
		col("Last Seen", "string", 0, "The last time this event was observed."),
		col("Type", "string", 0, "Type of this event (Normal, Warning)."),
		col("Reason", "string", 0, "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
		col("Object", "string", 0, "The object this event is about."),
		col("Subobject", "string", 1, "The container (field path) of the object this event is about."),
		col("Source", "string", 1, "The component reporting this event."),
		col("Message", "string", 0, "A human-readable description of the status of this operation."),
		col("First Seen", "string", 1, "The time at which the event was first recorded."),
		col("Count", "string", 1, "The number of times this event has occurred."),
		col("Name", "string", 1, nameDoc),
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		e := obj.(*v1.Event)
		first := age(e.FirstTimestamp, now)
		if e.FirstTimestamp.IsZero() {
			first = microAge(e.EventTime, now)
		}
		last := age(e.LastTimestamp, now)
		if e.LastTimestamp.IsZero() {
			last = first
		}
		count := e.Count
		if e.Series != nil {
			last, count = microAge(e.Series.LastObservedTime, now), e.Series.Count
		} else if count == 0 {
			count = 1 // a singleton event of the new API
		}
		target := strings.ToLower(e.InvolvedObject.Kind)
		if e.InvolvedObject.Name != "" {
			target += "/" + e.InvolvedObject.Name
		}
		return []any{last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath,
			eventSource(e), strings.TrimSpace(e.Message), first, int64(count), e.Name}, nil
	},
}

// microAge is age for a MicroTime.
func microAge(t v1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return age(v1.Time{Time: t.Time}, now)
}

// eventSource is Kubernetes' formatEventSource: the source's component
// and host, or the reporting controller and instance of a new-style event.
func eventSource(e *v1.Event) string {
	component, host := e.Source.Component, e.Source.Host
	if component == "" {
		component, host = e.ReportingController, e.ReportingInstance
	}
	if host == "" {
		return component
	}
	return fmt.Sprintf("%s, %s", component, host)
}
