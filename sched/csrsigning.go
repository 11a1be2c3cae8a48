package sched

import (
	"context"
	"crypto"
	"log/slog"
	"slices"
	"sync"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
	"orch.io/orch/pki"
)

// DefaultClusterSigningDuration is the longest lifetime the signer gives a
// certificate (Kubernetes' --cluster-signing-duration: one year).
const DefaultClusterSigningDuration = 365 * 24 * time.Hour

// csrResync is the longest pause between two passes of the CSR loops.
const csrResync = time.Minute

// Signer issues a client certificate; pki.CA implements it through
// CASigner.
type Signer interface {
	// SignClient returns the PEM certificate (and any intermediate) for pub.
	SignClient(pub crypto.PublicKey, spec pki.ClientCertificate, now time.Time) ([]byte, error)
}

// CASigner signs with a CA; Chain, when not nil, is appended to every
// certificate (the intermediate signer's own certificate, so clients can
// present the whole chain).
type CASigner struct {
	CA    *pki.CA
	Chain []byte
}

// SignClient implements Signer.
func (s CASigner) SignClient(pub crypto.PublicKey, spec pki.ClientCertificate, now time.Time) ([]byte, error) {
	out, err := s.CA.SignClient(pub, spec, now)
	if err != nil {
		return nil, err
	}
	return append(out, s.Chain...), nil
}

// CSRSigningConfig configures the CSR signer.
type CSRSigningConfig struct {
	// Store returns the current store.
	Store func() *fsm.Store
	// Proposer commits the certificates.
	Proposer Proposer
	// Signer signs; nil means this master cannot sign (it has no CA key)
	// and Run only says so once.
	Signer Signer
	// Duration caps every certificate's lifetime (default
	// DefaultClusterSigningDuration); a CSR's expirationSeconds may ask for less.
	Duration time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// CSRSigner signs, while this master leads, the approved
// CertificateSigningRequests of the signers orch runs
// (kubernetes.io/kube-apiserver-client and
// kubernetes.io/kube-apiserver-client-kubelet), as Kubernetes'
// csrsigning controller. The certificate is made here, before the status
// update is proposed: the FSM only stores it. A request the signer refuses
// gets the condition Failed (reason SignerValidationFailure).
type CSRSigner struct {
	cfg CSRSigningConfig
	// noKey logs once that this master cannot sign.
	noKey sync.Once
}

// NewCSRSigner returns a signer; Run starts it.
func NewCSRSigner(cfg CSRSigningConfig) *CSRSigner {
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultClusterSigningDuration
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "csrsigning")
	return &CSRSigner{cfg: cfg}
}

// Run signs until ctx ends.
func (g *CSRSigner) Run(ctx context.Context) {
	if g.cfg.Signer == nil {
		g.noKey.Do(func() {
			g.cfg.Logger.Warn("this master has no CA key (ca.key or signer.key in the pki directory): it does not sign certificate signing requests")
		})
		return
	}
	runOnChanges(ctx, g.cfg.Store, follows{"certificatesigningrequests"}, csrResync, g.cfg.Logger, func(ctx context.Context, s *fsm.Store, ch changes) error {
		if !ch.full && !slices.ContainsFunc(ch.events, func(e fsm.Event) bool { return e.Resource == "certificatesigningrequests" && e.Type != v1.Deleted }) {
			return nil
		}
		return g.Pass(ctx, s)
	})
}

// signedBy are the signers this controller runs.
var signedBy = []string{v1.KubeAPIServerClientSignerName, v1.KubeAPIServerClientKubeletSignerName}

// Pass signs every approved, unsigned request of store in one batch.
func (g *CSRSigner) Pass(ctx context.Context, store *fsm.Store) error {
	res, err := store.List("certificatesigningrequests", fsm.ListOptions{})
	if err != nil {
		return err
	}
	now := g.cfg.Now()
	var items []fsm.BatchItem
	var names []string
	for _, r := range res.Items {
		csr := r.Object().(*v1.CertificateSigningRequest)
		if !csr.HasCondition(v1.CertificateApproved) || csr.HasCondition(v1.CertificateFailed) ||
			len(csr.Status.Certificate) > 0 || !slices.Contains(signedBy, csr.Spec.SignerName) {
			continue
		}
		next := v1.DeepCopy(csr)
		if cert, why := g.sign(csr, now); why != "" {
			t := v1.NewTime(now)
			next.Status.Conditions = append(next.Status.Conditions, v1.CertificateSigningRequestCondition{Type: v1.CertificateFailed,
				Status: v1.ConditionTrue, Reason: "SignerValidationFailure", Message: why, LastUpdateTime: t, LastTransitionTime: t})
			g.cfg.Logger.Warn("refused to sign", "csr", csr.Name, "reason", why)
		} else {
			next.Status.Certificate = cert
		}
		cmd, err := fsm.NewUpdate(next, true)
		if err != nil {
			return err
		}
		items = append(items, batchItem(cmd))
		names = append(names, csr.Name)
	}
	return proposeCSRUpdates(ctx, g.cfg.Proposer, g.cfg.Logger, items, names, "signed certificate signing requests")
}

// sign returns the certificate for csr, or why it is refused.
func (g *CSRSigner) sign(csr *v1.CertificateSigningRequest, now time.Time) ([]byte, string) {
	req, err := v1.ParseCSR(csr.Spec.Request)
	if err == nil {
		err = req.CheckSignature()
	}
	if err != nil {
		return nil, "unable to parse csr: " + err.Error()
	}
	if why := v1.SignerRefusal(csr.Spec.SignerName, req, csr.Spec.Usages); why != "" {
		return nil, why
	}
	cert, err := g.cfg.Signer.SignClient(req.PublicKey, pki.ClientCertificate{CommonName: req.Subject.CommonName,
		Organizations: req.Subject.Organization, Validity: SigningDuration(csr, g.cfg.Duration)}, now)
	if err != nil {
		return nil, err.Error()
	}
	return cert, ""
}

// SigningDuration is min(the CSR's expirationSeconds, max), as Kubernetes'
// signer.
func SigningDuration(csr *v1.CertificateSigningRequest, max time.Duration) time.Duration {
	if e := csr.Spec.ExpirationSeconds; e != nil {
		if d := time.Duration(*e) * time.Second; d < max {
			return d
		}
	}
	return max
}
