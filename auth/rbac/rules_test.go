package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// The cases of Kubernetes' plugin/pkg/auth/authorizer/rbac rbac_test.go
// TestRuleMatches, plus orch's subresources.
func TestRuleAllows(t *testing.T) {
	res := func(verb, group, resource, sub, ns, name string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "u"}, Verb: verb, APIGroup: group,
			Resource: resource, Subresource: sub, Namespace: ns, Name: name, ResourceRequest: true}
	}
	path := func(verb, p string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "u"}, Verb: verb, Path: p}
	}
	tests := []struct {
		name  string
		rule  rbacv1.PolicyRule
		allow []authorizer.AttributesRecord
		deny  []authorizer.AttributesRecord
	}{
		{
			name: "star verb, exact match other",
			rule: rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{""}, Resources: []string{"pods"}},
			allow: []authorizer.AttributesRecord{
				res("get", "", "pods", "", "ns1", ""), res("delete", "", "pods", "", "ns1", "p"), res("deletecollection", "", "pods", "", "", ""),
			},
			deny: []authorizer.AttributesRecord{
				res("get", "", "services", "", "ns1", ""), res("get", "apps", "pods", "", "ns1", ""),
				res("get", "", "pods", "status", "ns1", "p"), path("get", "/api"),
			},
		},
		{
			name:  "star group, exact match other",
			rule:  rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"*"}, Resources: []string{"pods"}},
			allow: []authorizer.AttributesRecord{res("get", "", "pods", "", "", ""), res("get", "apps", "pods", "", "ns", "x")},
			deny:  []authorizer.AttributesRecord{res("list", "", "pods", "", "", "")},
		},
		{
			name: "star resource matches every resource and subresource",
			rule: rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"*"}},
			allow: []authorizer.AttributesRecord{
				res("get", "", "pods", "", "", ""), res("get", "", "pods", "log", "ns", "p"), res("get", "", "nodes", "", "", "n"),
			},
			deny: []authorizer.AttributesRecord{res("get", "rbac.authorization.k8s.io", "roles", "", "ns", "")},
		},
		{
			name:  "resource/subresource",
			rule:  rbacv1.PolicyRule{Verbs: []string{"get", "update"}, APIGroups: []string{""}, Resources: []string{"pods/status"}},
			allow: []authorizer.AttributesRecord{res("update", "", "pods", "status", "ns", "p")},
			deny:  []authorizer.AttributesRecord{res("update", "", "pods", "", "ns", "p"), res("update", "", "nodes", "status", "", "n")},
		},
		{
			name:  "*/subresource",
			rule:  rbacv1.PolicyRule{Verbs: []string{"update"}, APIGroups: []string{""}, Resources: []string{"*/status"}},
			allow: []authorizer.AttributesRecord{res("update", "", "pods", "status", "ns", "p"), res("update", "", "nodes", "status", "", "n")},
			deny: []authorizer.AttributesRecord{
				res("update", "", "pods", "", "ns", "p"), res("update", "", "pods", "xstatus", "ns", "p"),
				res("update", "", "status", "", "", ""),
			},
		},
		{
			name:  "resource names",
			rule:  rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"a", "b"}},
			allow: []authorizer.AttributesRecord{res("get", "", "pods", "", "ns", "a"), res("get", "", "pods", "", "ns", "b")},
			deny:  []authorizer.AttributesRecord{res("get", "", "pods", "", "ns", "c"), res("list", "", "pods", "", "ns", "")},
		},
		{
			name:  "non-resource URL exact",
			rule:  rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}},
			allow: []authorizer.AttributesRecord{path("get", "/metrics")},
			deny:  []authorizer.AttributesRecord{path("post", "/metrics"), path("get", "/metrics/x"), path("get", "/metric"), res("get", "", "metrics", "", "", "")},
		},
		{
			name:  "non-resource URL trailing star",
			rule:  rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/apis/*"}},
			allow: []authorizer.AttributesRecord{path("get", "/apis/"), path("get", "/apis/rbac.authorization.k8s.io/v1")},
			deny:  []authorizer.AttributesRecord{path("get", "/apis"), path("get", "/api/v1")},
		},
		{
			name:  "non-resource URL star",
			rule:  rbacv1.PolicyRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
			allow: []authorizer.AttributesRecord{path("get", "/"), path("delete", "/orch/v1/cluster/masters/m1")},
			deny:  []authorizer.AttributesRecord{res("get", "", "pods", "", "", "")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, a := range tc.allow {
				if !RuleAllows(a, &tc.rule) {
					t.Errorf("%+v: denied, want allowed", a)
				}
			}
			for _, a := range tc.deny {
				if RuleAllows(a, &tc.rule) {
					t.Errorf("%+v: allowed, want denied", a)
				}
			}
		})
	}
}
