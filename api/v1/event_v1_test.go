package v1

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Every field of either form maps to one of the other, and back, as
// Kubernetes' conversion does.
func TestEventV1ConversionRoundTrip(t *testing.T) {
	now := time.Now()
	ref := ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "u1", APIVersion: "v1", ResourceVersion: "7", FieldPath: "spec.containers{c}"}
	tests := []struct {
		name string
		core *Event
	}{
		{"old style", &Event{ObjectMeta: ObjectMeta{Name: "web.1", Namespace: "default", Labels: map[string]string{"a": "b"}},
			InvolvedObject: ref, Reason: "Started", Message: "started c", Source: EventSource{Component: "kubelet", Host: "n1"},
			FirstTimestamp: NewTime(now.Add(-time.Minute)), LastTimestamp: NewTime(now), Count: 3, Type: EventTypeNormal}},
		{"new style", &Event{ObjectMeta: ObjectMeta{Name: "web.2", Namespace: "default"}, InvolvedObject: ref,
			Reason: "Scheduled", Message: "assigned", Type: EventTypeWarning, EventTime: NewMicroTime(now),
			Series: &EventSeries{Count: 4, LastObservedTime: NewMicroTime(now.Add(time.Second))}, Action: "Binding",
			Related: &ObjectReference{Kind: "Node", Name: "n1"}, ReportingController: "orch.io/scheduler", ReportingInstance: "m1"}},
		{"empty", &Event{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.core.TypeMeta = TypeMeta{Kind: "Event", APIVersion: "v1"}
			view := ToEventV1(tt.core)
			if view.APIVersion != "events.k8s.io/v1" || view.Kind != "Event" {
				t.Fatalf("view type %+v", view.TypeMeta)
			}
			checks := map[string][2]any{
				"regarding":                {view.Regarding, tt.core.InvolvedObject},
				"note":                     {view.Note, tt.core.Message},
				"deprecatedSource":         {view.DeprecatedSource, tt.core.Source},
				"deprecatedFirstTimestamp": {view.DeprecatedFirstTimestamp, tt.core.FirstTimestamp},
				"deprecatedLastTimestamp":  {view.DeprecatedLastTimestamp, tt.core.LastTimestamp},
				"deprecatedCount":          {view.DeprecatedCount, tt.core.Count},
				"reportingController":      {view.ReportingController, tt.core.ReportingController},
				"reportingInstance":        {view.ReportingInstance, tt.core.ReportingInstance},
				"action":                   {view.Action, tt.core.Action},
				"reason":                   {view.Reason, tt.core.Reason},
				"type":                     {view.Type, tt.core.Type},
				"eventTime":                {view.EventTime, tt.core.EventTime},
				"related":                  {view.Related, tt.core.Related},
			}
			for f, v := range checks {
				if !reflect.DeepEqual(v[0], v[1]) {
					t.Errorf("%s = %v, want %v", f, v[0], v[1])
				}
			}
			if (view.Series == nil) != (tt.core.Series == nil) ||
				view.Series != nil && (view.Series.Count != tt.core.Series.Count || !view.Series.LastObservedTime.Equal(tt.core.Series.LastObservedTime.Time)) {
				t.Errorf("series %+v, want %+v", view.Series, tt.core.Series)
			}
			// Through JSON, as the API sends and reads it.
			b, err := json.Marshal(view)
			if err != nil {
				t.Fatal(err)
			}
			var decoded EventV1
			if err := json.Unmarshal(b, &decoded); err != nil {
				t.Fatal(err)
			}
			back := FromEventV1(&decoded)
			want, _ := json.Marshal(tt.core)
			got, _ := json.Marshal(back)
			if string(got) != string(want) {
				t.Errorf("round trip:\n got %s\nwant %s", got, want)
			}
			if view.Related != nil && view.Related == tt.core.Related {
				t.Error("the view shares related with the stored event")
			}
		})
	}
}

