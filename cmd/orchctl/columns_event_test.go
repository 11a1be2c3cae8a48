package main

import (
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

func TestEventTable(t *testing.T) {
	evs := []v1.Object{
		&v1.Event{ObjectMeta: v1.ObjectMeta{Name: "web.2", Namespace: "default", CreationTimestamp: ago(time.Minute)},
			InvolvedObject: v1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{c}"}, Type: v1.EventTypeWarning,
			Reason: "BackOff", Message: "Back-off restarting failed container c", Count: 7,
			FirstTimestamp: ago(10 * time.Minute), LastTimestamp: ago(30 * time.Second), Source: v1.EventSource{Component: "kubelet", Host: "n1"}},
		&v1.Event{ObjectMeta: v1.ObjectMeta{Name: "web.1", Namespace: "default", CreationTimestamp: ago(11 * time.Minute)},
			InvolvedObject: v1.ObjectReference{Kind: "Pod", Name: "web"}, Type: v1.EventTypeNormal, Reason: "Scheduled",
			Message: "Successfully assigned default/web to n1", Count: 1,
			FirstTimestamp: ago(11 * time.Minute), LastTimestamp: ago(11 * time.Minute), Source: v1.EventSource{Component: "default-scheduler"}},
	}
	r := mustResource("events")
	tests := []struct {
		name string
		o    tableOptions
		want [][]string
	}{
		{"default, oldest first", tableOptions{now: testNow}, [][]string{
			{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"},
			{"11m", "Normal", "Scheduled", "pod/web", "Successfully assigned default/web to n1"},
			{"30s", "Warning", "BackOff", "pod/web", "Back-off restarting failed container c"},
		}},
		{"wide, all namespaces", tableOptions{now: testNow, wide: true, withNamespace: true}, [][]string{
			{"NAMESPACE", "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE", "SUBOBJECT", "SOURCE", "FIRST SEEN", "COUNT", "NAME"},
			{"default", "11m", "Normal", "Scheduled", "pod/web", "Successfully assigned default/web to n1", "", "default-scheduler", "11m", "1", "web.1"},
			{"default", "30s", "Warning", "BackOff", "pod/web", "Back-off restarting failed container c", "spec.containers{c}", "kubelet, n1", "10m", "7", "web.2"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := buildTable(r, evs, tt.o)
			got := append([][]string{tb.headers}, tb.rows...)
			if len(got) != len(tt.want) {
				t.Fatalf("%d rows, want %d: %q", len(got), len(tt.want), got)
			}
			for i := range got {
				if strings.Join(got[i], "|") != strings.Join(tt.want[i], "|") {
					t.Errorf("row %d: %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}
