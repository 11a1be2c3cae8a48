// Package node confines what a node may do through the API to what its
// own agent needs, as Kubernetes' Node authorizer
// (plugin/pkg/auth/authorizer/node) and NodeRestriction admission plugin
// (plugin/pkg/admission/noderestriction) do for kubelets.
//
// A node authenticates as user system:node:<name> in group system:nodes
// (NodeIdentity). The Authorizer decides on the request's attributes and
// on which node each pod is bound to, read at decision time; Admit checks
// what depends on the object written (labels, taints, pod IPs).
package node

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Identities of nodes, as Kubernetes' (k8s.io/apiserver's user package).
const (
	// NodesGroup is the group of every node's user.
	NodesGroup = user.NodesGroup
	// NodeUserPrefix starts every node's user name: system:node:<name>.
	NodeUserPrefix = "system:node:"
)

// NodeIdentity returns the name of the node u is, and whether u is a node
// at all: a user in system:nodes named system:node:<name>, as Kubernetes'
// default node identifier. A user in system:nodes with another name is a
// node whose name is unknown ("", true), and is refused everything.
func NodeIdentity(u user.Info) (string, bool) {
	if u == nil {
		return "", false
	}
	isNode := false
	for _, g := range u.GetGroups() {
		if g == NodesGroup {
			isNode = true
			break
		}
	}
	if !isNode {
		return "", false
	}
	name, ok := strings.CutPrefix(u.GetName(), NodeUserPrefix)
	if !ok {
		return "", true
	}
	return name, true
}

// Pods tells which node a pod is bound to.
type Pods interface {
	// PodNodeName returns the pod's spec.nodeName and whether the pod
	// exists. An implementation reading a possibly stale copy should make
	// sure of a miss (or of a pod bound elsewhere) before answering it.
	PodNodeName(ctx context.Context, namespace, name string) (nodeName string, found bool, err error)
	// ConfigMapUsed reports whether a pod bound to node, in namespace,
	// names the ConfigMap (env, envFrom, volumes). An implementation
	// reading a possibly stale copy should make sure of a "no".
	ConfigMapUsed(ctx context.Context, node, namespace, name string) (bool, error)
	// SecretUsed reports whether a pod bound to node, in namespace, names
	// the Secret (v1.PodSecretNames: imagePullSecrets, env, envFrom,
	// volumes). An implementation reading a possibly stale copy should
	// make sure of a "no".
	SecretUsed(ctx context.Context, node, namespace, name string) (bool, error)
}

// Authorizer is the Node authorizer: for users in system:nodes it allows
// what a node agent needs and nothing else; for every other user it has
// no opinion. Like every authorizer in the chain it never denies outright:
// it answers NoOpinion with a reason, so another authorizer (RBAC) may
// still allow.
type Authorizer struct {
	pods Pods
}

// NewAuthorizer returns the Node authorizer; pods says which node each
// pod is bound to.
func NewAuthorizer(pods Pods) *Authorizer { return &Authorizer{pods: pods} }

var _ authorizer.UnconditionalAuthorizer = (*Authorizer)(nil)

// readOnly are the resources every node may get, list and watch: what its
// service proxy, routes to other nodes' pod CIDRs and DNS server need.
var readOnly = map[string]bool{"nodes": true, "services": true, "endpoints": true, "namespaces": true}