// Writes through events.k8s.io/v1 are checked as Kubernetes'
// ValidateEventCreate/Update check that group version, on top of the
// core/v1 checks.
func TestValidateEventV1(t *testing.T) {
	now := NewMicroTime(time.Now())
	valid := func() *Event {
		return &Event{ObjectMeta: ObjectMeta{Name: "web.1", Namespace: "default"},
			InvolvedObject: ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"}, Reason: "Probed", Message: "probed",
			Type: EventTypeNormal, EventTime: now, Action: "Probing", ReportingController: "orch.io/prober", ReportingInstance: "p1"}
	}
	tests := []struct {
		name   string
		mutate func(*Event)
		want   []string // "" means valid through both; otherwise messages of the v1 error
		core   bool     // the core/v1 validation accepts it
	}{
		{"valid", func(*Event) {}, nil, true},
		{"no eventTime", func(e *Event) { e.EventTime = MicroTime{} }, []string{"eventTime: Required value"}, true},
		{"no reportingController", func(e *Event) { e.ReportingController = "" }, []string{"reportingController: Required value"}, false},
		{"no reportingInstance", func(e *Event) { e.ReportingInstance = "" }, []string{"reportingInstance: Required value"}, false},
		{"no action", func(e *Event) { e.Action = "" }, []string{"action: Required value"}, false},
		{"no type", func(e *Event) { e.Type = "" }, []string{`type: Invalid value: "": has invalid value: `}, true},
		{"deprecated fields", func(e *Event) {
			e.FirstTimestamp, e.LastTimestamp, e.Count = NewTime(now.Time), NewTime(now.Time), 2
			e.Source = EventSource{Component: "kubelet"}
		}, []string{"firstTimestamp: Invalid value: \"\": needs to be unset", "lastTimestamp: Invalid value", "count: Invalid value", "source: Invalid value"}, true},
		{"series of one", func(e *Event) { e.Series = &EventSeries{Count: 1, LastObservedTime: now} }, []string{"series.count: Invalid value: \"\": should be at least 2"}, true},
		{"series without time", func(e *Event) { e.Series = &EventSeries{Count: 2} }, []string{"series.lastObservedTime: Required value"}, true},
		{"bad name", func(e *Event) { e.Name = "Web_1" }, []string{"metadata.name: Invalid value"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid()
			tt.mutate(e)
			if err := Validate(e); (err == nil) != tt.core {
				t.Errorf("core/v1 validation: %v, want accepted %v", err, tt.core)
			}
			err := ValidateIn(eventV1Resource, e)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("valid v1 event refused: %v", err)
				}
				return
			}
			if err == nil || !IsInvalid(err) || !strings.HasPrefix(err.Error(), `Event.events.k8s.io "`+e.Name+`" is invalid: `) {
				t.Fatalf("error %v, want Event.events.k8s.io invalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not say %q", err, w)
				}
			}
		})
	}

	t.Run("update", func(t *testing.T) {
		old := valid()
		next := valid()
		next.Series = &EventSeries{Count: 2, LastObservedTime: NewMicroTime(now.Add(time.Second))}
		next.Labels = map[string]string{"seen": "yes"}
		if err := ValidateUpdateIn(eventV1Resource, next, old); err != nil {
			t.Fatalf("series and labels refused: %v", err)
		}
		for _, f := range []struct {
			path   string
			mutate func(*Event)
		}{
			{"message", func(e *Event) { e.Message = "other" }},
			{"involvedObject", func(e *Event) { e.InvolvedObject.Name = "db" }},
			{"reportingController", func(e *Event) { e.ReportingController = "orch.io/other" }},
			{"eventTime", func(e *Event) { e.EventTime = NewMicroTime(now.Add(time.Hour)) }},
			{"related", func(e *Event) { e.Related = &ObjectReference{Kind: "Node", Name: "n1"} }},
		} {
			next := valid()
			f.mutate(next)
			err := ValidateUpdateIn(eventV1Resource, next, old)
			if err == nil || !strings.Contains(err.Error(), f.path+": Invalid value") || !strings.Contains(err.Error(), "field is immutable") {
				t.Errorf("update of %s: %v, want it immutable", f.path, err)
			}
			if err := ValidateUpdate(next, old); err != nil {
				t.Errorf("core/v1 update of %s: %v", f.path, err)
			}
		}
	})
}
