package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"orch.io/orch/test/chaos/check"
	"orch.io/orch/test/harness"
)

// eventLog records what one shared informer's handlers were told, as the
// chaos suite's check.Events.
type eventLog struct {
	name string
	mu   sync.Mutex
	// initial is the informer's initial list: key -> resourceVersion.
	initial map[string]uint64
	// events are the changes after the initial list, in delivery order.
	events []check.Event
	// problems are deliveries a watch that missed nothing never makes (a
	// delete known only from a re-list's tombstone) or that do not parse.
	problems []string
}

func newEventLog(name string) *eventLog {
	return &eventLog{name: name, initial: map[string]uint64{}}
}

// keyRV is an object's namespace/name key and resourceVersion.
func keyRV(obj any) (string, uint64, error) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return "", 0, err
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return "", 0, err
	}
	rv, err := strconv.ParseUint(m.GetResourceVersion(), 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("%s: resourceVersion %q: %w", key, m.GetResourceVersion(), err)
	}
	return key, rv, nil
}

// record appends one event, or a problem when the object does not parse.
func (l *eventLog) record(typ string, obj any, initial bool) {
	key, rv, err := keyRV(obj)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		l.problems = append(l.problems, fmt.Sprintf("%s %T: %v", typ, obj, err))
	case initial:
		l.initial[key] = rv
	default:
		l.events = append(l.events, check.Event{Type: typ, Key: key, RV: rv})
	}
}

// handler returns the handlers that feed the log.
func (l *eventLog) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(obj any, initial bool) { l.record(check.Added, obj, initial) },
		UpdateFunc: func(_, obj any) { l.record(check.Modified, obj, false) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				l.mu.Lock()
				l.problems = append(l.problems, "missed the delete of "+tomb.Key+" (tombstone after a re-list)")
				l.mu.Unlock()
				return
			}
			l.record(check.Deleted, obj, false)
		},
	}
}

// snapshot returns the log's start resourceVersion (the newest object of
// the initial list: the watch started at or after it), events and
// problems.
func (l *eventLog) snapshot() (uint64, []check.Event, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var start uint64
	for _, rv := range l.initial {
		start = max(start, rv)
	}
	return start, append([]check.Event(nil), l.events...), append([]string(nil), l.problems...)
}

// watchedKind is one shared informer of the test and the resource it
// watches, for the final comparison with a fresh list.
type watchedKind struct {
	log      *eventLog
	informer cache.SharedIndexInformer
	gvr      schema.GroupVersionResource
}

