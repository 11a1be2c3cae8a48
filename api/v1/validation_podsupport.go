package v1

import (
	"math"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Values of pod fields orch honours where Kubernetes allows more.
const (
	// MediumDefault is an emptyDir on the node's disk.
	MediumDefault = ""
	// MediumMemory is an emptyDir on a tmpfs.
	MediumMemory = "Memory"
	// DefaultTerminationMessagePath is where Kubernetes reads a container's
	// termination message; orch accepts it only as the default.
	DefaultTerminationMessagePath = "/dev/termination-log"
	// TerminationMessageReadFile is the only terminationMessagePolicy orch accepts.
	TerminationMessageReadFile = "File"
)

// Taint keys Kubernetes tolerates for 300 s on every pod.
const (
	notReadyTaintKey    = "node.kubernetes.io/not-ready"
	unreachableTaintKey = "node.kubernetes.io/unreachable"
)

// DNS policies orch honours.
const (
	DNSClusterFirst            = "ClusterFirst"
	DNSClusterFirstWithHostNet = "ClusterFirstWithHostNet"
	DNSDefault                 = "Default"
)

// SupportedFieldRefPaths returns the fields of the pod an environment
// variable's fieldRef may name without a subscript (Kubernetes').
func SupportedFieldRefPaths() []string {
	return slices.Clone(envFieldPaths)
}

// notYet is the message of a field orch decodes but does not implement.
func notYet(what string) string {
	return "orch does not support " + what + " yet"
}

// validatePodSpecSupport refuses every pod field that the API decodes but
// neither the scheduler nor the node honours, so a manifest is never
// accepted and silently run differently from what it says. A field listed
// here is removed from the list when orch implements it.
func validatePodSpecSupport(s *PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if d := s.ActiveDeadlineSeconds; d != nil && (*d < 1 || *d > math.MaxInt32) {
		errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), *d, validation.InclusiveRangeError(1, math.MaxInt32)))
	}
	errs = append(errs, validateHostPorts(s, p)...)
	if s.SecurityContext != nil {
		errs = append(errs, validatePodSecurityContext(s.SecurityContext, func() *field.Path { return p.Child("securityContext") })...)
	}
	if s.ServiceAccountName != "" {
		errs = append(errs, validateServiceAccountName(s.ServiceAccountName, func() *field.Path { return p.Child("serviceAccountName") })...)
	}
	if s.DeprecatedServiceAccount != "" {
		errs = append(errs, validateServiceAccountName(s.DeprecatedServiceAccount, func() *field.Path { return p.Child("serviceAccount") })...)
	}
	if s.Priority != nil {
		errs = append(errs, field.Forbidden(p.Child("priority"), notYet("pod priority")))
	}
	if s.PriorityClassName != "" {
		errs = append(errs, field.Forbidden(p.Child("priorityClassName"), notYet("priority classes")))
	}
	switch s.DNSPolicy {
	case DNSClusterFirst, DNSClusterFirstWithHostNet, DNSDefault:
	default:
		errs = append(errs, field.NotSupported(p.Child("dnsPolicy"), s.DNSPolicy,
			[]string{DNSClusterFirst, DNSClusterFirstWithHostNet, DNSDefault}))
	}
	for i, t := range s.Tolerations {
		if t.TolerationSeconds == nil {
			continue
		}
		tp := p.Child("tolerations").Index(i)
		switch {
		case t.Effect != TaintNoExecute:
			// Kubernetes' own rule.
			errs = append(errs, field.Invalid(tp.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		case t.Key != notReadyTaintKey && t.Key != unreachableTaintKey:
			errs = append(errs, field.Forbidden(tp.Child("tolerationSeconds"), notYet("evictions by NoExecute taints")))
		}
		// Kubernetes adds these two to every pod (DefaultTolerationSeconds);
		// orch's node lifecycle evicts the pods of a silent node after its
		// own eviction timeout, so exported manifests load unchanged.
	}
	for i, v := range s.Volumes {
		if v.EmptyDir != nil {
			errs = append(errs, validateEmptyDir(v.EmptyDir, p.Child("volumes").Index(i).Child("emptyDir"))...)
		}
	}
	for i := range s.InitContainers {
		cp := pathFn(func() *field.Path { return p.Child("initContainers").Index(i) })
		c := &s.InitContainers[i]
		errs = append(errs, validateContainerSupport(c, cp)...)
		// As Kubernetes for init containers without restartPolicy Always:
		// they run to completion, so they have no probes.
		for _, pr := range []struct {
			name  string
			probe *Probe
		}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
			if pr.probe != nil {
				errs = append(errs, field.Forbidden(cp.child(pr.name), "may not be set for init containers"))
			}
		}
	}
	for i := range s.Containers {
		errs = append(errs, validateContainerSupport(&s.Containers[i], func() *field.Path { return p.Child("containers").Index(i) })...)
	}
	return errs
}

func validateEmptyDir(e *EmptyDirVolumeSource, p *field.Path) field.ErrorList {
	if e == nil {
		return nil
	}
	var errs field.ErrorList
	switch e.Medium {
	case MediumDefault, MediumMemory:
	default:
		errs = append(errs, field.NotSupported(p.Child("medium"), e.Medium, []string{MediumDefault, MediumMemory}))
	}
	if e.SizeLimit != nil && e.SizeLimit.Sign() < 0 {
		errs = append(errs, field.Invalid(p.Child("sizeLimit"), e.SizeLimit.String(), "must be greater than or equal to 0"))
	}
	return errs
}

