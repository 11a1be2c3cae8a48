package apiserver

import (
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// The 403 message is Kubernetes' word for word: the prefix names the
// group-qualified resource without its subresource, the sentence names
// the resource with it.
func TestForbiddenMessage(t *testing.T) {
	ann := &user.DefaultInfo{Name: "ann"}
	for _, tc := range []struct {
		name string
		a    authorizer.AttributesRecord
		want string
	}{
		{"core list", authorizer.AttributesRecord{User: ann, Verb: "list", Resource: "pods", Namespace: "a", ResourceRequest: true},
			`pods is forbidden: User "ann" cannot list resource "pods" in API group "" in the namespace "a"`},
		{"subresource", authorizer.AttributesRecord{User: ann, Verb: "create", Resource: "pods", Subresource: "exec", Name: "web", Namespace: "a", ResourceRequest: true},
			`pods "web" is forbidden: User "ann" cannot create resource "pods/exec" in API group "" in the namespace "a"`},
		{"group cluster scope", authorizer.AttributesRecord{User: ann, Verb: "get", APIGroup: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: "admin", ResourceRequest: true},
			`clusterroles.rbac.authorization.k8s.io "admin" is forbidden: User "ann" cannot get resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope`},
		{"path", authorizer.AttributesRecord{User: ann, Verb: "get", Path: "/metrics"},
			`forbidden: User "ann" cannot get path "/metrics"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := forbidden(tc.a, "").Error(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
