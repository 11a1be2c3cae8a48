package node

import (
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"

	v1 "orch.io/orch/api/v1"
)

func TestAdmitEvent(t *testing.T) {
	nodeA := &user.DefaultInfo{Name: "system:node:a", Groups: []string{"system:nodes"}}
	pods := map[string]*v1.Pod{
		"default/mine":   {ObjectMeta: v1.ObjectMeta{Name: "mine", Namespace: "default", UID: "u-mine"}, Spec: v1.PodSpec{NodeName: "a"}},
		"default/theirs": {ObjectMeta: v1.ObjectMeta{Name: "theirs", Namespace: "default", UID: "u-theirs"}, Spec: v1.PodSpec{NodeName: "b"}},
	}
	ev := func(ref v1.ObjectReference) *v1.Event {
		return &v1.Event{ObjectMeta: v1.ObjectMeta{Name: "e", Namespace: "default"}, InvolvedObject: ref}
	}
	pod := func(name, uid string) v1.ObjectReference {
		return v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: name, UID: uid}
	}
	tests := []struct {
		name     string
		op       Operation
		obj, old v1.Object
		want     string // "" allowed, else part of the refusal
	}{
		{"own pod", Create, ev(pod("mine", "u-mine")), nil, ""},
		{"own pod without uid", Create, ev(pod("mine", "")), nil, ""},
		{"own node", Create, ev(v1.ObjectReference{Kind: "Node", Name: "a", UID: "a"}), nil, ""},
		{"other node", Create, ev(v1.ObjectReference{Kind: "Node", Name: "b"}), nil, `not node "b"`},
		{"other's pod", Create, ev(pod("theirs", "u-theirs")), nil, "not pod default/theirs"},
		{"pod gone meanwhile", Create, ev(pod("gone", "u-gone")), nil, ""},
		{"own pod's name, another uid", Create, ev(pod("mine", "u-old")), nil, "not pod default/mine"},
		{"an rc", Create, ev(v1.ObjectReference{Kind: "ReplicationController", Namespace: "default", Name: "web"}), nil, "not a ReplicationController"},
		{"update of own event", Update, ev(pod("mine", "")), ev(pod("mine", "")), ""},
		{"update taking over another's event", Update, ev(pod("mine", "")), ev(pod("theirs", "")), "not pod default/theirs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Admit(Attributes{User: nodeA, Operation: tt.op, Resource: "events", Name: "e", Object: tt.obj, OldObject: tt.old, InvolvedPods: pods})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || v1.CodeOf(err) != 403 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want 403 containing %q", err, tt.want)
			}
		})
	}
}
