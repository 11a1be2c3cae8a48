package bootstrap

import (
	"context"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

func TestInterimAuthorizer(t *testing.T) {
	boot := &user.DefaultInfo{Name: "system:bootstrap:abcdef", Groups: []string{Group, user.AllAuthenticated}}
	node := &user.DefaultInfo{Name: "system:node:n1", Groups: []string{"system:nodes", user.AllAuthenticated}}
	alice := &user.DefaultInfo{Name: "alice", Groups: []string{user.AllAuthenticated}}
	csr := func(u user.Info, verb, sub string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: "certificates.k8s.io", Resource: "certificatesigningrequests",
			Subresource: sub, ResourceRequest: true}
	}
	core := func(u user.Info, verb, res, sub string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: u, Verb: verb, Resource: res, Subresource: sub, ResourceRequest: true}
	}
	for _, tc := range []struct {
		name string
		a    authorizer.AttributesRecord
		want authorizer.Decision
	}{
		{"bootstrapper creates a CSR", csr(boot, "create", ""), authorizer.DecisionAllow},
		{"bootstrapper watches CSRs", csr(boot, "watch", ""), authorizer.DecisionAllow},
		{"bootstrapper approves", csr(boot, "update", "approval"), authorizer.DecisionNoOpinion},
		{"bootstrapper deletes a CSR", csr(boot, "delete", ""), authorizer.DecisionNoOpinion},
		{"bootstrapper lists nodes", core(boot, "list", "nodes", ""), authorizer.DecisionNoOpinion},
		{"bootstrapper registers a node", core(boot, "create", "nodes", ""), authorizer.DecisionNoOpinion},
		{"node renews (the Node authorizer decides)", csr(node, "create", ""), authorizer.DecisionNoOpinion},
		{"node approves", csr(node, "update", "approval"), authorizer.DecisionNoOpinion},
		{"node updates pod status (the Node authorizer decides)", core(node, "update", "pods", "status"), authorizer.DecisionNoOpinion},
		{"node creates a pod", core(node, "create", "pods", ""), authorizer.DecisionNoOpinion},
		{"user creates a CSR", csr(alice, "create", ""), authorizer.DecisionNoOpinion},
		{"non-resource", authorizer.AttributesRecord{User: boot, Verb: "get", Path: "/metrics"}, authorizer.DecisionNoOpinion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d, _, _ := (InterimAuthorizer{}).Authorize(context.Background(), tc.a); d != tc.want {
				t.Fatalf("decision %v, want %v", d, tc.want)
			}
		})
	}
}
