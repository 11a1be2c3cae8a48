// Package podsecurity is orch's Pod Security admission: the Kubernetes Pod
// Security Standards (levels privileged, baseline and restricted) chosen per
// namespace with the labels pod-security.kubernetes.io/enforce, warn and
// audit (and their -version labels), with cluster defaults for namespaces
// that set none.
//
// The standards are not implemented a second time here: the checks, their
// versions and their wording are Kubernetes' own library
// (k8s.io/pod-security-admission), and so are its semantics, because the
// library's admission.Admission decides each request:
//   - pods are checked at the enforce level (403 Forbidden on a violation),
//     and at the warn and audit levels;
//   - pod templates (replication controllers) are only warned about and
//     audited, never refused, as their pods are checked when created;
//   - an update of a pod is checked only when it changes an image;
//     subresources (status, binding, scale, ...) are not checked;
//   - a namespace whose labels name no valid level or version is refused
//     (422 Invalid); a namespace update that tightens the enforce level warns
//     about the existing pods that would violate it;
//   - exempt namespaces (by default kube-system, where cluster add-ons run)
//     are not checked.
//
// orch's objects share core/v1's JSON, so they are converted to k8s.io/api
// types at this edge by a JSON round trip (a pod's metadata field by field,
// its spec remembered by its JSON); fields orch lacks are absent.
//
// orch has no audit log yet: an audit-level violation is logged to the
// master's structured log (message "pod security audit violation").
package podsecurity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/klog/v2"
	"k8s.io/pod-security-admission/admission"
	admissionapi "k8s.io/pod-security-admission/admission/api"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	v1 "orch.io/orch/api/v1"
)

// Levels of the Pod Security Standards.
const (
	LevelPrivileged = string(psapi.LevelPrivileged)
	LevelBaseline   = string(psapi.LevelBaseline)
	LevelRestricted = string(psapi.LevelRestricted)
)

// SystemNamespace is the namespace of cluster add-ons, exempt by default.
const SystemNamespace = "kube-system"

// Config is the cluster's Pod Security policy for namespaces that do not
// label their own, as Kubernetes' PodSecurityConfiguration. Each mode is a
// level, optionally with a version: "baseline", "restricted:v1.30",
// "baseline:latest".
type Config struct {
	// Enforce is the level whose violations refuse a pod.
	Enforce string
	// Warn is the level whose violations are returned as warnings.
	Warn string
	// Audit is the level whose violations are logged.
	Audit string
	// ExemptNamespaces are not checked at all; nil means the default
	// (kube-system), an empty list none.
	ExemptNamespaces []string
}

// DefaultConfig is orch's default: baseline enforced (stricter than
// Kubernetes' privileged default, so a pod cannot take its node unless its
// namespace says so), warned about and audited; kube-system exempt.
func DefaultConfig() Config {
	return Config{
		Enforce:          LevelBaseline + ":" + psapi.VersionLatest,
		Warn:             LevelBaseline + ":" + psapi.VersionLatest,
		Audit:            LevelBaseline + ":" + psapi.VersionLatest,
		ExemptNamespaces: []string{SystemNamespace},
	}
}

// ParseLevelVersion splits "level[:version]" and checks both, as the
// namespace labels are checked; the version defaults to latest.
func ParseLevelVersion(s string) (level, version string, err error) {
	level, version, _ = strings.Cut(s, ":")
	if version == "" {
		version = psapi.VersionLatest
	}
	if _, err := psapi.ParseLevel(level); err != nil {
		return "", "", fmt.Errorf("pod security level %q: %w", s, err)
	}
	if _, err := psapi.ParseVersion(version); err != nil {
		return "", "", fmt.Errorf("pod security version %q: %w", s, err)
	}
	return level, version, nil
}

// Store is what the admission reads: the namespace of a request and, when a
// namespace's enforce level is tightened, its pods.
type Store interface {
	// Namespace returns the named namespace, or an error that
	// v1.IsNotFound recognises.
	Namespace(ctx context.Context, name string) (*v1.Namespace, error)
	// Pods returns the pods of a namespace.
	Pods(ctx context.Context, namespace string) ([]*v1.Pod, error)
}

// Admission checks writes of pods, pod templates and namespaces against the
// Pod Security Standards.
type Admission struct {
	psa       *admission.Admission
	store     Store
	pods      *podSpecs
	decisions *decisions // nil: every pod is evaluated
	metrics   *recorder  // the library's Metrics
	log       *slog.Logger
}

