package main

import (
	"bytes"
	"strings"
	"testing"
	"text/tabwriter"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

func TestDescribeMapLinesKeepsValuesWhole(t *testing.T) {
	var buf bytes.Buffer
	d := &descWriter{tw: tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)}
	d.mapLines(0, "Annotations", map[string]string{
		"note":                "a,b=c",
		lastAppliedAnnotation: `{"kind":"Pod","metadata":{"name":"web"}}`,
	}, lastAppliedAnnotation)
	d.mapLines(0, "Labels", map[string]string{"tier": "web", "app": "x"})
	d.mapLines(0, "Selector", nil)
	d.tw.Flush()
	got := buf.String()
	for _, want := range []string{"Annotations:  note: a,b=c\n", "Labels:       app=x\n", "              tier=web\n", "Selector:     <none>\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "kind") {
		t.Errorf("the last-applied annotation was printed:\n%s", got)
	}
}

func TestDescribePodInitContainersAndVolumes(t *testing.T) {
	var buf bytes.Buffer
	d := &descWriter{tw: tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0), now: testNow}
	limit := resource.MustParse("64Mi")
	p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p", Namespace: "default"}, Spec: v1.PodSpec{
		Volumes:        []v1.Volume{{Name: "cache", EmptyDir: &v1.EmptyDirVolumeSource{Medium: v1.MediumMemory, SizeLimit: &limit}}},
		InitContainers: []v1.Container{{Name: "setup", Image: "busybox"}},
		Containers:     []v1.Container{{Name: "web", Image: "busybox"}},
	}, Status: v1.PodStatus{InitContainerStatuses: []v1.ContainerStatus{{Name: "setup", RestartCount: 4,
		State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}}}
	p.Status.Conditions = []v1.PodCondition{{Type: v1.PodInitialized, Status: v1.ConditionFalse}}
	describePod(d, p)
	d.tw.Flush()
	got := buf.String()
	for _, want := range []string{"Status:", "Init:CrashLoopBackOff", "CrashLoopBackOff", "Restart Count:", "4", "Medium:", "Memory", "SizeLimit:", "64Mi"} {
		if !strings.Contains(got, want) {
			t.Errorf("describe lacks %q:\n%s", want, got)
		}
	}
}