// Done-when 2 of issue 14, the informer half: shared informers of a
// protobuf clientset on pods, services, replication controllers, endpoints,
// endpointslices, nodes and events see every change exactly once and in
// order while a writer creates, updates and deletes objects, a replication
// controller scales pods on a real node, and the Raft leader is killed and
// restarted in the middle; at the end each informer's cache equals a fresh
// list.
func TestClientGoInformersExactlyOnce(t *testing.T) {
	parallel(t)
	network := harness.NewNet(t)
	c := startCluster(t, harness.Options{Net: network})
	nd := c.StartNode(network, "node-1", "--heartbeat-interval", "1s", "--resync-interval", "2s")
	leader := c.WaitLeader(30 * time.Second)
	clientMaster := (leader + 1) % len(c.Masters) // the clients' master survives the failover
	rc := restConfigFor(t, c, clientMaster)
	cs := protobufClientset(t, rc)
	dc, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "node Ready", func() (bool, string) {
		n, err := cs.CoreV1().Nodes().Get(context.Background(), nd.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, string(cond.Status)
			}
		}
		return false, "no Ready condition"
	})

	factory := informers.NewSharedInformerFactory(cs, 0)
	core := schema.GroupVersion{Version: "v1"}
	kinds := []*watchedKind{
		{informer: factory.Core().V1().Pods().Informer(), gvr: core.WithResource("pods")},
		{informer: factory.Core().V1().Services().Informer(), gvr: core.WithResource("services")},
		{informer: factory.Core().V1().ReplicationControllers().Informer(), gvr: core.WithResource("replicationcontrollers")},
		{informer: factory.Core().V1().Endpoints().Informer(), gvr: core.WithResource("endpoints")},
		{informer: factory.Discovery().V1().EndpointSlices().Informer(), gvr: schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}},
		{informer: factory.Core().V1().Nodes().Informer(), gvr: core.WithResource("nodes")},
		{informer: factory.Core().V1().Events().Informer(), gvr: core.WithResource("events")},
	}
	for _, k := range kinds {
		k.log = newEventLog(k.gvr.Resource)
		if _, err := k.informer.AddEventHandler(k.log.handler()); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	factory.Start(stop)
	t.Cleanup(func() { close(stop); factory.Shutdown() })
	for typ, ok := range factory.WaitForCacheSync(stop) {
		if !ok {
			t.Fatalf("informer of %v did not sync", typ)
		}
	}

	// The writer: every request is recorded, per resource.
	var podOps, svcOps, rcOps opRecorder
	pods, svcs, rcs := cs.CoreV1().Pods("default"), cs.CoreV1().Services("default"), cs.CoreV1().ReplicationControllers("default")
	plainPod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"step": "created"}}, Spec: clientGoPodSpec()}
	}
	setLabel := func(v string) func(metav1.Object) {
		return func(o metav1.Object) {
			l := o.GetLabels()
			if l == nil {
				l = map[string]string{}
			}
			l["step"] = v
			o.SetLabels(l)
		}
	}
	scale := func(n int32) func(*corev1.ReplicationController) {
		return func(r *corev1.ReplicationController) { r.Spec.Replicas = &n }
	}
	// runningRCPods waits until exactly n pods of the RC run on the node
	// and no other pod of it is left.
	runningRCPods := func(n int) {
		t.Helper()
		waitFor(t, 90*time.Second, fmt.Sprintf("%d pods of cgi-rc running on %s", n, nd.Name), func() (bool, string) {
			l, err := pods.List(context.Background(), metav1.ListOptions{LabelSelector: "app=cgi-rc"})
			if err != nil {
				return false, err.Error()
			}
			running := 0
			for _, p := range l.Items {
				if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName == nd.Name && p.DeletionTimestamp == nil {
					running++
				}
			}
			return running == n && len(l.Items) == n, fmt.Sprintf("%d pods, %d running", len(l.Items), running)
		})
	}

	svc := clientGoService("cgi-svc", "cgi-rc")
	svc.Namespace = "default"
	recCreate(t, &svcOps, svcs, svc)
	rcObj := clientGoRC("cgi-rc", 2, "")
	rcObj.Namespace = "default"
	recCreate(t, &rcOps, rcs, rcObj)
	for i := range 3 {
		recCreate(t, &podOps, pods, plainPod(fmt.Sprintf("cgi-p%d", i)))
		recUpdate(t, &podOps, pods, "default", fmt.Sprintf("cgi-p%d", i), func(p *corev1.Pod) { setLabel("a")(p) })
	}
	runningRCPods(2)

	// The failover: the leader dies while the writer goes on (its requests
	// fail or time out until a new leader is elected, and are retried).
	if l := c.WaitLeader(10 * time.Second); l != leader {
		t.Fatalf("leadership moved from master %d to %d before the failover", leader, l)
	}
	c.Kill(leader)
	// A create sent at once is made while no leader is elected: the
	// clients' master holds it until there is one (a failed or cut request
	// would be recorded Unknown and retried).
	recCreate(t, &podOps, pods, plainPod("cgi-p4"))
	recUpdate(t, &rcOps, rcs, "default", "cgi-rc", scale(3))
	recUpdate(t, &svcOps, svcs, "default", "cgi-svc", func(s *corev1.Service) { setLabel("b")(s) })
	recDelete(t, &podOps, pods, "default", "cgi-p0")
	recUpdate(t, &podOps, pods, "default", "cgi-p1", func(p *corev1.Pod) { setLabel("b")(p) })
	c.WaitLeader(30 * time.Second)
	c.Start(leader)

	recCreate(t, &podOps, pods, plainPod("cgi-p3"))
	recDelete(t, &podOps, pods, "default", "cgi-p2")
	runningRCPods(3)
	recUpdate(t, &rcOps, rcs, "default", "cgi-rc", scale(1))
	runningRCPods(1)
	recUpdate(t, &rcOps, rcs, "default", "cgi-rc", scale(0))
	runningRCPods(0)
	recDelete(t, &rcOps, rcs, "default", "cgi-rc")
	recDelete(t, &svcOps, svcs, "default", "cgi-svc")
	recDelete(t, &podOps, pods, "default", "cgi-p1")
	recDelete(t, &podOps, pods, "default", "cgi-p3")
	recDelete(t, &podOps, pods, "default", "cgi-p4")

	// Each informer's cache comes to equal a fresh (linearizable) list.
	for _, k := range kinds {
		waitFor(t, 60*time.Second, k.gvr.Resource+" informer cache equals a fresh list", func() (bool, string) {
			return cacheEqualsList(dc, k)
		})
	}

	var all []check.Op
	for _, w := range []struct {
		kind *watchedKind
		rec  *opRecorder
	}{{kinds[0], &podOps}, {kinds[1], &svcOps}, {kinds[2], &rcOps}} {
		all = append(all, w.rec.ops...)
		_, events, _ := w.kind.log.snapshot()
		if err := writesSeen(w.rec.ops, events); err != nil {
			t.Errorf("%s: %v", w.kind.gvr.Resource, err)
		}
	}
	if err := check.CheckRVs(all); err != nil {
		t.Errorf("resourceVersions of the writes: %v", err)
	}
	unknown := 0
	for _, op := range all {
		if op.Outcome != check.OK {
			unknown++
		}
	}
	t.Logf("writer: %d requests, %d not acknowledged (retried)", len(all), unknown)
	for _, k := range kinds {
		start, events, problems := k.log.snapshot()
		t.Logf("%s informer: initial list at %d, %d events after it", k.gvr.Resource, start, len(events))
		for _, p := range problems {
			t.Errorf("%s informer: %s", k.gvr.Resource, p)
		}
		if err := check.CheckWatch(events, start); err != nil {
			t.Errorf("%s informer events (after the initial list at %d): %v", k.gvr.Resource, start, err)
		}
	}
	// The RC's pods came and went on the node, the service's endpoints
	// followed them, and the node's kubelet-style events were seen.
	_, podEvents, _ := kinds[0].log.snapshot()
	rcPods := map[string]string{}
	for _, e := range podEvents {
		if len(e.Key) > len("default/cgi-rc-") && e.Key[:len("default/cgi-rc-")] == "default/cgi-rc-" {
			rcPods[e.Key] = e.Type
		}
	}
	if len(rcPods) < 3 {
		t.Errorf("the pods informer saw %d pods of the RC (%v), want at least 3", len(rcPods), sortedKeys(rcPods))
	}
	for key, last := range rcPods {
		if last != check.Deleted {
			t.Errorf("the last event of RC pod %s is %s, want DELETED", key, last)
		}
	}
	_, epEvents, _ := kinds[3].log.snapshot()
	if !hasKey(epEvents, "default/cgi-svc", check.Deleted) {
		t.Errorf("the endpoints informer did not see default/cgi-svc deleted: %v", epEvents)
	}
	if _, evEvents, _ := kinds[6].log.snapshot(); len(evEvents) == 0 {
		t.Errorf("the events informer saw no event")
	}
}

