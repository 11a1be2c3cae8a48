package bootstrap

import (
	"context"
	"slices"

	"k8s.io/apiserver/pkg/authorization/authorizer"

	v1 "orch.io/orch/api/v1"
)

// InterimAuthorizer holds, until RBAC's default roles and the Node
// authorizer are merged, the two sets of rules certificate bootstrapping
// needs; it implements authorizer.UnconditionalAuthorizer.
//
//   - system:bootstrappers may create, get, list and watch
//     certificatesigningrequests and nothing else (Kubernetes'
//     system:node-bootstrapper ClusterRole);
//   - system:nodes may do what the shared node token may (read everything,
//     register and update nodes, update the status of pods and nodes,
//     delete pods) and create, get, list and watch CSRs (to renew), so a
//     node running on its own certificate works. The Node authorizer
//     replaces this with rules that confine a node to itself.
type InterimAuthorizer struct{}

// Authorize implements authorizer.Authorizer.
func (InterimAuthorizer) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	u := a.GetUser()
	if u == nil || !a.IsResourceRequest() {
		return authorizer.DecisionNoOpinion, "", nil
	}
	groups := u.GetGroups()
	res, sub, verb, group := a.GetResource(), a.GetSubresource(), a.GetVerb(), a.GetAPIGroup()
	csr := group == v1.CertificatesGroup && res == "certificatesigningrequests" && sub == "" &&
		slices.Contains([]string{"create", "get", "list", "watch"}, verb)
	switch {
	case slices.Contains(groups, Group):
		if csr {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "bootstrap tokens may only create, get, list and watch certificatesigningrequests", nil
	case slices.Contains(groups, v1.NodesGroup):
		if csr || nodeRule(group, res, sub, verb) {
			return authorizer.DecisionAllow, "", nil
		}
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// nodeRule is what the shared node token may do (api/server's legacy node rules).
func nodeRule(group, res, sub, verb string) bool {
	if group != "" {
		return false
	}
	switch {
	case sub == "" && (verb == "get" || verb == "list" || verb == "watch"):
	case sub == "status" && (res == "pods" || res == "nodes"):
	case res == "nodes" && sub == "" && (verb == "create" || verb == "update" || verb == "patch"):
	case res == "pods" && sub == "" && verb == "delete":
	default:
		return false
	}
	return true
}