// Authorize decides a request of a node.
func (az *Authorizer) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	self, isNode := NodeIdentity(a.GetUser())
	if !isNode {
		return authorizer.DecisionNoOpinion, "", nil
	}
	if self == "" {
		return authorizer.DecisionNoOpinion, fmt.Sprintf("unknown node for user %q", a.GetUser().GetName()), nil
	}
	if a.IsResourceRequest() && a.GetAPIGroup() == "certificates.k8s.io" && a.GetResource() == "certificatesigningrequests" &&
		a.GetSubresource() == "" && (a.GetVerb() == "create" || isRead(a.GetVerb())) {
		// Renewal of its own client certificate, as Kubernetes' system:node
		// rules: the approver signs only a request for the node's own name.
		return authorizer.DecisionAllow, "", nil
	}
	if a.IsResourceRequest() && a.GetAPIGroup() == "coordination.k8s.io" && a.GetResource() == "leases" && a.GetSubresource() == "" {
		return authorizeLease(self, a)
	}
	if !a.IsResourceRequest() || a.GetAPIGroup() != "" {
		return authorizer.DecisionNoOpinion, fmt.Sprintf("node '%s' may only use the core API", self), nil
	}
	switch a.GetResource() {
	case "pods":
		return az.authorizePod(ctx, self, a)
	case "serviceaccounts":
		if a.GetSubresource() == "token" && a.GetVerb() == "create" {
			// The token volumes of its pods; the TokenRequest handler
			// admits only tokens bound to a pod bound to this node.
			return authorizer.DecisionAllow, "", nil
		}
	case "nodes":
		return authorizeNode(self, a)
	case "configmaps":
		return az.authorizeGraph(ctx, self, a, az.pods.ConfigMapUsed)
	case "secrets":
		return az.authorizeGraph(ctx, self, a, az.pods.SecretUsed)
	case "events":
		// As Kubernetes' system:node role: a node records events
		// (create) and aggregates them (update, patch). Admit confines
		// them to its own Node and the pods bound to it.
		if a.GetSubresource() == "" && (a.GetVerb() == "create" || a.GetVerb() == "update" || a.GetVerb() == "patch") {
			return authorizer.DecisionAllow, "", nil
		}
	}
	if readOnly[a.GetResource()] && a.GetSubresource() == "" && isRead(a.GetVerb()) {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, fmt.Sprintf("node '%s' may only read nodes, services, endpoints and namespaces, and its own pods, and record events", self), nil
}

// NodeLeaseNamespace is the namespace of the nodes' heartbeat leases.
const NodeLeaseNamespace = "kube-node-lease"

// authorizeLease is Kubernetes' rule for a node's leases: get, create,
// update, patch and delete of the lease named after the node in
// kube-node-lease (a create carries no name in the attributes: Admit
// checks it).
func authorizeLease(self string, a authorizer.Attributes) (authorizer.Decision, string, error) {
	switch a.GetVerb() {
	case "get", "create", "update", "patch", "delete":
	default:
		return authorizer.DecisionNoOpinion, "can only get, create, update, patch, or delete a node lease", nil
	}
	if a.GetNamespace() != NodeLeaseNamespace {
		return authorizer.DecisionNoOpinion, fmt.Sprintf("can only access leases in the %q system namespace", NodeLeaseNamespace), nil
	}
	if a.GetVerb() != "create" && a.GetName() != self {
		return authorizer.DecisionNoOpinion, "can only access node lease with the same name as the requesting node", nil
	}
	return authorizer.DecisionAllow, "", nil
}

func isRead(verb string) bool { return verb == "get" || verb == "list" || verb == "watch" }