// validateContainerSupport refuses what orch's nodes cannot honour in the
// container c at the path p makes (built only for an error).
func validateContainerSupport(c *Container, p pathFn) field.ErrorList {
	var errs field.ErrorList
	// Resource names are checked by validateContainerResources: cpu and
	// memory (enforced by the node), extended resources (counted by the
	// scheduler against what nodes report), nothing else.
	if c.TerminationMessagePath != DefaultTerminationMessagePath {
		errs = append(errs, field.Forbidden(p.child("terminationMessagePath"), notYet("termination messages")+
			" (only "+DefaultTerminationMessagePath+" is accepted)"))
	}
	if c.TerminationMessagePolicy != TerminationMessageReadFile {
		errs = append(errs, field.NotSupported(p.child("terminationMessagePolicy"), c.TerminationMessagePolicy,
			[]string{TerminationMessageReadFile}))
	}
	for _, pr := range []struct {
		name  string
		probe *Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
		if pr.probe == nil {
			continue
		}
		if g := pr.probe.HTTPGet; g != nil && g.Scheme != "HTTP" && g.Scheme != "HTTPS" {
			errs = append(errs, field.NotSupported(p.child(pr.name).Child("httpGet", "scheme"), g.Scheme, []string{"HTTP", "HTTPS"}))
		}
		// As Kubernetes: a liveness or startup probe decides on one success.
		if pr.name != "readinessProbe" && pr.probe.SuccessThreshold != 1 {
			errs = append(errs, field.Invalid(p.child(pr.name).Child("successThreshold"), pr.probe.SuccessThreshold, "must be 1"))
		}
	}
	if c.SecurityContext != nil {
		errs = append(errs, validateSecurityContext(c.SecurityContext, p.child("securityContext"))...)
	}
	return errs
}

// validatePodSpecUpdate applies Kubernetes' rules for updating a pod's
// spec (ValidatePodUpdate) beyond the containers and volumes that
// validateImmutable checks: init containers may change only their image;
// activeDeadlineSeconds may be set or lowered, never raised or removed;
// tolerations may only be added; nothing else may change (nodeName is
// checked by validateImmutable).
func validatePodSpecUpdate(s, old *PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(s.InitContainers) != len(old.InitContainers) {
		errs = append(errs, field.Forbidden(p.Child("initContainers"), "init containers may not be added or removed"))
	} else {
		for i := range s.InitContainers {
			a, b := s.InitContainers[i], old.InitContainers[i]
			a.Image, b.Image = "", ""
			a.ImagePullPolicy, b.ImagePullPolicy = "", ""
			if !JSONEqual(a, b) {
				errs = append(errs, field.Forbidden(p.Child("initContainers").Index(i),
					"pod updates may only change the image of an init container"))
			}
		}
	}
	dp := p.Child("activeDeadlineSeconds")
	switch n, o := s.ActiveDeadlineSeconds, old.ActiveDeadlineSeconds; {
	case n == nil && o != nil:
		errs = append(errs, field.Invalid(dp, nil, "must not update from a positive integer to nil value"))
	case n != nil && o != nil && *n > *o:
		errs = append(errs, field.Invalid(dp, *n, "must be less than or equal to previous value"))
	}
	for _, t := range old.Tolerations {
		kept := false
		for _, u := range s.Tolerations {
			kept = kept || JSONEqual(t, u)
		}
		if !kept {
			errs = append(errs, field.Forbidden(p.Child("tolerations"), "existing toleration can not be modified except its tolerationSeconds"))
			break
		}
	}
	// Everything else must stay as it was.
	a, b := *s, *old
	for _, x := range []*PodSpec{&a, &b} {
		x.Containers, x.InitContainers, x.Volumes, x.ActiveDeadlineSeconds, x.Tolerations, x.NodeName = nil, nil, nil, nil, nil, ""
		if x.SecurityContext == nil {
			x.SecurityContext = &PodSecurityContext{} // stored before it was defaulted
		}
	}
	if !JSONEqual(a, b) {
		errs = append(errs, field.Forbidden(p, "pod updates may not change fields other than `spec.containers[*].image`, "+
			"`spec.initContainers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations` (only additions to existing tolerations)"))
	}
	return errs
}

// validateRCTemplateSpec applies Kubernetes' extra rules for the pod
// template of a ReplicationController: its pods run for ever, so they
// restart Always and have no activeDeadlineSeconds.
func validateRCTemplateSpec(s *PodSpec, p *field.Path) field.ErrorList {
	return validateReplicaTemplateSpec(s, "ReplicationController", p)
}

// validateReplicaTemplateSpec is validateRCTemplateSpec for the template of
// any kind that keeps replicas (kind names it in the message).
func validateReplicaTemplateSpec(s *PodSpec, kind string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.RestartPolicy != RestartAlways {
		errs = append(errs, field.NotSupported(p.Child("restartPolicy"), s.RestartPolicy, []string{RestartAlways}))
	}
	if s.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), *s.ActiveDeadlineSeconds,
			"activeDeadlineSeconds in "+kind+" is not Supported"))
	}
	if len(s.EphemeralContainers) > 0 {
		// Kubernetes' ValidatePodTemplateSpec.
		errs = append(errs, field.Forbidden(p.Child("ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}