// New builds the admission from cfg; reg (optional) receives Kubernetes'
// pod_security_* metrics.
func New(cfg Config, store Store, log *slog.Logger, reg prometheus.Registerer) (*Admission, error) {
	d := DefaultConfig()
	if cfg.Enforce == "" {
		cfg.Enforce = d.Enforce
	}
	if cfg.Warn == "" {
		cfg.Warn = d.Warn
	}
	if cfg.Audit == "" {
		cfg.Audit = d.Audit
	}
	if cfg.ExemptNamespaces == nil {
		cfg.ExemptNamespaces = d.ExemptNamespaces
	}
	var defaults admissionapi.PodSecurityDefaults
	var err error
	if defaults.Enforce, defaults.EnforceVersion, err = ParseLevelVersion(cfg.Enforce); err != nil {
		return nil, fmt.Errorf("pod security enforce: %w", err)
	}
	if defaults.Warn, defaults.WarnVersion, err = ParseLevelVersion(cfg.Warn); err != nil {
		return nil, fmt.Errorf("pod security warn: %w", err)
	}
	if defaults.Audit, defaults.AuditVersion, err = ParseLevelVersion(cfg.Audit); err != nil {
		return nil, fmt.Errorf("pod security audit: %w", err)
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("pod security checks: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Admission{store: store, pods: newPodSpecs(), decisions: newDecisions(), log: log.With("subsystem", "podsecurity")}
	a.metrics = newMetrics(reg)
	a.psa = &admission.Admission{
		Configuration: &admissionapi.PodSecurityConfiguration{
			Defaults:   defaults,
			Exemptions: admissionapi.PodSecurityExemptions{Namespaces: cfg.ExemptNamespaces},
		},
		Evaluator:       evaluator,
		Metrics:         a.metrics,
		NamespaceGetter: namespaceGetter{store},
		PodLister:       podLister{store, a.pods},
	}
	if err := a.psa.CompleteConfiguration(); err != nil {
		return nil, fmt.Errorf("pod security configuration: %w", err)
	}
	if err := a.psa.ValidateConfiguration(); err != nil {
		return nil, fmt.Errorf("pod security configuration: %w", err)
	}
	return a, nil
}

// Operation is the kind of write being admitted.
type Operation string

// Operations.
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
)

// Request is one write to admit. Object is the object as it will be stored
// (defaulted and validated); OldObject is the stored one, for an update.
type Request struct {
	Operation   Operation
	Resource    string // "pods", "namespaces" or a resource with a pod template
	Subresource string
	Namespace   string
	Name        string
	Object      v1.Object
	OldObject   v1.Object
}

// checkedResource reports whether the library checks r's objects: pods,
// the kinds that hold a pod template, and namespaces.
func checkedResource(r v1.Resource) bool {
	return r.Group == "" && (r.Name == "pods" || r.Name == "namespaces") || r.HasPodTemplate()
}

// ignoredPodSubresources are the library's: subresources that cannot
// change a pod's spec. Any other pod subresource is checked.
var ignoredPodSubresources = map[string]bool{"exec": true, "attach": true, "binding": true, "eviction": true,
	"log": true, "portforward": true, "proxy": true, "status": true}

// Admit decides req: a refusal is a Kubernetes Status error (403 Forbidden
// for a pod that violates its namespace's enforce level, 422 Invalid for a
// namespace with bad labels); warnings are for the Warning header.
func (a *Admission) Admit(ctx context.Context, req Request) (warnings []string, err error) {
	if _, ok := resourceNamed(req.Resource); !ok || (req.Subresource != "" && (req.Resource != "pods" || ignoredPodSubresources[req.Subresource])) {
		// What the library would answer at once, without the namespace
		// read (nodes update pod status often).
		return nil, nil
	}
	if req.Resource == "pods" && req.Operation == Update && req.Subresource == "" && !imagesChanged(req.Object, req.OldObject) {
		// The library's rule (isSignificantPodUpdate), checked before it
		// converts both pods: an update that changes no image is allowed.
		return nil, nil
	}
	if req.Resource == "namespaces" {
		// A namespace's requests are in the namespace itself, as
		// Kubernetes' request info has them (exemptions depend on it).
		req.Namespace = req.Name
	}
	var ns *v1.Namespace // the request's namespace, read for a namespaced object
	if req.Resource != "namespaces" {
		// As Kubernetes' NamespaceLifecycle admission runs first, a write
		// into a namespace that does not exist gets its 404, not a Pod
		// Security answer. It is refused here, not left to the FSM: a
		// namespace created between this read and the FSM's apply would
		// otherwise hold a pod no level was checked against.
		if ns, err = a.store.Namespace(ctx, req.Namespace); err != nil {
			return nil, err
		}
	}
	var spec, key []byte // a pod create's spec JSON and decision key
	remember := false
	if p, ok := req.Object.(*v1.Pod); ok && ns != nil && req.Resource == "pods" && req.Operation == Create && req.Subresource == "" {
		if a.decisions != nil {
			// The spec and the key are written into buffers reused
			// from one create to the next: nothing keeps them past
			// this call (the spec cache and the decisions copy what
			// they keep).
			bufs := a.decisions.getBuffers()
			defer a.decisions.putBuffers(bufs)
			bufs.spec, err = appendSpecJSON(bufs.spec[:0], p)
			spec = bufs.spec
			if err == nil {
				bufs.key, remember = appendDecisionKey(bufs.key[:0], ns, p, spec)
				key = bufs.key
			}
		} else {
			spec, err = specJSON(p)
		}
		if err != nil {
			return nil, v1.NewInternalError(err)
		}
		if remember {
			if d, ok := a.decisions.get(key); ok {
				d.counter.Inc() // the library's metric for the decision (RecordEvaluation)
				return nil, nil
			}
		}
	}
	if req.Resource != "namespaces" {
		// The library reads the namespace again for its labels: it gets
		// the one read above, a moment ago, rather than a second store
		// read. (A remembered decision returned before: it needs no
		// context.)
		ctx = context.WithValue(ctx, readNamespaceKey{}, ns)
	}
	attrs := newAttributes(req, a.pods)
	attrs.spec = spec
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(a.log.Handler()))
	resp := a.psa.Validate(ctx, attrs)
	a.audit(req, resp.AuditAnnotations)
	if !resp.Allowed {
		return nil, statusError(resp.Result)
	}
	if attrs.err != nil {
		// The library answers "allowed" for a pod template it could not
		// read; an object orch cannot convert is a bug worth refusing.
		return nil, v1.NewInternalError(attrs.err)
	}
	if remember && silent(resp) {
		if policy, errs := a.psa.PolicyToEvaluate(ns.Labels); len(errs) == 0 {
			a.decisions.add(key, policy.Enforce, a.silentCounter(policy.Enforce))
		}
	}
	return resp.Warnings, nil
}

