package main

import (
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestCanIAttributes(t *testing.T) {
	tests := []struct {
		args    []string
		ns      string
		all     bool
		sub     string
		want    *v1.ResourceAttributes
		nonRes  *v1.NonResourceAttributes
		warning bool
		err     bool
	}{
		{args: []string{"create", "pods"}, ns: "team-a", want: &v1.ResourceAttributes{Verb: "create", Resource: "pods", Namespace: "team-a"}},
		{args: []string{"get", "po/web"}, ns: "team-a", want: &v1.ResourceAttributes{Verb: "get", Resource: "pods", Name: "web", Namespace: "team-a"}},
		{args: []string{"get", "pods", "web"}, ns: "x", sub: "log", want: &v1.ResourceAttributes{Verb: "get", Resource: "pods", Name: "web", Namespace: "x", Subresource: "log"}},
		{args: []string{"list", "nodes"}, ns: "team-a", want: &v1.ResourceAttributes{Verb: "list", Resource: "nodes"}},
		{args: []string{"get", "namespaces/team-a"}, ns: "default", want: &v1.ResourceAttributes{Verb: "get", Resource: "namespaces", Name: "team-a", Namespace: "team-a"}},
		{args: []string{"create", "rolebindings.rbac.authorization.k8s.io"}, ns: "t", want: &v1.ResourceAttributes{Verb: "create", Group: v1.RBACGroup, Resource: "rolebindings", Namespace: "t"}},
		{args: []string{"create", "roles"}, ns: "t", all: true, want: &v1.ResourceAttributes{Verb: "create", Group: v1.RBACGroup, Resource: "roles"}},
		{args: []string{"get", "widgets.example.com"}, ns: "t", want: &v1.ResourceAttributes{Verb: "get", Group: "example.com", Resource: "widgets", Namespace: "t"}, warning: true},
		{args: []string{"get", "/metrics"}, nonRes: &v1.NonResourceAttributes{Verb: "get", Path: "/metrics"}},
		{args: []string{"get"}, err: true},
		{args: []string{"get", "pods/a", "b"}, err: true},
		{args: []string{"get", "/metrics", "x"}, err: true},
	}
	for _, tc := range tests {
		a := &app{namespace: tc.ns, allNamespaces: tc.all}
		ra, na, warning, err := a.canIAttributes(tc.args, tc.sub)
		if (err != nil) != tc.err {
			t.Errorf("%v: err %v", tc.args, err)
			continue
		}
		if tc.err {
			continue
		}
		if !v1.JSONEqual(ra, tc.want) || !v1.JSONEqual(na, tc.nonRes) || (warning != "") != tc.warning {
			t.Errorf("%v: got %+v %+v %q, want %+v %+v warning=%v", tc.args, ra, na, warning, tc.want, tc.nonRes, tc.warning)
		}
	}
}
