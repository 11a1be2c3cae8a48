package apiserver

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// The fuzz targets drive the write path the API server runs before it
// proposes (strict decode, server fields, defaults, validation, the command,
// fsm.Verify) and then apply the command on a real FSM and read the object
// back: anything the API accepts must apply without a rejection and read
// back equal, and nothing may panic. `go test` runs their seed corpus;
// `make fuzz` runs each for FUZZTIME.

// createSeeds are bodies each kind's create has seen go wrong, or that
// exercise the corners of the types.
var createSeeds = []string{
	`{"metadata":{"name":"a","creationTimestamp":"9999-12-31T23:59:59-23:59"},"spec":{"containers":[{"name":"a","image":"b"}]}}`,
	`{"metadata":{"name":"a"},"spec":{"containers":[{"name":"a","image":"b","resources":{"requests":{"cpu":"9223372036854776","memory":"1e30"}}}]}}`,
	`{"metadata":{"name":"a","labels":{"app":"x"},"annotations":{"n":"<&>\u2028"}},"spec":{"terminationGracePeriodSeconds":9223372036,"activeDeadlineSeconds":5,"containers":[{"name":"a","image":"b","resources":{"limits":{"cpu":"1000000","memory":"9223372036854775807","example.com/gpu":"2"}},"livenessProbe":{"httpGet":{"port":"http"}}}]}}`,
	`{"metadata":{"name":"rc"},"spec":{"replicas":1000000000,"selector":{"app":"x"},"template":{"metadata":{"labels":{"app":"x"},"creationTimestamp":"9999-12-31T23:59:59-23:59"},"spec":{"containers":[{"name":"a","image":"b"}]}}}}`,
	`{"metadata":{"name":"svc"},"spec":{"type":"NodePort","ports":[{"port":80,"targetPort":"http","nodePort":30001}],"clusterIP":"10.96.0.10"}}`,
	`{"metadata":{"name":"n1"},"status":{"capacity":{"cpu":"1000000","memory":"1e30","pods":"110","example.com/gpu":"0.5"}}}`,
	`{"metadata":{"name":"ep"},"subsets":[{"addresses":[{"ip":"10.0.0.1"}],"ports":[{"port":80}]}]}`,
	`{"metadata":{"name":"x","generateName":"g-","deletionTimestamp":"2000-01-01T00:00:00Z"}}`,
	`{"metadata":{"name":"x"},"spec":{"containers":[{"name":"a","image":"b","command":["\ud800"]}]}}`,
	`{"metadata":{"name":"x","ownerReferences":[{"apiVersion":"v1","kind":"ReplicationController","name":"rc","uid":"u","controller":true}]},"spec":{"containers":[{"name":"a","image":"b","ports":[{"containerPort":65535,"protocol":"SCTP"}]}]}}`,
}

func FuzzCreate(f *testing.F) {
	for _, s := range createSeeds {
		for k := range v1.Resources() {
			f.Add(uint8(k), []byte(s))
		}
	}
	srv := &Server{cfg: DefaultConfig()}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		rs := v1.Resources()
		r := rs[int(kind)%len(rs)]
		if r.Review {
			return // answered, never stored: review_test.go
		}
		req := &request{verb: "create", resource: r}
		if r.Namespaced {
			req.namespace = "default"
		}
		obj, err := decodeObject(req, body)
		if err != nil || obj.GetObjectMeta().ResourceVersion != "" {
			return // refused at the edge with 400
		}
		prepareCreate(obj)
		v1.Default(obj)
		if m := obj.GetObjectMeta(); m.Name == "" && m.GenerateName != "" {
			m.Name = v1.GenerateName(m.GenerateName)
		}
		if v1.Validate(obj) != nil {
			return // refused with 422
		}
		cmd, err := srv.createCommand(obj)
		if err != nil {
			t.Fatalf("a valid %s does not encode: %v", r.Kind, err)
		}
		if err := fsm.Verify(cmd); err != nil {
			if v1.CodeOf(err) == 413 {
				return
			}
			t.Fatalf("a valid %s does not round-trip: %v\nbody: %s", r.Kind, err, body)
		}
		f := newFuzzFSM(t)
		res, ok := fsm.ApplyCommand(t, f, fuzzApplyIndex, cmd).(fsm.Result)
		if !ok {
			t.Fatalf("apply returned %T", res)
		}
		if res.Err != nil {
			if isRejection(res.Err) {
				t.Fatalf("the FSM rejected what the API accepted: %v\nbody: %s", res.Err, body)
			}
			return // refused by a check on the state (names, addresses): a 4xx
		}
		readBack(t, f, r, obj)
	})
}

