package abac

import (
	"context"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

const policies = `# readers
{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"system:serviceaccount:team:reader","namespace":"team","resource":"pods","apiGroup":"*","readonly":true}}

{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"group":"ops","namespace":"*","resource":"*","apiGroup":"*"}}
{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"*","nonResourcePath":"/version*","readonly":true}}
`

func TestAuthorize(t *testing.T) {
	az, err := Parse([]byte(policies))
	if err != nil {
		t.Fatal(err)
	}
	reader := &user.DefaultInfo{Name: "system:serviceaccount:team:reader"}
	op := &user.DefaultInfo{Name: "bob", Groups: []string{"ops"}}
	res := func(u user.Info, verb, ns, resource string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: u, Verb: verb, Namespace: ns, Resource: resource, ResourceRequest: true}
	}
	for _, tc := range []struct {
		name  string
		a     authorizer.AttributesRecord
		allow bool
	}{
		{"reader lists pods of team", res(reader, "list", "team", "pods"), true},
		{"reader watches pods of team", res(reader, "watch", "team", "pods"), true},
		{"reader may not delete", res(reader, "delete", "team", "pods"), false},
		{"reader not in another namespace", res(reader, "list", "other", "pods"), false},
		{"reader not services", res(reader, "list", "team", "services"), false},
		{"reader not nodes (cluster scope)", res(reader, "list", "", "nodes"), false},
		{"ops anything namespaced", res(op, "delete", "x", "pods"), true},
		{"ops also cluster-scoped (namespace *)", res(op, "delete", "", "nodes"), true},
		{"anyone reads /version", authorizer.AttributesRecord{User: reader, Verb: "get", Path: "/version"}, true},
		{"nobody posts /version", authorizer.AttributesRecord{User: reader, Verb: "post", Path: "/version"}, false},
		{"not /metrics", authorizer.AttributesRecord{User: reader, Verb: "get", Path: "/metrics"}, false},
	} {
		d, _, err := az.Authorize(context.Background(), tc.a)
		if err != nil || (d == authorizer.DecisionAllow) != tc.allow {
			t.Errorf("%s: %v %v, want allow=%v", tc.name, d, err, tc.allow)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, bad := range []string{
		`{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"resource":"pods"}}`,
		`{"apiVersion":"v1","kind":"Policy","spec":{"user":"a"}}`,
		`{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"a","verbs":["get"]}}`,
		`not json`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
