package v1

import (
	"strings"
	"testing"
)

func TestValidateRBAC(t *testing.T) {
	meta := func(ns, name string) ObjectMeta { return ObjectMeta{Namespace: ns, Name: name} }
	rule := PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	user := Subject{Kind: UserKind, Name: "alice"}
	tests := []struct {
		name string
		obj  Object
		want []string // substrings of the error; none for a valid object
	}{
		{"valid role", &Role{ObjectMeta: meta("a", "r"), Rules: []PolicyRule{rule}}, nil},
		{"colon in name", &ClusterRole{ObjectMeta: meta("", "system:basic-user"), Rules: []PolicyRule{rule}}, nil},
		{"slash in name", &ClusterRole{ObjectMeta: meta("", "a/b")}, []string{`metadata.name: Invalid value: "a/b": may not contain '/'`}},
		{"no verbs", &Role{ObjectMeta: meta("a", "r"), Rules: []PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}}}},
			[]string{"rules[0].verbs: Required value: verbs must contain at least one value"}},
		{"no groups or resources", &Role{ObjectMeta: meta("a", "r"), Rules: []PolicyRule{{Verbs: []string{"get"}}}},
			[]string{"rules[0].apiGroups: Required value: resource rules must supply at least one api group", "rules[0].resources: Required value: resource rules must supply at least one resource"}},
		{"URLs in a Role", &Role{ObjectMeta: meta("a", "r"), Rules: []PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}}}},
			[]string{"namespaced rules cannot apply to non-resource URLs"}},
		{"URLs and resources", &ClusterRole{ObjectMeta: meta("", "r"), Rules: []PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}, Resources: []string{"pods"}}}},
			[]string{"rules cannot apply to both regular resources and non-resource URLs"}},
		{"aggregation", &ClusterRole{ObjectMeta: meta("", "r"), AggregationRule: &AggregationRule{}}, []string{"aggregationRule: Forbidden"}},
		{"valid binding", &RoleBinding{ObjectMeta: meta("a", "b"), RoleRef: RoleRef{Kind: "Role", Name: "r"}, Subjects: []Subject{user,
			{Kind: ServiceAccountKind, Name: "sa"}, {Kind: GroupKind, Name: "g"}}}, nil},
		{"roleRef", &RoleBinding{ObjectMeta: meta("a", "b"), RoleRef: RoleRef{APIGroup: "x", Kind: "Pod"}},
			[]string{`roleRef.apiGroup: Unsupported value: "x"`, `roleRef.kind: Unsupported value: "Pod": supported values: "Role", "ClusterRole"`, "roleRef.name: Required value"}},
		{"cluster binding of a Role", &ClusterRoleBinding{ObjectMeta: meta("", "b"), RoleRef: RoleRef{Kind: "Role", Name: "r"}},
			[]string{`roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"`}},
		{"subjects", &RoleBinding{ObjectMeta: meta("a", "b"), RoleRef: RoleRef{Kind: "Role", Name: "r"}, Subjects: []Subject{
			{Kind: "Robot", Name: "x"}, {Kind: UserKind}, {Kind: ServiceAccountKind, Name: "Bad_Name"}, {Kind: GroupKind, Name: "g", APIGroup: "x"}}},
			[]string{`subjects[0].kind: Unsupported value: "Robot"`, "subjects[1].name: Required value", `subjects[2].name: Invalid value: "Bad_Name"`, `subjects[3].apiGroup: Unsupported value: "x"`}},
		{"cluster binding service account needs a namespace", &ClusterRoleBinding{ObjectMeta: meta("", "b"), RoleRef: RoleRef{Kind: "ClusterRole", Name: "r"},
			Subjects: []Subject{{Kind: ServiceAccountKind, Name: "sa"}}}, []string{"subjects[0].namespace: Required value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			Default(tc.obj)
			err := Validate(tc.obj)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("valid, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	old := &RoleBinding{ObjectMeta: meta("a", "b"), RoleRef: RoleRef{APIGroup: RBACGroup, Kind: "Role", Name: "r"}}
	next := &RoleBinding{ObjectMeta: meta("a", "b"), RoleRef: RoleRef{APIGroup: RBACGroup, Kind: "Role", Name: "other"}}
	if err := ValidateUpdate(next, old); err == nil || !strings.Contains(err.Error(), "roleRef: Invalid value") || !strings.Contains(err.Error(), "cannot change roleRef") {
		t.Errorf("roleRef change: %v", err)
	}
}
