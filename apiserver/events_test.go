package apiserver

import (
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// A node records events about itself and its pods (create and update), and
// about nothing else.
func TestNodeEvents(t *testing.T) {
	e := newTestEnv(t)
	node := withToken(nodeCredential)
	e.createNode(t, "n1")
	e.createNode(t, "n2")
	mine := e.createPod(t, "mine", nil)
	e.bind(t, "mine", "n1")
	theirs := e.createPod(t, "theirs", nil)
	e.bind(t, "theirs", "n2")
	ev := func(name string, ref v1.ObjectReference) *v1.Event {
		return &v1.Event{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default"}, InvolvedObject: ref,
			Reason: "Started", Message: "Started container c", Type: v1.EventTypeNormal, Count: 1,
			Source: v1.EventSource{Component: "kubelet", Host: "n1"}}
	}
	path := "/api/v1/namespaces/default/events"
	e.expectCode(t, http.StatusCreated, http.MethodPost, path,
		ev("mine.1", v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "mine", UID: mine.UID, FieldPath: "spec.containers{c}"}), node)
	e.expectCode(t, http.StatusCreated, http.MethodPost, path, ev("n1.1", v1.ObjectReference{Kind: "Node", Name: "n1", UID: "n1"}), node)
	upd := ev("mine.1", v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "mine", UID: mine.UID, FieldPath: "spec.containers{c}"})
	upd.Count = 2
	e.expectCode(t, http.StatusOK, http.MethodPut, path+"/mine.1", upd, node)
	for _, tc := range []struct {
		name string
		ev   *v1.Event
		want string
	}{
		{"other's pod", ev("theirs.1", v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "theirs", UID: theirs.UID}), "not pod default/theirs"},
		{"other node", ev("n2.1", v1.ObjectReference{Kind: "Node", Name: "n2", UID: "n2"}), `not node "n2"`},
		{"an rc", ev("rc.1", v1.ObjectReference{Kind: "ReplicationController", Namespace: "default", Name: "web"}), "not a ReplicationController"},
	} {
		st := e.expectStatus(t, http.StatusForbidden, http.MethodPost, path, tc.ev, node)
		if !strings.Contains(st.Message, tc.want) {
			t.Errorf("%s: %s", tc.name, st.Message)
		}
	}
	// The node may not read events back; describe is the users'.
	e.expectCode(t, http.StatusForbidden, http.MethodGet, path, nil, node)
	// kubectl describe's field selector.
	list := decode[v1.List[v1.Event]](t, e.expectCode(t, http.StatusOK, http.MethodGet,
		path+"?fieldSelector=involvedObject.kind%3DPod,involvedObject.name%3Dmine,involvedObject.namespace%3Ddefault,involvedObject.uid%3D"+mine.UID, nil))
	if len(list.Items) != 1 || list.Items[0].Count != 2 {
		t.Fatalf("events of pod mine: %+v", list.Items)
	}
}
