package v1

import (
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// EventsGroup is the API group of the new-style Event
// (events.k8s.io/v1), a second view of the stored core/v1 Events.
const EventsGroup = "events.k8s.io"

// EventV1 is Kubernetes' events.k8s.io/v1 Event: the same stored event
// as the core/v1 Event, with fields renamed (regarding, note,
// reportingController, deprecated* for the old-style fields). orch stores
// only the core Event; this type exists at the API's edge and is
// converted on every request (ToEventV1, FromEventV1).
type EventV1 struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// EventTime is when the event was first observed. Required on create.
	EventTime MicroTime `json:"eventTime"`
	// Series is data about the event series this event represents, or
	// nil for a singleton event.
	Series *EventV1Series `json:"series,omitempty"`
	// ReportingController is the controller that emitted the event, e.g.
	// "kubernetes.io/kubelet". Required on create.
	ReportingController string `json:"reportingController,omitempty"`
	// ReportingInstance is the ID of the controller's instance. Required
	// on create.
	ReportingInstance string `json:"reportingInstance,omitempty"`
	// Action is what was taken or failed regarding the regarding object.
	Action string `json:"action,omitempty"`
	// Reason is why the action was taken.
	Reason string `json:"reason,omitempty"`
	// Regarding is the object this event is about (involvedObject in core/v1).
	Regarding ObjectReference `json:"regarding,omitempty"`
	// Related is an optional secondary object.
	Related *ObjectReference `json:"related,omitempty"`
	// Note is a human-readable description (message in core/v1).
	Note string `json:"note,omitempty"`
	// Type is Normal or Warning.
	Type string `json:"type,omitempty"`
	// DeprecatedSource is the core/v1 source, kept for old-style events.
	DeprecatedSource EventSource `json:"deprecatedSource,omitempty"`
	// DeprecatedFirstTimestamp is the core/v1 firstTimestamp.
	DeprecatedFirstTimestamp Time `json:"deprecatedFirstTimestamp,omitempty"`
	// DeprecatedLastTimestamp is the core/v1 lastTimestamp.
	DeprecatedLastTimestamp Time `json:"deprecatedLastTimestamp,omitempty"`
	// DeprecatedCount is the core/v1 count.
	DeprecatedCount int32 `json:"deprecatedCount,omitempty"`
}

// EventV1Series is an events.k8s.io/v1 event series: how often and when
// last an event was observed again.
type EventV1Series struct {
	// Count is the number of occurrences in this series up to the last
	// heartbeat time.
	Count int32 `json:"count"`
	// LastObservedTime is the time when the last event of the series was seen.
	LastObservedTime MicroTime `json:"lastObservedTime"`
}

// eventV1Resource is the events.k8s.io/v1 view of the stored events.
var eventV1Resource = Resource{Group: EventsGroup, Name: "events", Singular: "event", Kind: "Event",
	ShortNames: []string{"ev"}, Namespaced: true, Verbs: eventVerbs, New: func() Object { return &EventV1{} },
	View: &View{
		ToStored:       func(o Object) Object { return FromEventV1(o.(*EventV1)) },
		FromStored:     func(o Object) Object { return ToEventV1(o.(*Event)) },
		ValidateCreate: func(o Object) field.ErrorList { return validateEventV1Create(o.(*Event)) },
		ValidateUpdate: func(o, old Object) field.ErrorList { return validateEventV1Update(o.(*Event), old.(*Event)) },
	}}

