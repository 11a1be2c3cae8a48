package e2e

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"

	"orch.io/orch/test/harness"
)

// testEventsV1 is a program that records events with client-go's
// events.k8s.io/v1 broadcaster, as controllers built on it do: its event
// about a pod is seen through events.k8s.io/v1 (list, watch, kubectl get)
// and through core/v1; a core/v1 event is seen through events.k8s.io/v1
// with Kubernetes' field mapping; an event without its reporter is 422.
func testEventsV1(t *testing.T, c *harness.Cluster, cs *kubernetes.Clientset) {
	ctx := ctxT(t, 2*time.Minute)
	const ns = "default"
	pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cg-ev-pod"}, Spec: clientGoPodSpec()},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	about := "involvedObject.name=" + pod.Name
	l, err := cs.EventsV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: about})
	if err != nil || len(l.Items) != 0 {
		t.Fatalf("events.k8s.io/v1 list before recording: %v, %d items", err, len(l.Items))
	}
	w, err := cs.EventsV1().Events(ns).Watch(ctx, metav1.ListOptions{FieldSelector: about, ResourceVersion: l.ResourceVersion,
		AllowWatchBookmarks: true})
	if err != nil {
		t.Fatalf("events.k8s.io/v1 watch: %v", err)
	}
	defer w.Stop()

	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	broadcaster.StartRecordingToSink(ctx.Done())
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, "orch.io/e2e-recorder")
	recorder.Eventf(pod, nil, corev1.EventTypeWarning, "Probed", "Probing", "probed %s", pod.Name)

	var recorded *eventsv1.Event
	timeout := time.After(60 * time.Second)
	for recorded == nil {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the events.k8s.io/v1 watch ended before the recorded event came")
			}
			switch ev.Type {
			case watch.Added:
				recorded = ev.Object.(*eventsv1.Event)
			case watch.Bookmark:
			default:
				t.Fatalf("watch event %s %+v", ev.Type, ev.Object)
			}
		case <-timeout:
			t.Fatal("no ADDED event on the events.k8s.io/v1 watch within 60s")
		}
	}
	if recorded.Regarding.Name != pod.Name || recorded.Regarding.UID != pod.UID || recorded.Note != "probed cg-ev-pod" ||
		recorded.ReportingController != "orch.io/e2e-recorder" || recorded.Action != "Probing" || recorded.Type != corev1.EventTypeWarning ||
		recorded.EventTime.IsZero() || recorded.ReportingInstance == "" {
		t.Errorf("watched events.k8s.io/v1 event %+v", recorded)
	}
	vl, err := cs.EventsV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: about})
	if err != nil || len(vl.Items) != 1 || vl.Items[0].Name != recorded.Name {
		t.Fatalf("events.k8s.io/v1 list: %v, %+v", err, vl)
	}
	cl, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: about})
	if err != nil || len(cl.Items) != 1 {
		t.Fatalf("core/v1 list of the recorded event: %v, %+v", err, cl)
	}
	if ce := cl.Items[0]; ce.Name != recorded.Name || ce.Message != "probed cg-ev-pod" || ce.InvolvedObject.Kind != "Pod" ||
		ce.ReportingController != "orch.io/e2e-recorder" || ce.Action != "Probing" || ce.EventTime.IsZero() {
		t.Errorf("core/v1 view of the recorded event %+v", ce)
	}
	out := adminKubectl(t, c).ok(t, "", "get", "events.v1.events.k8s.io", "-n", ns, "--field-selector", about)
	tab := parseKubectlTable(t, out)
	if strings.Join(tab.header, ",") != "LAST SEEN,TYPE,REASON,OBJECT,MESSAGE" || len(tab.rows) != 1 ||
		tab.rows[0][1] != "Warning" || tab.rows[0][2] != "Probed" || tab.rows[0][3] != "pod/cg-ev-pod" || tab.rows[0][4] != "probed cg-ev-pod" {
		t.Errorf("kubectl get events.v1.events.k8s.io:\n%s", out)
	}

	// An old-style core/v1 event through events.k8s.io/v1.
	first := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	core, err := cs.CoreV1().Events(ns).Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "cg-ev-core"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name, UID: pod.UID},
		Reason:         "Started", Message: "started c", Type: corev1.EventTypeNormal, Count: 4,
		Source: corev1.EventSource{Component: "kubelet", Host: "node-1"}, FirstTimestamp: first, LastTimestamp: first},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create core/v1 event: %v", err)
	}
	got, err := cs.EventsV1().Events(ns).Get(ctx, core.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the core/v1 event through events.k8s.io/v1: %v", err)
	}
	if got.Regarding.Name != pod.Name || got.Note != "started c" || got.Reason != "Started" || got.DeprecatedCount != 4 ||
		got.DeprecatedSource.Component != "kubelet" || got.DeprecatedSource.Host != "node-1" ||
		!got.DeprecatedFirstTimestamp.Equal(&first) || !got.DeprecatedLastTimestamp.Equal(&first) || !got.EventTime.IsZero() {
		t.Errorf("events.k8s.io/v1 view of a core/v1 event: %+v", got)
	}

	// events.k8s.io/v1 requires the reporter; core/v1 does not ask.
	bad := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "cg-ev-bad"}, EventTime: metav1.NowMicro(),
		ReportingInstance: "e2e", Action: "Probing", Reason: "Probed", Type: corev1.EventTypeNormal,
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name}}
	_, err = cs.EventsV1().Events(ns).Create(ctx, bad, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "reportingController: Required value") ||
		!strings.Contains(err.Error(), `Event.events.k8s.io "cg-ev-bad" is invalid`) {
		t.Errorf("events.k8s.io/v1 event without reportingController: %v, want 422 naming it", err)
	}
	if _, err := cs.EventsV1().Events(ns).Get(ctx, "cg-ev-bad", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused event was stored: %v", err)
	}

	if err := cs.EventsV1().Events(ns).Delete(ctx, recorded.Name, metav1.DeleteOptions{}); err != nil {
		t.Errorf("delete event %s through events.k8s.io/v1: %v", recorded.Name, err)
	}
	if err := cs.EventsV1().Events(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{FieldSelector: about}); err != nil {
		t.Errorf("deletecollection of the pod's events through events.k8s.io/v1: %v", err)
	}
	cl, err = cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: about})
	if err != nil || len(cl.Items) != 0 {
		t.Errorf("core/v1 events left after the deletes: %v, %d", err, len(cl.Items))
	}
	if err := cs.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Errorf("delete pod: %v", err)
	}
}
