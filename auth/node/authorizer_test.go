package node

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// fakePods maps namespace/name to the node a pod is bound to.
type fakePods map[string]string

func (f fakePods) PodNodeName(_ context.Context, ns, name string) (string, bool, error) {
	n, ok := f[ns+"/"+name]
	return n, ok, nil
}

// ConfigMapUsed says node "a" uses ConfigMap default/app-config only.
func (f fakePods) ConfigMapUsed(_ context.Context, node, ns, name string) (bool, error) {
	return node == "a" && ns == "default" && name == "app-config", nil
}

// SecretUsed says node "a" uses Secret default/db-pass only.
func (f fakePods) SecretUsed(_ context.Context, node, ns, name string) (bool, error) {
	return node == "a" && ns == "default" && name == "db-pass", nil
}

func TestNodeIdentity(t *testing.T) {
	for _, tc := range []struct {
		u      user.Info
		name   string
		isNode bool
	}{
		{&user.DefaultInfo{Name: "system:node:a", Groups: []string{"system:nodes"}}, "a", true},
		{&user.DefaultInfo{Name: "system:node:a"}, "", false},
		{&user.DefaultInfo{Name: "alice", Groups: []string{"system:nodes"}}, "", true},
		{nil, "", false},
	} {
		name, isNode := NodeIdentity(tc.u)
		if name != tc.name || isNode != tc.isNode {
			t.Errorf("NodeIdentity(%v) = %q, %v; want %q, %v", tc.u, name, isNode, tc.name, tc.isNode)
		}
	}
}