// ToEventV1 is Kubernetes' Convert_core_Event_To_v1_Event: the
// events.k8s.io/v1 view of a stored event. The result shares no memory
// with e's pointers.
func ToEventV1(e *Event) *EventV1 {
	out := &EventV1{
		TypeMeta:                 TypeMeta{Kind: "Event", APIVersion: EventsGroup + "/" + APIVersion},
		ObjectMeta:               e.ObjectMeta,
		EventTime:                e.EventTime,
		ReportingController:      e.ReportingController,
		ReportingInstance:        e.ReportingInstance,
		Action:                   e.Action,
		Reason:                   e.Reason,
		Regarding:                e.InvolvedObject,
		Note:                     e.Message,
		Type:                     e.Type,
		DeprecatedSource:         e.Source,
		DeprecatedFirstTimestamp: e.FirstTimestamp,
		DeprecatedLastTimestamp:  e.LastTimestamp,
		DeprecatedCount:          e.Count,
	}
	if e.Series != nil {
		out.Series = &EventV1Series{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	if e.Related != nil {
		r := *e.Related
		out.Related = &r
	}
	return out
}

// FromEventV1 is Kubernetes' Convert_v1_Event_To_core_Event: the stored
// (core/v1) form of an events.k8s.io/v1 event.
func FromEventV1(e *EventV1) *Event {
	out := &Event{
		TypeMeta:            TypeMeta{Kind: "Event", APIVersion: APIVersion},
		ObjectMeta:          e.ObjectMeta,
		InvolvedObject:      e.Regarding,
		Reason:              e.Reason,
		Message:             e.Note,
		Source:              e.DeprecatedSource,
		FirstTimestamp:      e.DeprecatedFirstTimestamp,
		LastTimestamp:       e.DeprecatedLastTimestamp,
		Count:               e.DeprecatedCount,
		Type:                e.Type,
		EventTime:           e.EventTime,
		Action:              e.Action,
		ReportingController: e.ReportingController,
		ReportingInstance:   e.ReportingInstance,
	}
	if e.Series != nil {
		out.Series = &EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	if e.Related != nil {
		r := *e.Related
		out.Related = &r
	}
	return out
}

// validateEventV1Create is what Kubernetes' ValidateEventCreate checks of
// an event created through events.k8s.io/v1 beyond the core/v1 checks
// (validateEvent): a new-style event with its eventTime and a type, none
// of the deprecated fields, and a well-formed series. Field paths are the
// stored (core) names, as Kubernetes reports them.
func validateEventV1Create(e *Event) field.ErrorList {
	errs := validateEventV1Series(e)
	if e.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	if e.Type != EventTypeNormal && e.Type != EventTypeWarning {
		errs = append(errs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", e.Type)))
	}
	if !e.FirstTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("firstTimestamp"), "", "needs to be unset"))
	}
	if !e.LastTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("lastTimestamp"), "", "needs to be unset"))
	}
	if e.Count != 0 {
		errs = append(errs, field.Invalid(field.NewPath("count"), "", "needs to be unset"))
	}
	if e.Source.Component != "" || e.Source.Host != "" {
		errs = append(errs, field.Invalid(field.NewPath("source"), "", "needs to be unset"))
	}
	return errs
}

// validateEventV1Update is Kubernetes' ValidateEventUpdate for
// events.k8s.io/v1 beyond the core checks: a changed series must be well
// formed, and everything but the series and metadata is immutable.
func validateEventV1Update(e, old *Event) field.ErrorList {
	var errs field.ErrorList
	if !reflect.DeepEqual(e.Series, old.Series) {
		errs = append(errs, validateEventV1Series(e)...)
	}
	immutable := []struct {
		path     string
		now, was any
	}{
		{"involvedObject", e.InvolvedObject, old.InvolvedObject},
		{"reason", e.Reason, old.Reason},
		{"message", e.Message, old.Message},
		{"source", e.Source, old.Source},
		{"firstTimestamp", e.FirstTimestamp, old.FirstTimestamp},
		{"lastTimestamp", e.LastTimestamp, old.LastTimestamp},
		{"count", e.Count, old.Count},
		{"type", e.Type, old.Type},
		{"eventTime", e.EventTime, old.EventTime},
		{"action", e.Action, old.Action},
		{"related", e.Related, old.Related},
		{"reportingController", e.ReportingController, old.ReportingController},
		{"reportingInstance", e.ReportingInstance, old.ReportingInstance},
	}
	for _, f := range immutable {
		if !reflect.DeepEqual(f.now, f.was) {
			errs = append(errs, field.Invalid(field.NewPath(f.path), f.now, "field is immutable"))
		}
	}
	return errs
}

// validateEventV1Series is Kubernetes' validateV1EventSeries.
func validateEventV1Series(e *Event) field.ErrorList {
	var errs field.ErrorList
	if e.Series != nil {
		if e.Series.Count < 2 {
			errs = append(errs, field.Invalid(field.NewPath("series.count"), "", "should be at least 2"))
		}
		if e.Series.LastObservedTime.IsZero() {
			errs = append(errs, field.Required(field.NewPath("series.lastObservedTime"), ""))
		}
	}
	return errs
}
