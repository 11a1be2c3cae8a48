package main

import (
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestRoleFlagsRules(t *testing.T) {
	tests := []struct {
		name string
		f    roleFlags
		want []v1.PolicyRule
		err  bool
	}{
		{name: "one group", f: roleFlags{verbs: []string{"get", "list"}, resources: []string{"po", "pods/log"}},
			want: []v1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}}}},
		{name: "groups split", f: roleFlags{verbs: []string{"get"}, resources: []string{"roles", "rc", "widgets.example.com"}, resourceNames: []string{"a"}},
			want: []v1.PolicyRule{
				{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"replicationcontrollers"}, ResourceNames: []string{"a"}},
				{Verbs: []string{"get"}, APIGroups: []string{"example.com"}, Resources: []string{"widgets"}, ResourceNames: []string{"a"}},
				{Verbs: []string{"get"}, APIGroups: []string{v1.RBACGroup}, Resources: []string{"roles"}, ResourceNames: []string{"a"}},
			}},
		{name: "urls", f: roleFlags{verbs: []string{"get"}, urls: []string{"/metrics"}},
			want: []v1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}}}},
		{name: "no verb", f: roleFlags{resources: []string{"pods"}}, err: true},
		{name: "bad verb", f: roleFlags{verbs: []string{"jump"}, resources: []string{"pods"}}, err: true},
		{name: "no resource", f: roleFlags{verbs: []string{"get"}}, err: true},
		{name: "unknown resource", f: roleFlags{verbs: []string{"get"}, resources: []string{"widgets"}}, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.f.rules()
			if (err != nil) != tc.err {
				t.Fatalf("err %v", err)
			}
			if !tc.err && !v1.JSONEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestBindingFlags(t *testing.T) {
	f := bindingFlags{clusterRole: "edit", users: []string{"alice"}, groups: []string{"devs"}, serviceAccount: []string{"team-a:builder"}}
	ref, subjects, err := f.binding()
	if err != nil {
		t.Fatal(err)
	}
	want := []v1.Subject{{Kind: "User", APIGroup: v1.RBACGroup, Name: "alice"}, {Kind: "Group", APIGroup: v1.RBACGroup, Name: "devs"},
		{Kind: "ServiceAccount", Namespace: "team-a", Name: "builder"}}
	if ref != (v1.RoleRef{APIGroup: v1.RBACGroup, Kind: "ClusterRole", Name: "edit"}) || !v1.JSONEqual(subjects, want) {
		t.Errorf("got %+v %+v", ref, subjects)
	}
	for _, bad := range []bindingFlags{{}, {role: "a", clusterRole: "b"}, {role: "a", serviceAccount: []string{"nonamespace"}}} {
		if _, _, err := bad.binding(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