// audit logs what Kubernetes would write to its audit log as annotations.
func (a *Admission) audit(req Request, ann map[string]string) {
	if v, ok := ann[psapi.AuditViolationsAnnotationKey]; ok {
		a.log.Info("pod security audit violation", "operation", string(req.Operation), "resource", req.Resource,
			"namespace", req.Namespace, "name", req.Name, "violation", v,
			"enforce-policy", ann[psapi.EnforcedPolicyAnnotationKey])
	}
	if v, ok := ann["error"]; ok {
		a.log.Warn("pod security evaluation error", "operation", string(req.Operation), "resource", req.Resource,
			"namespace", req.Namespace, "name", req.Name, "err", v)
	}
}

// namespaceGetter adapts the Store to the library's NamespaceGetter.
type namespaceGetter struct{ store Store }

// readNamespaceKey is the context key of the namespace Admit has read for
// the request being admitted.
type readNamespaceKey struct{}

// GetNamespace implements admission.NamespaceGetter: the namespace Admit
// has read for the request, or the store's.
func (g namespaceGetter) GetNamespace(ctx context.Context, name string) (*corev1Namespace, error) {
	if ns, ok := ctx.Value(readNamespaceKey{}).(*v1.Namespace); ok && ns.Name == name {
		return toNamespace(ns), nil
	}
	ns, err := g.store.Namespace(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("get namespace %s: %w", name, err)
	}
	return toNamespace(ns), nil
}

// podLister adapts the Store to the library's PodLister.
type podLister struct {
	store Store
	pods  *podSpecs
}

// ListPods implements admission.PodLister.
func (l podLister) ListPods(ctx context.Context, namespace string) ([]*corev1Pod, error) {
	pods, err := l.store.Pods(ctx, namespace)
	if err != nil {
		return nil, fmt.Errorf("list pods of %s: %w", namespace, err)
	}
	out := make([]*corev1Pod, 0, len(pods))
	for _, p := range pods {
		c, err := l.pods.toPod(p)
		if err != nil {
			return nil, fmt.Errorf("convert pod %s/%s: %w", namespace, p.Name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// operation maps an Operation to the admission API's.
func (o Operation) admission() admissionv1.Operation {
	return admissionv1.Operation(o)
}

var errUnsupported = errors.New("podsecurity: unsupported object")

// imagesChanged reports whether an update of a pod adds or removes a
// container or changes an image: the only pod updates Pod Security checks
// (a pod update cannot change its ephemeral containers: they change
// through the ephemeralcontainers subresource, which is always checked). Objects that are not pods
// count as changed, so the library decides.
func imagesChanged(obj, old v1.Object) bool {
	p, ok1 := obj.(*v1.Pod)
	o, ok2 := old.(*v1.Pod)
	if !ok1 || !ok2 {
		return true
	}
	differ := func(a, b []v1.Container) bool {
		if len(a) != len(b) {
			return true
		}
		for i := range a {
			if a[i].Image != b[i].Image {
				return true
			}
		}
		return false
	}
	return differ(p.Spec.Containers, o.Spec.Containers) || differ(p.Spec.InitContainers, o.Spec.InitContainers)
}
