package fsm

import (
	"encoding/json"
	"testing"

	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
)

// FuzzApplyEntry applies arbitrary bytes as a committed entry, as a log
// written by anything (an older orch, a bug) might hold: the FSM must not
// panic, except for what another master may know (skew), and the store must
// stay readable: every object listed, decoded and encoded without a panic.
func FuzzApplyEntry(f *testing.F) {
	year10000 := `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"default","creationTimestamp":"10000-01-01T00:00:00Z"},"spec":{"containers":[{"name":"a","image":"b"}]}}`
	seeds := [][]byte{
		nil,
		{byte(CreateCommand)},
		mustEncode(f, CreateCommand, CreateRequest{Resource: "pods", Namespace: "default", Name: "p", Object: json.RawMessage(year10000)}),
		mustEncode(f, UpdateStatusCommand, UpdateRequest{Resource: "pods", Object: json.RawMessage(year10000)}),
		mustEncode(f, UpdateCommand, UpdateRequest{Resource: "nodes", Object: json.RawMessage(`{"metadata":{"name":"n1"},"status":{"capacity":{"cpu":"9223372036854776"}}}`)}),
		mustEncode(f, DeleteCommand, DeleteRequest{Resource: "pods", Namespace: "default", Name: "web", GracePeriodSeconds: ptr(int64(1 << 62))}),
		mustEncode(f, DeleteCommand, DeleteRequest{Resource: "namespaces", Name: "default"}),
		mustEncode(f, LegacyDeleteCommand, DeleteRequest{Resource: "namespaces", Name: "default"}),
		mustEncode(f, LegacyDeleteCommand, DeleteRequest{Resource: "replicationcontrollers", Namespace: "default", Name: "rc"}),
		mustEncode(f, BindCommand, BindRequest{Bindings: []Binding{{Namespace: "default", Name: "web", Node: "n1"}, {Namespace: "default", Name: "web", Node: "n1"}}}),
		mustEncode(f, ScaleCommand, ScaleRequest{Namespace: "default", Name: "rc", Replicas: -5}),
		mustEncode(f, BatchCommand, BatchRequest{Items: []BatchItem{{Type: ScaleCommand, Body: []byte(`{}`)}, {Type: DeleteCommand, Body: []byte(`{"resource":"pods","namespace":"default","name":"web"}`)}}}),
		mustEncode(f, CreateNodeCommand, CreateNodeRequest{ClusterCIDR: "10.0.0.0/31", MaskSize: 40, Object: json.RawMessage(`{"metadata":{"name":"n2"}}`)}),
		mustEncode(f, RegisterNodeCommand, CreateNodeRequest{ClusterCIDR: "10.0.0.0/32", MaskSize: 32, Object: json.RawMessage(`{"metadata":{"name":"n3"}}`)}),
		mustEncode(f, CreateServiceCommand, CreateServiceRequest{ServiceCIDR: "::/0", Object: json.RawMessage(`{"metadata":{"name":"s2","namespace":"default"},"spec":{"clusterIP":"1.2.3.4","ports":[{"port":1,"nodePort":99999}]}}`)}),
		mustEncode(f, UpsertMasterCommand, MasterInfo{ID: "m9"}),
		mustEncode(f, DeleteCommand, DeleteRequest{Resource: "replicationcontrollers", Namespace: "default", Name: "rc", Propagation: v1.PropagationForeground}),
		mustEncode(f, DeleteCommand, DeleteRequest{Resource: "services", Namespace: "default", Name: "svc", Propagation: "Sideways"}),
		mustEncode(f, BatchCommand, BatchRequest{Items: []BatchItem{
			{Type: DeleteCommand, Body: []byte(`{"resource":"namespaces","name":"default","propagation":"Orphan"}`)},
			{Type: UpdateCommand, Body: []byte("services\x00" + `{"metadata":{"name":"svc","namespace":"default","finalizers":["a","a"],"deletionGracePeriodSeconds":-1},"spec":{"clusterIP":"10.96.0.1","ports":[{"port":80}]}}`)},
			{Type: DeleteCommand, Body: []byte(`{"resource":"pods","namespace":"default","name":"web","gracePeriodSeconds":-7}`)},
		}}),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fsm := fuzzState(t)
		func() {
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(skew); !ok {
						t.Fatalf("Apply panicked: %v", r)
					}
				}
			}()
			fsm.Apply(&raft.Log{Index: 100, Type: raft.LogCommand, Data: data})
		}()
		s := fsm.Store()
		for _, r := range v1.Resources() {
			res, err := s.List(r.Name, ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range res.Items {
				rec.Object()
				rec.JSON()
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

// fuzzState is an FSM holding a namespace, a node, a bound pod, an RC and a service.
func fuzzState(t *testing.T) *FSM {
	f := NewTestFSM(t)
	MustCreate(t, f, 1, nsObj("default"))
	MustCreate(t, f, 2, &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n1"}})
	p := podObj("default", "web", map[string]string{"app": "web"})
	p.Spec.NodeName = "n1"
	MustCreate(t, f, 3, p)
	two := int32(2)
	MustCreate(t, f, 4, &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "rc", Namespace: "default", UID: "rc-uid"},
		Spec: v1.ReplicationControllerSpec{Replicas: &two, Selector: map[string]string{"app": "web"},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: p.Spec}}})
	MustCreate(t, f, 5, &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "svc", Namespace: "default"}, Spec: v1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []v1.ServicePort{{Port: 80}}}})
	return f
}
