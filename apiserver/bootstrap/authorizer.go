package bootstrap

import (
	"context"
	"slices"

	"k8s.io/apiserver/pkg/authorization/authorizer"

	v1 "orch.io/orch/api/v1"
)

// InterimAuthorizer lets system:bootstrappers create, get, list and watch
// certificatesigningrequests and nothing else (Kubernetes'
// system:node-bootstrapper ClusterRole, which RBAC's defaults also bind to
// system:bootstrappers), so a server without RBAC still bootstraps nodes.
// Nodes get their rules from the Node authorizer (auth/node), which confines
// each to itself; nothing here widens them. It implements
// authorizer.UnconditionalAuthorizer.
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
	}
	return authorizer.DecisionNoOpinion, "", nil
}
