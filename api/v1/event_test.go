package v1

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestValidateEvent(t *testing.T) {
	base := func() *Event {
		return &Event{ObjectMeta: ObjectMeta{Name: "web-1.17a", Namespace: "default"},
			InvolvedObject: ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1"}, Reason: "Scheduled", Type: EventTypeNormal}
	}
	tests := []struct {
		name   string
		mutate func(e *Event)
		field  string // "" means valid
	}{
		{"valid pod event", func(*Event) {}, ""},
		{"node event in default", func(e *Event) { e.InvolvedObject = ObjectReference{Kind: "Node", Name: "n1"} }, ""},
		{"node event elsewhere", func(e *Event) {
			e.Namespace = "other"
			e.InvolvedObject = ObjectReference{Kind: "Node", Name: "n1"}
		}, "involvedObject.namespace"},
		{"namespace mismatch", func(e *Event) { e.InvolvedObject.Namespace = "other" }, "involvedObject.namespace"},
		{"new-style without reporter", func(e *Event) { e.EventTime = NewMicroTime(time.Now()); e.Action = "Binding" }, "reportingController"},
		{"new-style without action", func(e *Event) {
			e.EventTime = NewMicroTime(time.Now())
			e.ReportingController, e.ReportingInstance = "orch.io/scheduler", "m1"
		}, "action"},
		{"new-style complete", func(e *Event) {
			e.EventTime = NewMicroTime(time.Now())
			e.ReportingController, e.ReportingInstance, e.Action = "orch.io/scheduler", "m1", "Binding"
		}, ""},
		{"new-style note too long", func(e *Event) {
			e.EventTime = NewMicroTime(time.Now())
			e.ReportingController, e.ReportingInstance, e.Action = "orch.io/scheduler", "m1", "Binding"
			e.Message = strings.Repeat("x", 1025)
		}, "message"},
		{"bad name", func(e *Event) { e.Name = "Bad_Name" }, "metadata.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base()
			tt.mutate(e)
			err := Validate(e)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("valid event refused: %v", err)
				}
				return
			}
			if err == nil || !IsInvalid(err) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("error %v, want Invalid naming %s", err, tt.field)
			}
		})
	}
}

func TestEventFieldSelectors(t *testing.T) {
	e := &Event{ObjectMeta: ObjectMeta{Name: "n1.1", Namespace: "default"},
		InvolvedObject: ObjectReference{Kind: "Node", Name: "n1", UID: "n1"}, Reason: "NodeNotReady", Type: EventTypeNormal,
		Source: EventSource{Component: "node-controller"}}
	tests := []struct {
		sel   string
		match bool
	}{
		// What kubectl describe node sends.
		{"involvedObject.kind=Node,involvedObject.name=n1,involvedObject.namespace=,involvedObject.uid=n1", true},
		{"involvedObject.name=n2", false},
		{"reason=NodeNotReady,type=Normal,source=node-controller", true},
		{"type!=Normal", false},
		{"involvedObject.resourceVersion=", true},
	}
	for _, tt := range tests {
		fs, err := ParseFieldSelector("Event", tt.sel)
		if err != nil {
			t.Fatalf("%s: %v", tt.sel, err)
		}
		if got := fs.Matches(e); got != tt.match {
			t.Errorf("%s matches %v, want %v", tt.sel, got, tt.match)
		}
	}
	if _, err := ParseFieldSelector("Event", "spec.nodeName=x"); err == nil {
		t.Error("an unsupported field was accepted")
	}
}

func TestEventMicroTimeRoundTrip(t *testing.T) {
	for _, in := range []string{`"2026-01-02T03:04:05.123456Z"`, `"2026-01-02T03:04:05Z"`, `null`} {
		var m MicroTime
		if err := json.Unmarshal([]byte(in), &m); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var again MicroTime
		if err := json.Unmarshal(out, &again); err != nil || !again.Equal(m.Time) {
			t.Fatalf("%s -> %s -> %v (%v)", in, out, again, err)
		}
	}
	var m MicroTime
	if err := json.Unmarshal([]byte(`"yesterday"`), &m); err == nil {
		t.Error("a non-RFC 3339 time was accepted")
	}
}