// authorizeNode: every node may read every Node (its routes to the other
// nodes' pod CIDRs need them); it may create, update and patch only its
// own Node and its status. (A create carries no name in the attributes:
// Admit checks it.)
func authorizeNode(self string, a authorizer.Attributes) (authorizer.Decision, string, error) {
	verb, sub, name := a.GetVerb(), a.GetSubresource(), a.GetName()
	switch {
	case sub == "" && isRead(verb):
		return authorizer.DecisionAllow, "", nil
	case sub == "" && verb == "create":
		return authorizer.DecisionAllow, "", nil
	case (sub == "" || sub == "status") && (verb == "update" || verb == "patch" || (sub == "status" && verb == "get")):
		if name == self {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, fmt.Sprintf("node %q is not allowed to modify node %q", self, name), nil
	}
	return authorizer.DecisionNoOpinion, fmt.Sprintf("node '%s' may only read nodes and create, update and patch its own Node and its status", self), nil
}

// authorizePod: a node may get, delete and update the status of the pods
// bound to it, and list and watch pods only with the field selector
// spec.nodeName=<itself>. Deleting or updating the status of a pod that
// does not exist is allowed, so the caller gets 404 as without this
// authorizer; the API pins the write to the pod's UID, so a pod created
// meanwhile under that name is not touched. A node may create only mirror
// pods, which Admit refuses (orch has none).
func (az *Authorizer) authorizePod(ctx context.Context, self string, a authorizer.Attributes) (authorizer.Decision, string, error) {
	verb, sub := a.GetVerb(), a.GetSubresource()
	switch {
	case sub == "" && verb == "get":
		return az.bound(ctx, self, a, false)
	case sub == "" && (verb == "list" || verb == "watch"):
		reqs, _ := a.GetFieldSelector()
		for _, r := range reqs {
			if r.Field == "spec.nodeName" && (r.Operator == selection.Equals || r.Operator == selection.DoubleEquals) && r.Value == self {
				return authorizer.DecisionAllow, "", nil
			}
		}
		return authorizer.DecisionNoOpinion, "can only list/watch pods with spec.nodeName field selector", nil
	case sub == "" && verb == "create":
		// Kubernetes allows it for mirror pods (NodeRestriction checks
		// them); orch has none, so a node's create is refused before its
		// body is even read. Admit refuses it too.
		return authorizer.DecisionNoOpinion, fmt.Sprintf("node %q can only create mirror pods, and orch has no mirror pods", self), nil
	case sub == "" && verb == "delete", sub == "status" && (verb == "update" || verb == "patch"):
		return az.bound(ctx, self, a, true)
	}
	return authorizer.DecisionNoOpinion, fmt.Sprintf("node '%s' may only get, list, watch and delete its own pods and update their status", self), nil
}

// authorizeGraph is the Node authorizer's graph rule for ConfigMaps and
// Secrets: a node may get one that a pod bound to it names (used says
// whether one does), and nothing else: no list or watch, which would
// show it the objects of other nodes' pods, and no write.
func (az *Authorizer) authorizeGraph(ctx context.Context, self string, a authorizer.Attributes,
	used func(ctx context.Context, node, namespace, name string) (bool, error)) (authorizer.Decision, string, error) {
	if a.GetVerb() != "get" || a.GetSubresource() != "" {
		return authorizer.DecisionNoOpinion, fmt.Sprintf("node '%s' can only get individual %s", self, a.GetResource()), nil
	}
	if a.GetName() == "" {
		return authorizer.DecisionNoOpinion, "No Object name found", nil
	}
	ok, err := used(ctx, self, a.GetNamespace(), a.GetName())
	if err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	if !ok {
		return authorizer.DecisionNoOpinion, fmt.Sprintf("no relationship found between node '%s' and this object", self), nil
	}
	return authorizer.DecisionAllow, "", nil
}

// bound allows a request on a pod bound to self; missingOK also allows it
// when the pod does not exist.
func (az *Authorizer) bound(ctx context.Context, self string, a authorizer.Attributes, missingOK bool) (authorizer.Decision, string, error) {
	noRelationship := fmt.Sprintf("no relationship found between node '%s' and this object", self)
	if a.GetName() == "" {
		return authorizer.DecisionNoOpinion, "No Object name found", nil
	}
	nodeName, found, err := az.pods.PodNodeName(ctx, a.GetNamespace(), a.GetName())
	switch {
	case err != nil:
		return authorizer.DecisionNoOpinion, noRelationship, fmt.Errorf("node authorizer: look up pod %s/%s: %w", a.GetNamespace(), a.GetName(), err)
	case !found && missingOK:
		return authorizer.DecisionAllow, "", nil
	case found && nodeName == self:
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, noRelationship, nil
}