func TestAuthorizer(t *testing.T) {
	az := NewAuthorizer(fakePods{"default/mine": "a", "default/theirs": "b", "default/pending": ""})
	nodeA := &user.DefaultInfo{Name: "system:node:a", Groups: []string{"system:nodes", "system:authenticated"}}
	sel := func(s string) fields.Requirements { return fields.ParseSelectorOrDie(s).Requirements() }
	res := func(verb, resource, sub, ns, name string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: nodeA, Verb: verb, Resource: resource, Subresource: sub,
			Namespace: ns, Name: name, ResourceRequest: true}
	}
	withSel := func(a authorizer.AttributesRecord, s string) authorizer.AttributesRecord {
		a.FieldSelectorRequirements = sel(s)
		return a
	}
	lease := func(verb, ns, name string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: nodeA, Verb: verb, APIGroup: "coordination.k8s.io", Resource: "leases",
			Namespace: ns, Name: name, ResourceRequest: true}
	}
	noRel := "no relationship found between node 'a' and this object"
	for _, tc := range []struct {
		name   string
		attrs  authorizer.AttributesRecord
		allow  bool
		reason string
	}{
		{"get own pod", res("get", "pods", "", "default", "mine"), true, ""},
		{"get other's pod", res("get", "pods", "", "default", "theirs"), false, noRel},
		{"get unbound pod", res("get", "pods", "", "default", "pending"), false, noRel},
		{"get missing pod", res("get", "pods", "", "default", "gone"), false, noRel},
		{"list own pods", withSel(res("list", "pods", "", "", ""), "spec.nodeName=a"), true, ""},
		{"watch own pods ==", withSel(res("watch", "pods", "", "", ""), "spec.nodeName==a"), true, ""},
		{"list all pods", res("list", "pods", "", "", ""), false, "can only list/watch pods with spec.nodeName field selector"},
		{"list other's pods", withSel(res("list", "pods", "", "", ""), "spec.nodeName=b"), false, "spec.nodeName field selector"},
		{"list pods not on a", withSel(res("list", "pods", "", "", ""), "spec.nodeName!=a"), false, "spec.nodeName field selector"},
		{"status of own pod", res("patch", "pods", "status", "default", "mine"), true, ""},
		{"status of other's pod", res("update", "pods", "status", "default", "theirs"), false, noRel},
		{"status of missing pod", res("patch", "pods", "status", "default", "gone"), true, ""},
		{"delete own pod", res("delete", "pods", "", "default", "mine"), true, ""},
		{"delete other's pod", res("delete", "pods", "", "default", "theirs"), false, noRel},
		{"delete unbound pod", res("delete", "pods", "", "default", "pending"), false, noRel},
		{"create pod", res("create", "pods", "", "default", ""), false, `node "a" can only create mirror pods, and orch has no mirror pods`},
		{"update pod spec", res("update", "pods", "", "default", "mine"), false, "may only get, list, watch and delete its own pods"},
		{"pod log", res("get", "pods", "log", "default", "mine"), false, "may only get"},
		{"bind pod", res("create", "pods", "binding", "default", "mine"), false, "may only get"},
		{"read nodes", res("list", "nodes", "", "", ""), true, ""},
		{"get other node", res("get", "nodes", "", "", "b"), true, ""},
		{"register", res("create", "nodes", "", "", ""), true, ""},
		{"patch own node", res("patch", "nodes", "", "", "a"), true, ""},
		{"patch own node status", res("patch", "nodes", "status", "", "a"), true, ""},
		{"patch other node", res("patch", "nodes", "", "", "b"), false, `node "a" is not allowed to modify node "b"`},
		{"update other node status", res("update", "nodes", "status", "", "b"), false, `node "a" is not allowed to modify node "b"`},
		{"delete own node", res("delete", "nodes", "", "", "a"), false, "may only read nodes"},
		{"upload image", res("create", "nodes", "images", "", "a"), false, "may only read nodes"},
		{"watch services", res("watch", "services", "", "", ""), true, ""},
		{"list endpoints", res("list", "endpoints", "", "", ""), true, ""},
		{"get namespace", res("get", "namespaces", "", "", "default"), true, ""},
		{"update service", res("update", "services", "", "default", "s"), false, "may only read"},
		{"read rcs", res("list", "replicationcontrollers", "", "", ""), false, "may only read"},
		{"get a configmap its pod names", res("get", "configmaps", "", "default", "app-config"), true, ""},
		{"get another configmap", res("get", "configmaps", "", "default", "other"), false, noRel},
		{"same name elsewhere", res("get", "configmaps", "", "team", "app-config"), false, noRel},
		{"list configmaps", res("list", "configmaps", "", "default", ""), false, "can only get individual configmaps"},
		{"watch configmaps", res("watch", "configmaps", "", "default", "app-config"), false, "can only get individual configmaps"},
		{"update a configmap its pod names", res("update", "configmaps", "", "default", "app-config"), false, "can only get individual configmaps"},
		{"get a secret its pod names", res("get", "secrets", "", "default", "db-pass"), true, ""},
		{"get another node's secret", res("get", "secrets", "", "default", "other"), false, noRel},
		{"same secret name elsewhere", res("get", "secrets", "", "team", "db-pass"), false, noRel},
		{"get a secret without a name", res("get", "secrets", "", "default", ""), false, "No Object name found"},
		{"list secrets", res("list", "secrets", "", "default", ""), false, "node 'a' can only get individual secrets"},
		{"list secrets everywhere", res("list", "secrets", "", "", ""), false, "can only get individual secrets"},
		{"watch a secret its pod names", res("watch", "secrets", "", "default", "db-pass"), false, "can only get individual secrets"},
		{"update a secret its pod names", res("update", "secrets", "", "default", "db-pass"), false, "can only get individual secrets"},
		{"delete a secret its pod names", res("delete", "secrets", "", "default", "db-pass"), false, "can only get individual secrets"},
		{"create a secret", res("create", "secrets", "", "default", ""), false, "can only get individual secrets"},
		{"a configmap of the secret's name", res("get", "configmaps", "", "default", "db-pass"), false, noRel},
		{"create event", res("create", "events", "", "default", ""), true, ""},
		{"update event", res("update", "events", "", "default", "e"), true, ""},
		{"patch event", res("patch", "events", "", "default", "e"), true, ""},
		{"delete event", res("delete", "events", "", "default", "e"), false, "record events"},
		{"list events", res("list", "events", "", "", ""), false, "record events"},
		{"renews its certificate", authorizer.AttributesRecord{User: nodeA, Verb: "create", APIGroup: "certificates.k8s.io", Resource: "certificatesigningrequests", ResourceRequest: true}, true, ""},
		{"approves a CSR", authorizer.AttributesRecord{User: nodeA, Verb: "update", APIGroup: "certificates.k8s.io", Resource: "certificatesigningrequests", Subresource: "approval", ResourceRequest: true}, false, "core API"},
		{"other group", authorizer.AttributesRecord{User: nodeA, Verb: "list", APIGroup: "apps", Resource: "deployments", ResourceRequest: true}, false, "core API"},
		{"non-resource", authorizer.AttributesRecord{User: nodeA, Verb: "get", Path: "/debug/pprof/"}, false, "core API"},
		{"get own lease", lease("get", NodeLeaseNamespace, "a"), true, ""},
		{"create a lease", lease("create", NodeLeaseNamespace, ""), true, ""},
		{"update own lease", lease("update", NodeLeaseNamespace, "a"), true, ""},
		{"patch own lease", lease("patch", NodeLeaseNamespace, "a"), true, ""},
		{"update other's lease", lease("update", NodeLeaseNamespace, "b"), false, "can only access node lease with the same name as the requesting node"},
		{"get other's lease", lease("get", NodeLeaseNamespace, "b"), false, "same name as the requesting node"},
		{"own name elsewhere", lease("update", "default", "a"), false, `can only access leases in the "kube-node-lease" system namespace`},
		{"list leases", lease("list", NodeLeaseNamespace, ""), false, "can only get, create, update, patch, or delete a node lease"},
		{"watch leases", lease("watch", NodeLeaseNamespace, ""), false, "can only get, create, update, patch, or delete a node lease"},
		{"endpoint slices", authorizer.AttributesRecord{User: nodeA, Verb: "list", APIGroup: "discovery.k8s.io", Resource: "endpointslices", ResourceRequest: true}, false, "core API"},
		{"not a node", authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "alice"}, Verb: "get", Resource: "pods", ResourceRequest: true}, false, ""},
		{"unknown node", authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "bob", Groups: []string{"system:nodes"}}, Verb: "get", Resource: "nodes", ResourceRequest: true}, false, `unknown node for user "bob"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, reason, err := az.Authorize(context.Background(), tc.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if d == authorizer.DecisionDeny {
				t.Fatal("the Node authorizer denied outright; it must leave the others a say")
			}
			if (d == authorizer.DecisionAllow) != tc.allow {
				t.Fatalf("decision %v (%q), want allow %v", d, reason, tc.allow)
			}
			if !strings.Contains(reason, tc.reason) {
				t.Fatalf("reason %q, want it to contain %q", reason, tc.reason)
			}
		})
	}
}
