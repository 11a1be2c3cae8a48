package e2e

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"orch.io/orch/test/chaos/check"
	"orch.io/orch/test/harness"
)

// protobufContentTypes are what client-go's typed clients send and accept
// when a program asks for protobuf, as kube-controller-manager does.
const (
	protobufContentType = "application/vnd.kubernetes.protobuf"
	protobufAccept      = "application/vnd.kubernetes.protobuf,application/json"
)

// restConfigFor is a client-go config of the admin on the given masters
// (the first one is used: client-go talks to one server), read from the
// harness's kubeconfig as a program would read it.
func restConfigFor(t *testing.T, c *harness.Cluster, masters ...int) *rest.Config {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig(masters...))
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	rc.QPS, rc.Burst = 200, 400
	return rc
}

// protobufClientset is a typed clientset that sends protobuf and accepts
// protobuf or JSON.
func protobufClientset(t *testing.T, rc *rest.Config) *kubernetes.Clientset {
	t.Helper()
	rc = rest.CopyConfig(rc)
	rc.ContentType, rc.AcceptContentTypes = protobufContentType, protobufAccept
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return cs
}

// typedClient is the part of a client-go typed client (PodInterface,
// ServiceInterface, ...) the tests use.
type typedClient[T metav1.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// typedCRUD creates obj, gets it, updates its labels, patches them with a
// strategic merge patch, deletes it, and checks what every answer holds;
// list checks that the object is (or is not) listed.
func typedCRUD[T metav1.Object](t *testing.T, c typedClient[T], obj T, list func(context.Context) ([]string, error)) {
	t.Helper()
	ctx := ctxT(t, 60*time.Second)
	name := obj.GetName()
	created, err := c.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if created.GetUID() == "" || created.GetResourceVersion() == "" {
		t.Fatalf("create %s: answer without uid or resourceVersion: %+v", name, created)
	}
	got, err := c.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	// The same object, as created or newer (the replication manager may
	// have written an RC's status in between).
	if got.GetUID() != created.GetUID() || rvNumber(t, got.GetResourceVersion()) < rvNumber(t, created.GetResourceVersion()) {
		t.Fatalf("get %s: uid %s rv %s, want %s and at least %s", name, got.GetUID(), got.GetResourceVersion(), created.GetUID(), created.GetResourceVersion())
	}
	names, err := list(ctx)
	if err != nil || !contains(names, name) {
		t.Fatalf("list: %v %v, want %s in it", names, err, name)
	}
	// Another writer (the replication manager's status) may come first:
	// the update is retried on a conflict, as client-go programs do.
	var updated T
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.SetLabels(map[string]string{"step": "updated"})
		updated, err = c.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatalf("update %s: %v", name, err)
	}
	if updated.GetLabels()["step"] != "updated" || updated.GetResourceVersion() == created.GetResourceVersion() {
		t.Fatalf("update %s: labels %v, rv %s", name, updated.GetLabels(), updated.GetResourceVersion())
	}
	// The created object's resourceVersion is now stale: a conflict.
	created.SetLabels(map[string]string{"step": "stale"})
	if _, err := c.Update(ctx, created, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("update %s at a stale resourceVersion: %v, want a Conflict", name, err)
	}
	patched, err := c.Patch(ctx, name, types.StrategicMergePatchType, []byte(`{"metadata":{"labels":{"patched":"yes"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("patch %s: %v", name, err)
	}
	if patched.GetLabels()["patched"] != "yes" || patched.GetLabels()["step"] != "updated" {
		t.Fatalf("patch %s: labels %v", name, patched.GetLabels())
	}
	if err := c.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete %s: %v", name, err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := c.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatalf("%s still there after delete: %v", name, err)
	}
}

// itemNames returns the names of a list's items.
func itemNames[T any](items []T, name func(*T) string) []string {
	out := make([]string, 0, len(items))
	for i := range items {
		out = append(out, name(&items[i]))
	}
	return out
}

// clientGoPodSpec is a pod spec the scheduler leaves alone (the CRUD tests
// do not need it to run).
func clientGoPodSpec() corev1.PodSpec {
	return corev1.PodSpec{SchedulerName: unscheduled,
		Containers: []corev1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "3600"}}}}
}

// clientGoRC is a replication controller of busybox pods labelled
// app=<name>.
func clientGoRC(name string, replicas int32, scheduler string) *corev1.ReplicationController {
	spec := clientGoPodSpec()
	spec.SchedulerName = scheduler
	return &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ReplicationControllerSpec{Replicas: &replicas, Selector: map[string]string{"app": name},
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}}, Spec: spec}}}
}

// clientGoService is a ClusterIP service selecting app=<app>.
func clientGoService(name, app string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}}}
}

// Done-when 2 of issue 14, the request half: a client-go typed clientset
// speaking protobuf, and the dynamic client, create, get, list, update,
// patch and delete namespaces, pods, services and replication controllers,
// and read nodes.
func TestClientGoTypedAndDynamic(t *testing.T) {
	parallel(t)
	network := harness.NewNet(t)
	c := startCluster(t, harness.Options{Net: network})
	nd := c.StartNode(network, "node-1", "--heartbeat-interval", "1s", "--resync-interval", "2s")
	rc := restConfigFor(t, c)
	cs := protobufClientset(t, rc)
	ctx := ctxT(t, 3*time.Minute)
	waitFor(t, 60*time.Second, "the node registered", func() (bool, string) {
		_, err := cs.CoreV1().Nodes().Get(ctx, nd.Name, metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})

	t.Run("typed protobuf", func(t *testing.T) {
		typedCRUD[*corev1.Namespace](t, cs.CoreV1().Namespaces(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cg-typed-ns"}},
			func(ctx context.Context) ([]string, error) {
				l, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
				if err != nil {
					return nil, err
				}
				return itemNames(l.Items, func(o *corev1.Namespace) string { return o.Name }), nil
			})
		ns := "default"
		typedCRUD[*corev1.Pod](t, cs.CoreV1().Pods(ns), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cg-typed-pod"}, Spec: clientGoPodSpec()},
			func(ctx context.Context) ([]string, error) {
				l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					return nil, err
				}
				return itemNames(l.Items, func(o *corev1.Pod) string { return o.Name }), nil
			})
		typedCRUD[*corev1.Service](t, cs.CoreV1().Services(ns), clientGoService("cg-typed-svc", "none"),
			func(ctx context.Context) ([]string, error) {
				l, err := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					return nil, err
				}
				return itemNames(l.Items, func(o *corev1.Service) string { return o.Name }), nil
			})
		typedCRUD[*corev1.ReplicationController](t, cs.CoreV1().ReplicationControllers(ns), clientGoRC("cg-typed-rc", 0, unscheduled),
			func(ctx context.Context) ([]string, error) {
				l, err := cs.CoreV1().ReplicationControllers(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					return nil, err
				}
				return itemNames(l.Items, func(o *corev1.ReplicationController) string { return o.Name }), nil
			})
		n, err := cs.CoreV1().Nodes().Get(ctx, nd.Name, metav1.GetOptions{})
		if err != nil || n.Name != nd.Name {
			t.Fatalf("typed get node %s: %v", nd.Name, err)
		}
		l, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || !contains(itemNames(l.Items, func(o *corev1.Node) string { return o.Name }), nd.Name) {
			t.Fatalf("typed list nodes: %v, %d items", err, len(l.Items))
		}
	})

	t.Run("events.k8s.io", func(t *testing.T) { testEventsV1(t, c, cs) })

	t.Run("dynamic", func(t *testing.T) {
		dc, err := dynamic.NewForConfig(rc)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []struct {
			gvr        schema.GroupVersionResource
			kind       string
			namespaced bool
			obj        any
		}{
			{schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, "Namespace", false, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cg-dyn-ns"}}},
			{schema.GroupVersionResource{Version: "v1", Resource: "pods"}, "Pod", true, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cg-dyn-pod"}, Spec: clientGoPodSpec()}},
			{schema.GroupVersionResource{Version: "v1", Resource: "services"}, "Service", true, clientGoService("cg-dyn-svc", "none")},
			{schema.GroupVersionResource{Version: "v1", Resource: "replicationcontrollers"}, "ReplicationController", true, clientGoRC("cg-dyn-rc", 0, unscheduled)},
		} {
			t.Run(k.gvr.Resource, func(t *testing.T) {
				u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(k.obj)
				if err != nil {
					t.Fatal(err)
				}
				m := &unstructured.Unstructured{Object: u}
				m.SetAPIVersion("v1")
				m.SetKind(k.kind)
				var ri dynamic.ResourceInterface = dc.Resource(k.gvr)
				if k.namespaced {
					ri = dc.Resource(k.gvr).Namespace("default")
				}
				typedCRUD[*unstructured.Unstructured](t, dynamicCRUD{ri}, m, func(ctx context.Context) ([]string, error) {
					l, err := ri.List(ctx, metav1.ListOptions{})
					if err != nil {
						return nil, err
					}
					return itemNames(l.Items, func(o *unstructured.Unstructured) string { return o.GetName() }), nil
				})
			})
		}
		nodes, err := dc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}).List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) == 0 {
			t.Fatalf("dynamic list nodes: %v, %d items", err, len(nodes.Items))
		}
		n, err := dc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}).Get(ctx, nd.Name, metav1.GetOptions{})
		if err != nil || n.GetKind() != "Node" || n.GetAPIVersion() != "v1" {
			t.Fatalf("dynamic get node: %v, %s %s", err, n.GetAPIVersion(), n.GetKind())
		}
	})
}

// dynamicCRUD adapts a dynamic ResourceInterface to typedClient.
type dynamicCRUD struct{ ri dynamic.ResourceInterface }

func (d dynamicCRUD) Create(ctx context.Context, obj *unstructured.Unstructured, opts metav1.CreateOptions) (*unstructured.Unstructured, error) {
	return d.ri.Create(ctx, obj, opts)
}

func (d dynamicCRUD) Get(ctx context.Context, name string, opts metav1.GetOptions) (*unstructured.Unstructured, error) {
	return d.ri.Get(ctx, name, opts)
}

func (d dynamicCRUD) Update(ctx context.Context, obj *unstructured.Unstructured, opts metav1.UpdateOptions) (*unstructured.Unstructured, error) {
	return d.ri.Update(ctx, obj, opts)
}

// Patch sends a JSON merge patch: the dynamic client has no schema for a
// strategic merge, and a label map merges the same way.
func (d dynamicCRUD) Patch(ctx context.Context, name string, _ types.PatchType, data []byte, opts metav1.PatchOptions, sub ...string) (*unstructured.Unstructured, error) {
	return d.ri.Patch(ctx, name, types.MergePatchType, data, opts, sub...)
}

func (d dynamicCRUD) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return d.ri.Delete(ctx, name, opts)
}

// opRecorder records a writer's requests as the chaos suite's check.Ops.
type opRecorder struct {
	mu  sync.Mutex
	ops []check.Op
}

// do runs one request and records it: OK with the resourceVersion it
// returned, Failed with the Status reason for a precondition failure, and
// Unknown for anything else (a request cut by the failover may have been
// applied).
func (r *opRecorder) do(kind check.OpKind, key, value, expectRV string, f func() (string, error)) (ok bool, reason string) {
	op := check.Op{Kind: kind, Key: key, Value: value, ExpectRV: expectRV, Call: time.Now()}
	rv, err := f()
	var se apierrors.APIStatus
	switch {
	case err == nil:
		op.Outcome, op.RV, op.Return = check.OK, rv, time.Now()
	case errors.As(err, &se) && (apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) || apierrors.IsNotFound(err)):
		op.Outcome, op.Reason, op.Return = check.Failed, string(se.Status().Reason), time.Now()
	default:
		op.Outcome = check.Unknown
	}
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
	return err == nil, op.Reason
}

// retryUntil repeats f until it reports done, for at most a minute (a failover
// takes a few seconds).
func retryUntil(t *testing.T, what string, f func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return f(), nil
	})
	if err != nil {
		t.Fatalf("%s: not done within a minute: %v", what, err)
	}
}

// recCreate creates obj until the create is acknowledged (or found done by
// an earlier attempt of unknown outcome).
func recCreate[T metav1.Object](t *testing.T, r *opRecorder, c typedClient[T], obj T) {
	t.Helper()
	key := obj.GetNamespace() + "/" + obj.GetName()
	retryUntil(t, "create "+key, func() bool {
		ok, reason := r.do(check.Create, key, fmt.Sprint(obj.GetLabels()), "", func() (string, error) {
			o, err := c.Create(context.Background(), obj, metav1.CreateOptions{})
			if err != nil {
				return "", err
			}
			return o.GetResourceVersion(), nil
		})
		return ok || reason == check.ReasonAlreadyExists
	})
}

// recUpdate reads the object, changes it with mutate and updates it at the
// resourceVersion read, until an update is acknowledged.
func recUpdate[T metav1.Object](t *testing.T, r *opRecorder, c typedClient[T], ns, name string, mutate func(T)) {
	t.Helper()
	key := ns + "/" + name
	retryUntil(t, "update "+key, func() bool {
		cur, err := c.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		mutate(cur)
		ok, _ := r.do(check.Update, key, fmt.Sprint(cur.GetLabels()), cur.GetResourceVersion(), func() (string, error) {
			o, err := c.Update(context.Background(), cur, metav1.UpdateOptions{})
			if err != nil {
				return "", err
			}
			return o.GetResourceVersion(), nil
		})
		return ok
	})
}

// recDelete deletes the object until a delete is acknowledged or it is gone.
func recDelete[T metav1.Object](t *testing.T, r *opRecorder, c typedClient[T], ns, name string) {
	t.Helper()
	key := ns + "/" + name
	retryUntil(t, "delete "+key, func() bool {
		ok, reason := r.do(check.Delete, key, "", "", func() (string, error) {
			return "", c.Delete(context.Background(), name, metav1.DeleteOptions{})
		})
		return ok || reason == check.ReasonNotFound
	})
}

// sortedKeys returns a map's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// rvNumber is an orch resourceVersion (a Raft index) as a number.
func rvNumber(t *testing.T, rv string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", rv, err)
	}
	return n
}