// writesSeen checks one resource's writes against its informer's events
// with the chaos suite's check: the events of the written keys (the
// informer also sees objects others write) contain every acknowledged
// create and update at its resourceVersion, and every acknowledged delete
// is seen.
func writesSeen(ops []check.Op, events []check.Event) error {
	written := map[string]bool{}
	for _, op := range ops {
		written[op.Key] = true
	}
	var mine []check.Event
	for _, e := range events {
		if written[e.Key] {
			mine = append(mine, e)
		}
	}
	if err := check.CheckWritesSeen(ops, mine); err != nil {
		return err
	}
	for _, op := range ops {
		if op.Kind == check.Delete && op.Outcome == check.OK && !hasKey(mine, op.Key, check.Deleted) {
			return fmt.Errorf("acknowledged delete not in the informer's events: %v", op)
		}
	}
	return nil
}

// hasKey says whether events hold one of type typ for key.
func hasKey(events []check.Event, key, typ string) bool {
	for _, e := range events {
		if e.Key == key && e.Type == typ {
			return true
		}
	}
	return false
}

// cacheEqualsList compares an informer's cache (keys and resourceVersions)
// with a fresh list through the dynamic client.
func cacheEqualsList(dc dynamic.Interface, k *watchedKind) (bool, string) {
	l, err := dc.Resource(k.gvr).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return false, err.Error()
	}
	want := map[string]uint64{}
	for i := range l.Items {
		key, rv, err := keyRV(&l.Items[i])
		if err != nil {
			return false, err.Error()
		}
		want[key] = rv
	}
	got := map[string]uint64{}
	for _, obj := range k.informer.GetStore().List() {
		key, rv, err := keyRV(obj)
		if err != nil {
			return false, err.Error()
		}
		got[key] = rv
	}
	for key, rv := range want {
		if got[key] != rv {
			return false, fmt.Sprintf("%s: list has rv %d, cache %d", key, rv, got[key])
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			return false, fmt.Sprintf("%s in the cache, not in the list", key)
		}
	}
	return true, ""
}