// statusSeeds are status bodies for each kind.
var statusSeeds = []string{
	`{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"9999-12-31T23:59:59-23:59"}]}}`,
	`{"status":{"phase":"Running","startTime":"2026-01-01T00:00:00+14:00","containerStatuses":[{"name":"a","ready":true,"restartCount":2147483647,"image":"b","imageID":"c","state":{"terminated":{"exitCode":-1,"finishedAt":"0001-01-01T00:00:01Z"}}}]}}`,
	`{"status":{"capacity":{"cpu":"9223372036854776","memory":"1e30","pods":"110"},"conditions":[{"type":"Ready","status":"True","lastHeartbeatTime":"9999-12-31T23:59:59-23:59"}]}}`,
	`{"status":{"replicas":5,"readyReplicas":-1,"observedGeneration":9223372036854775807}}`,
	`{"status":{"phase":"Terminating"}}`,
	`{"status":{"loadBalancer":{}}}`,
}

func FuzzUpdateStatus(f *testing.F) {
	for _, s := range statusSeeds {
		for k := range v1.Resources() {
			f.Add(uint8(k), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		var withStatus []v1.Resource
		for _, r := range v1.Resources() {
			if r.HasStatus {
				withStatus = append(withStatus, r)
			}
		}
		r := withStatus[int(kind)%len(withStatus)]
		f := newFuzzFSM(t)
		old, err := f.Store().Get(r.Name, fuzzNamespace(r), "x")
		if err != nil {
			t.Fatal(err)
		}
		req := &request{verb: "update", sub: "status", resource: r, namespace: fuzzNamespace(r), name: "x"}
		obj, err := decodeObject(req, body)
		if err != nil {
			return
		}
		next := v1.DeepCopy(old.Object())
		v1.CopyStatus(next, obj)
		next.GetObjectMeta().ResourceVersion = ""
		if v1.ValidateUpdate(next, old.Object()) != nil {
			return
		}
		cmd, err := fsm.NewUpdate(next, true)
		if err != nil {
			t.Fatalf("a valid %s status does not encode: %v", r.Kind, err)
		}
		if err := fsm.Verify(cmd); err != nil {
			t.Fatalf("a valid %s status does not round-trip: %v\nbody: %s", r.Kind, err, body)
		}
		res := fsm.ApplyCommand(t, f, fuzzApplyIndex, cmd).(fsm.Result)
		if res.Err != nil {
			t.Fatalf("the FSM refused a valid %s status: %v\nbody: %s", r.Kind, res.Err, body)
		}
		back := readBack(t, f, r, nil)
		want := v1.DeepCopy(next)
		switch w := want.(type) {
		case *v1.Namespace: // the phase is the FSM's
			w.Status.Phase = old.Object().(*v1.Namespace).Status.Phase
		case *v1.ResourceQuota: // and so is a quota's status
			w.Status = old.Object().(*v1.ResourceQuota).Status
		}
		if !v1.JSONEqual(statusOf(back), statusOf(want)) {
			t.Fatalf("status read back differs:\n got %s\nwant %s", mustJSON(statusOf(back)), mustJSON(statusOf(want)))
		}
	})
}

func fuzzNamespace(r v1.Resource) string {
	if r.Namespaced {
		return "default"
	}
	return ""
}

// fuzzApplyIndex is the index of the command a fuzz target applies, past
// those of newFuzzFSM.
const fuzzApplyIndex = 100

// newFuzzFSM returns an FSM holding namespace default and one object "x"
// of every stored kind, at indexes below fuzzApplyIndex.
func newFuzzFSM(t *testing.T) *fsm.FSM {
	f := fsm.NewTestFSM(t)
	fsm.MustCreate(t, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}})
	objs := []v1.Object{
		&v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "x"}},
		&v1.Node{ObjectMeta: v1.ObjectMeta{Name: "x"}},
		&v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a", Image: "b"}}}},
		&v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Spec: v1.ReplicationControllerSpec{Selector: map[string]string{"a": "b"},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"a": "b"}}, Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a", Image: "b"}}}}}},
		&v1.Service{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Port: 80}}}},
		&v1.Endpoints{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}},
		&v1.ResourceQuota{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Spec: v1.ResourceQuotaSpec{Hard: v1.ResourceList{"pods": resource.MustParse("10")}}},
		&v1.LimitRange{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Spec: v1.LimitRangeSpec{Limits: []v1.LimitRangeItem{{Type: "Container", Max: v1.ResourceList{"cpu": resource.MustParse("4")}}}}},
		&v1.Role{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Rules: []v1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}},
		&v1.ClusterRole{ObjectMeta: v1.ObjectMeta{Name: "x"}, Rules: []v1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}}}},
		&v1.RoleBinding{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, RoleRef: v1.RoleRef{Kind: "Role", Name: "x"}, Subjects: []v1.Subject{{Kind: "User", Name: "u"}}},
		&v1.ClusterRoleBinding{ObjectMeta: v1.ObjectMeta{Name: "x"}, RoleRef: v1.RoleRef{Kind: "ClusterRole", Name: "x"}, Subjects: []v1.Subject{{Kind: "Group", Name: "g"}}},
		&v1.CertificateSigningRequest{ObjectMeta: v1.ObjectMeta{Name: "x"}, Spec: v1.CertificateSigningRequestSpec{SignerName: "example.com/x", Usages: []v1.KeyUsage{v1.UsageClientAuth}}},
		&v1.BootstrapToken{ObjectMeta: v1.ObjectMeta{Name: "x"}, Spec: v1.BootstrapTokenSpec{SecretHash: v1.BootstrapTokenHash("abcdef.0123456789abcdef")}},
		&v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}},
		&v1.Lease{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}},
		&v1.EndpointSlice{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, AddressType: v1.AddressTypeIPv4},
		&v1.Event{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, InvolvedObject: v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "x"}},
		&v1.PodDisruptionBudget{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Spec: v1.PodDisruptionBudgetSpec{
			MinAvailable: &intstr.IntOrString{Type: intstr.Int, IntVal: 1}, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}}},
		&v1.Job{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Spec: v1.JobSpec{Template: v1.PodTemplateSpec{
			Spec: v1.PodSpec{RestartPolicy: v1.RestartNever, Containers: []v1.Container{{Name: "a", Image: "b"}}}}}},
		&v1.CronJob{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Spec: v1.CronJobSpec{Schedule: "@hourly",
			JobTemplate: v1.JobTemplateSpec{Spec: v1.JobSpec{Template: v1.PodTemplateSpec{
				Spec: v1.PodSpec{RestartPolicy: v1.RestartNever, Containers: []v1.Container{{Name: "a", Image: "b"}}}}}}}},
		&v1.ReplicaSet{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Spec: v1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
			Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"a": "b"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}}},
		&v1.Deployment{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Spec: v1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
			Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"a": "b"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}}},
		&v1.ControllerRevision{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"},
			Data: runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}, Revision: 1},
		&v1.DaemonSet{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Spec: v1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
			Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"a": "b"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}}},
		&v1.StatefulSet{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Spec: v1.StatefulSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
			Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"a": "b"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}}},
		&v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Data: map[string]string{"k": "v"}},
		&v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "default"}, Data: map[string][]byte{"k": []byte("v")}},
	}
	stored := 0
	for _, r := range v1.Resources() {
		if !r.Review {
			stored++
		}
	}
	if len(objs) != stored {
		t.Fatalf("newFuzzFSM makes %d objects for %d stored kinds: add the new kind", len(objs), stored)
	}
	for i, o := range objs {
		prepareCreate(o)
		v1.Default(o)
		fsm.MustCreate(t, f, uint64(2+i), o)
	}
	return f
}

