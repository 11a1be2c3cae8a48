package apiserver

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"k8s.io/apiserver/pkg/authorization/authorizer"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// csrResource is the resource of certificate signing requests; subApproval
// their approval subresource.
const (
	csrResource = "certificatesigningrequests"
	subApproval = "approval"
)

// fillRequester sets, on a new CertificateSigningRequest, the requester's
// identity (never the body's) and clears its status, as Kubernetes'
// strategy PrepareForCreate.
func fillRequester(ctx context.Context, obj v1.Object) {
	csr, ok := obj.(*v1.CertificateSigningRequest)
	if !ok {
		return
	}
	csr.Status = v1.CertificateSigningRequestStatus{}
	csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups, csr.Spec.Extra = "", "", nil, nil
	u := UserFrom(ctx)
	if u == nil {
		return
	}
	csr.Spec.Username, csr.Spec.UID = u.GetName(), u.GetUID()
	csr.Spec.Groups = append([]string(nil), u.GetGroups()...)
	if ex := u.GetExtra(); len(ex) > 0 {
		csr.Spec.Extra = make(map[string][]string, len(ex))
		for k, v := range ex {
			csr.Spec.Extra[k] = append([]string(nil), v...)
		}
	}
}

// keepCSR gives an update of a CSR object the stored spec and status, as
// Kubernetes' strategy PrepareForUpdate: only its metadata may change (the
// FSM enforces the same).
func keepCSR(csr *v1.CertificateSigningRequest, old *fsm.Record) {
	prev := old.Object().(*v1.CertificateSigningRequest)
	csr.Spec, csr.Status = prev.Spec, prev.Status
}

// updateCSRStatus changes a CSR through its approval subresource (the
// conditions; the caller must also be allowed to "approve" for the
// signer) or its status subresource (the certificate and the other
// conditions; "sign" for the signer when it sets the certificate), as
// Kubernetes' approval and status strategies. The write is conditional on
// the resourceVersion it was checked against.
func (s *Server) updateCSRStatus(ctx context.Context, req *request, in *v1.CertificateSigningRequest, old *fsm.Record) (*fsm.Record, error) {
	prev := old.Object().(*v1.CertificateSigningRequest)
	next := v1.DeepCopy(prev)
	now := v1.NewTime(time.Now())
	var err error
	switch req.sub {
	case subApproval:
		if err := s.authorizeSigner(ctx, "approve", prev); err != nil {
			return nil, err
		}
		next.Status.Conditions = stampConditions(in.Status.Conditions, prev.Status.Conditions, now)
		err = v1.ValidateCSRApprovalUpdate(next, prev)
	case "status":
		if !bytes.Equal(in.Status.Certificate, prev.Status.Certificate) {
			if err := s.authorizeSigner(ctx, "sign", prev); err != nil {
				return nil, err
			}
		}
		next.Status.Certificate = in.Status.Certificate
		// The approval conditions are the approval subresource's.
		var conds []v1.CertificateSigningRequestCondition
		for _, c := range prev.Status.Conditions {
			if c.Type == v1.CertificateApproved || c.Type == v1.CertificateDenied {
				conds = append(conds, c)
			}
		}
		for _, c := range in.Status.Conditions {
			if c.Type != v1.CertificateApproved && c.Type != v1.CertificateDenied {
				conds = append(conds, c)
			}
		}
		next.Status.Conditions = stampConditions(conds, prev.Status.Conditions, now)
		err = v1.ValidateCSRStatusUpdate(next, prev)
	default:
		return nil, v1.NewNotFound(csrResource+"/"+req.sub, req.name)
	}
	if err != nil {
		return nil, err
	}
	next.ResourceVersion = prev.ResourceVersion
	cmd, err := fsm.NewUpdate(next, true)
	if err != nil {
		return nil, err
	}
	return s.apply(ctx, cmd)
}

// authorizeSigner asks whether the user may verb ("approve", "sign") the
// CSR's signer, as Kubernetes' certificate admission plugins: the
// resource "signers" in certificates.k8s.io, named by the signer.
func (s *Server) authorizeSigner(ctx context.Context, verb string, csr *v1.CertificateSigningRequest) error {
	a := authorizer.AttributesRecord{User: UserFrom(ctx), Verb: verb, APIGroup: v1.CertificatesGroup,
		APIVersion: "v1", Resource: "signers", Name: csr.Spec.SignerName, ResourceRequest: true}
	if d, _, _ := s.authz.Authorize(ctx, a); d == authorizer.DecisionAllow {
		return nil
	}
	return v1.NewForbidden(fmt.Sprintf("certificatesigningrequests.certificates.k8s.io %q is forbidden: user not permitted to %s requests with signerName %q",
		csr.Name, verb, csr.Spec.SignerName))
}

// stampConditions returns conds with the times Kubernetes fills: a missing
// lastUpdateTime is now; a missing lastTransitionTime is the previous
// condition's when the status is unchanged, else now.
func stampConditions(conds, prev []v1.CertificateSigningRequestCondition, now v1.Time) []v1.CertificateSigningRequestCondition {
	out := make([]v1.CertificateSigningRequestCondition, len(conds))
	copy(out, conds)
	for i := range out {
		c := &out[i]
		if c.LastUpdateTime.IsZero() {
			c.LastUpdateTime = now
		}
		if !c.LastTransitionTime.IsZero() {
			continue
		}
		c.LastTransitionTime = now
		for _, p := range prev {
			if p.Type == c.Type && p.Status == c.Status && !p.LastTransitionTime.IsZero() {
				c.LastTransitionTime = p.LastTransitionTime
			}
		}
	}
	return out
}
