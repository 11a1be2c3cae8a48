package v1

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Event is a report of something that happened to an object, as
// Kubernetes' core/v1 Event. Events are recorded by the scheduler, the
// controllers and the node agents (package events), aggregated by the
// recorder (count, lastTimestamp) and deleted by the leader after the
// event TTL.
type Event struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// InvolvedObject is the object the event is about.
	InvolvedObject ObjectReference `json:"involvedObject"`
	// Reason is a short machine-readable CamelCase reason ("Scheduled").
	Reason string `json:"reason,omitempty"`
	// Message is a human-readable description.
	Message string `json:"message,omitempty"`
	// Source is the component (and host) that reported the event.
	Source EventSource `json:"source,omitempty"`
	// FirstTimestamp is when the event was first recorded.
	FirstTimestamp Time `json:"firstTimestamp,omitempty"`
	// LastTimestamp is when it was last recorded.
	LastTimestamp Time `json:"lastTimestamp,omitempty"`
	// Count is how many times it has occurred.
	Count int32 `json:"count,omitempty"`
	// Type is Normal or Warning.
	Type string `json:"type,omitempty"`
	// EventTime is when the event was first observed (new-style events).
	EventTime MicroTime `json:"eventTime,omitempty"`
	// Series describes a series of repeated new-style events.
	Series *EventSeries `json:"series,omitempty"`
	// Action is what was taken or failed regarding the object.
	Action string `json:"action,omitempty"`
	// Related is an optional secondary object.
	Related *ObjectReference `json:"related,omitempty"`
	// ReportingController is the controller that emitted the event
	// (reportingComponent on the wire, as in Kubernetes).
	ReportingController string `json:"reportingComponent"`
	// ReportingInstance is the ID of the controller's instance.
	ReportingInstance string `json:"reportingInstance"`
}

// EventSource names the component that recorded an event.
type EventSource struct {
	Component string `json:"component,omitempty"`
	Host      string `json:"host,omitempty"`
}

// EventSeries is a series of new-style events.
type EventSeries struct {
	Count            int32     `json:"count,omitempty"`
	LastObservedTime MicroTime `json:"lastObservedTime,omitempty"`
}

// Event types.
const (
	EventTypeNormal  = "Normal"
	EventTypeWarning = "Warning"
)

// Limits of Kubernetes' event validation.
const (
	eventReportingInstanceLengthLimit = 128
	eventActionLengthLimit            = 128
	eventReasonLengthLimit            = 128
	eventNoteLengthLimit              = 1024
)

// LastSeen is the latest time an event says it was observed: its
// lastTimestamp, series, eventTime or creation, whichever is latest. The
// event TTL counts from it.
func (e *Event) LastSeen() time.Time {
	t := e.CreationTimestamp.Time
	for _, c := range []time.Time{e.LastTimestamp.Time, e.FirstTimestamp.Time, e.EventTime.Time} {
		if c.After(t) {
			t = c
		}
	}
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	return t
}

// validateEvent is Kubernetes' legacyValidateEvent (pkg/apis/core/
// validation/events.go) for core/v1 requests: an old-style event (no
// eventTime) must sit in its object's namespace ("default" for a
// cluster-scoped object); a new-style one must name its reporter, action
// and reason within Kubernetes' limits.
func validateEvent(e *Event) field.ErrorList {
	var errs field.ErrorList
	ns := field.NewPath("involvedObject", "namespace")
	if e.EventTime.IsZero() {
		if e.InvolvedObject.Namespace == "" {
			if e.Namespace != "" && e.Namespace != DefaultNamespace {
				errs = append(errs, field.Invalid(ns, e.InvolvedObject.Namespace, "does not match event.namespace"))
			}
		} else if e.Namespace != e.InvolvedObject.Namespace {
			errs = append(errs, field.Invalid(ns, e.InvolvedObject.Namespace, "does not match event.namespace"))
		}
	} else {
		if e.InvolvedObject.Namespace == "" && e.Namespace != DefaultNamespace && e.Namespace != "kube-system" {
			errs = append(errs, field.Invalid(ns, e.InvolvedObject.Namespace, "does not match event.namespace"))
		}
		// Kubernetes names the field by its internal name on both group
		// versions (reportingComponent on the core/v1 wire).
		rc := field.NewPath("reportingController")
		if e.ReportingController == "" {
			errs = append(errs, field.Required(rc, ""))
		}
		for _, msg := range content.IsQualifiedName(e.ReportingController) {
			errs = append(errs, field.Invalid(rc, e.ReportingController, msg))
		}
		if e.ReportingInstance == "" {
			errs = append(errs, field.Required(field.NewPath("reportingInstance"), ""))
		}
		if len(e.ReportingInstance) > eventReportingInstanceLengthLimit {
			errs = append(errs, field.Invalid(field.NewPath("reportingInstance"), "", fmt.Sprintf("can have at most %v characters", eventReportingInstanceLengthLimit)))
		}
		if e.Action == "" {
			errs = append(errs, field.Required(field.NewPath("action"), ""))
		}
		if len(e.Action) > eventActionLengthLimit {
			errs = append(errs, field.Invalid(field.NewPath("action"), "", fmt.Sprintf("can have at most %v characters", eventActionLengthLimit)))
		}
		if e.Reason == "" {
			errs = append(errs, field.Required(field.NewPath("reason"), ""))
		}
		if len(e.Reason) > eventReasonLengthLimit {
			errs = append(errs, field.Invalid(field.NewPath("reason"), "", fmt.Sprintf("can have at most %v characters", eventReasonLengthLimit)))
		}
		if len(e.Message) > eventNoteLengthLimit {
			errs = append(errs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", eventNoteLengthLimit)))
		}
	}
	return errs
}

// eventFields are an event's selectable fields, as Kubernetes'
// EventToSelectableFields.
func eventFields(e *Event, set map[string]string) {
	set["involvedObject.kind"] = e.InvolvedObject.Kind
	set["involvedObject.namespace"] = e.InvolvedObject.Namespace
	set["involvedObject.name"] = e.InvolvedObject.Name
	set["involvedObject.uid"] = e.InvolvedObject.UID
	set["involvedObject.apiVersion"] = e.InvolvedObject.APIVersion
	set["involvedObject.resourceVersion"] = e.InvolvedObject.ResourceVersion
	set["involvedObject.fieldPath"] = e.InvolvedObject.FieldPath
	set["reason"] = e.Reason
	set["reportingComponent"] = e.ReportingController
	source := e.Source.Component
	if source == "" {
		source = e.ReportingController
	}
	set["source"] = source
	set["type"] = e.Type
}

// eventSelectableFields lists the fields a field selector on events may name.
var eventSelectableFields = []string{"metadata.name", "metadata.namespace",
	"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
	"involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
	"reason", "reportingComponent", "source", "type"}
