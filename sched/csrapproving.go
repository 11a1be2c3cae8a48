package sched

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// bootstrappersGroup is the group of bootstrap tokens' users.
const bootstrappersGroup = "system:bootstrappers"

// CSRApprovingConfig configures the CSR approver.
type CSRApprovingConfig struct {
	Store    func() *fsm.Store
	Proposer Proposer
	Now      func() time.Time
	Logger   *slog.Logger
}

// CSRApprover approves, while this master leads, the node client
// certificate requests Kubernetes' csrapproving controller approves, and
// nothing else:
//
//   - a new node's: a kubelet-client request from system:bootstrappers
//     for system:node:<name>, when no Node of that name exists, or when an
//     earlier approved request for that name came from the same bootstrap
//     identity (a node that bootstrapped and registered but lost its key);
//   - a renewal: a kubelet-client request from system:node:<name> in
//     system:nodes for its own name.
//
// Every other request waits for `orchctl certificate approve|deny`. The
// request must also be one the signer would sign (validation refuses the
// others at create).
type CSRApprover struct {
	cfg CSRApprovingConfig
}

// NewCSRApprover returns an approver; Run starts it.
func NewCSRApprover(cfg CSRApprovingConfig) *CSRApprover {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "csrapproving")
	return &CSRApprover{cfg: cfg}
}

// Run approves until ctx ends.
func (a *CSRApprover) Run(ctx context.Context) {
	runOnChanges(ctx, a.cfg.Store, follows{"certificatesigningrequests"}, csrResync, a.cfg.Logger, func(ctx context.Context, s *fsm.Store, ch changes) error {
		if !ch.full && !slices.ContainsFunc(ch.events, func(e fsm.Event) bool { return e.Resource == "certificatesigningrequests" && e.Type == v1.Added }) {
			return nil
		}
		return a.Pass(ctx, s)
	})
}

// Pass approves the pending requests of store that the rules allow.
func (a *CSRApprover) Pass(ctx context.Context, store *fsm.Store) error {
	res, err := store.List("certificatesigningrequests", fsm.ListOptions{})
	if err != nil {
		return err
	}
	all := make([]*v1.CertificateSigningRequest, 0, len(res.Items))
	for _, r := range res.Items {
		all = append(all, r.Object().(*v1.CertificateSigningRequest))
	}
	now := v1.NewTime(a.cfg.Now())
	var items []fsm.BatchItem
	var names []string
	for _, csr := range all {
		msg, ok := AutoApproval(csr, all, func(name string) bool {
			_, err := store.Get("nodes", "", name)
			return err == nil
		})
		if !ok {
			continue
		}
		next := v1.DeepCopy(csr)
		next.Status.Conditions = append(next.Status.Conditions, v1.CertificateSigningRequestCondition{Type: v1.CertificateApproved,
			Status: v1.ConditionTrue, Reason: "AutoApproved", Message: msg, LastUpdateTime: now, LastTransitionTime: now})
		cmd, err := fsm.NewUpdate(next, true)
		if err != nil {
			return err
		}
		items = append(items, batchItem(cmd))
		names = append(names, csr.Name)
	}
	return proposeCSRUpdates(ctx, a.cfg.Proposer, a.cfg.Logger, items, names, "auto-approved node client certificate requests")
}

// AutoApproval decides one pending request: the approval message and true
// when the rules approve it. others are all known requests; nodeExists
// says whether a Node of a name is registered.
func AutoApproval(csr *v1.CertificateSigningRequest, others []*v1.CertificateSigningRequest, nodeExists func(string) bool) (string, bool) {
	if csr.HasCondition(v1.CertificateApproved) || csr.HasCondition(v1.CertificateDenied) ||
		csr.Spec.SignerName != v1.KubeAPIServerClientKubeletSignerName {
		return "", false
	}
	req, err := v1.ParseCSR(csr.Spec.Request)
	if err != nil || req.CheckSignature() != nil || v1.SignerRefusal(csr.Spec.SignerName, req, csr.Spec.Usages) != "" {
		return "", false
	}
	cn := req.Subject.CommonName
	node := strings.TrimPrefix(cn, v1.NodeUserPrefix)
	switch {
	case csr.Spec.Username == cn && slices.Contains(csr.Spec.Groups, v1.NodesGroup):
		return "Auto approving self kubelet client certificate after SubjectAccessReview.", true
	case slices.Contains(csr.Spec.Groups, bootstrappersGroup):
		if !nodeExists(node) || approvedBefore(csr, others, cn) {
			return "Auto approving kubelet client certificate after SubjectAccessReview.", true
		}
	}
	return "", false
}

// approvedBefore reports whether another approved request for common name
// cn came from csr's requester.
func approvedBefore(csr *v1.CertificateSigningRequest, others []*v1.CertificateSigningRequest, cn string) bool {
	for _, o := range others {
		if o.Name == csr.Name || o.Spec.Username != csr.Spec.Username || !o.HasCondition(v1.CertificateApproved) {
			continue
		}
		if req, err := v1.ParseCSR(o.Spec.Request); err == nil && req.Subject.CommonName == cn {
			return true
		}
	}
	return false
}