// readBack reads the object named like obj (or "x") from the store, checks
// that its bytes decode and encode back to themselves, and, given obj,
// that it equals what was proposed but for what the FSM fills in.
func readBack(t *testing.T, f *fsm.FSM, r v1.Resource, obj v1.Object) v1.Object {
	t.Helper()
	name, ns := "x", fuzzNamespace(r)
	if obj != nil {
		name = obj.GetObjectMeta().Name
	}
	rec, err := f.Store().Get(r.Name, ns, name)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	raw, err := rec.JSON()
	if err != nil {
		t.Fatalf("the stored %s does not encode: %v", r.Kind, err)
	}
	back := r.New()
	if err := json.Unmarshal(raw, back); err != nil {
		t.Fatalf("the stored %s does not decode: %v\n%s", r.Kind, err, raw)
	}
	// The stored bytes need not be canonical (the FSM splices the
	// resourceVersion in first), but what they decode to must be stable.
	again, err := json.Marshal(back)
	if err != nil {
		t.Fatalf("the stored %s does not encode once decoded: %v", r.Kind, err)
	}
	if err := fsm.Verify(append([]byte{byte(fsm.UpdateCommand)}, append([]byte(r.Name+"\x00"), again...)...)); err != nil {
		t.Fatalf("the stored %s does not round-trip: %v", r.Kind, err)
	}
	if err := rec.DecodeError(); err != nil {
		t.Fatalf("DecodeError: %v", err)
	}
	if obj == nil {
		return back
	}
	want := v1.DeepCopy(obj)
	got := v1.DeepCopy(back)
	for _, o := range []v1.Object{want, got} {
		m := o.GetObjectMeta()
		m.ResourceVersion, m.Generation = "", 1
		v1.SetTypeMeta(o)
		switch x := o.(type) {
		case *v1.Node: // the FSM allocates the pod CIDR
			x.Spec.PodCIDR, x.Spec.PodCIDRs = "", nil
		case *v1.Service: // and the ClusterIP and NodePorts
			x.Spec.ClusterIP, x.Spec.ClusterIPs = "", nil
			for i := range x.Spec.Ports {
				x.Spec.Ports[i].NodePort = 0
			}
		}
	}
	if !v1.JSONEqual(got, want) {
		t.Fatalf("read back differs from what was proposed:\n got %s\nwant %s", mustJSON(got), mustJSON(want))
	}
	return back
}

func statusOf(o v1.Object) any {
	switch x := o.(type) {
	case *v1.Namespace:
		return x.Status
	case *v1.Node:
		return x.Status
	case *v1.Pod:
		return x.Status
	case *v1.ReplicationController:
		return x.Status
	case *v1.Service:
		return x.Status
	case *v1.ResourceQuota:
		return x.Status
	}
	return nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// isRejection reports whether err is the FSM's answer to an entry it could not apply.
func isRejection(err error) bool {
	return strings.Contains(err.Error(), "cannot be applied")
}
