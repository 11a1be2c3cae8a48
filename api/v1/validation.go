package v1

import (
	"fmt"
	"math"
	"net"
	"strings"
	"time"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxAnnotationsBytes is the largest total size of an object's annotations.
const MaxAnnotationsBytes = 256 * 1024

// Validate checks a new object and returns an Invalid Status error naming every
// bad field, or nil. It runs on the API server after defaulting.
func Validate(obj Object) error {
	return toStatus(obj, validateObject(obj))
}

// ValidateUpdate checks an update of old to obj: the new object must be
// valid and must not change immutable fields.
func ValidateUpdate(obj, old Object) error {
	if j, ok := obj.(*Job); ok && j.UID == "" {
		// An update may leave the uid out (the store keeps it); the
		// generated selector is checked against it.
		j.UID = old.GetObjectMeta().UID
	}
	errs := validateObject(obj)
	errs = append(errs, validateImmutable(obj, old)...)
	return toStatus(obj, errs)
}

// ValidateIn is Validate for a create through resource r: a view's create
// (obj already in its stored form) is checked as the stored kind and as
// the view's group version requires, and refused naming the view's kind.
func ValidateIn(r Resource, obj Object) error {
	if r.View == nil {
		return Validate(obj)
	}
	errs := validateObject(obj)
	if r.View.ValidateCreate != nil {
		errs = append(errs, r.View.ValidateCreate(obj)...)
	}
	return toStatusKind(r.QualifiedKind(), obj, errs)
}

// ValidateUpdateIn is ValidateUpdate for an update through resource r.
func ValidateUpdateIn(r Resource, obj, old Object) error {
	if r.View == nil {
		return ValidateUpdate(obj, old)
	}
	errs := validateObject(obj)
	errs = append(errs, validateImmutable(obj, old)...)
	if r.View.ValidateUpdate != nil {
		errs = append(errs, r.View.ValidateUpdate(obj, old)...)
	}
	return toStatusKind(r.QualifiedKind(), obj, errs)
}

func toStatus(obj Object, errs field.ErrorList) error {
	return toStatusKind(KindOf(obj), obj, errs)
}

// toStatusKind is the Invalid error of errs about obj, named as kind.
func toStatusKind(kind string, obj Object, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	causes := make([]StatusCause, 0, len(errs))
	for _, e := range errs {
		causes = append(causes, StatusCause{Type: string(e.Type), Message: e.Error(), Field: e.Field})
	}
	m := obj.GetObjectMeta()
	name := m.Name
	if name == "" {
		name = m.GenerateName
	}
	return NewInvalid(kind, name, causes)
}

func validateObject(obj Object) field.ErrorList {
	r, err := ResourceOf(obj)
	if err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("kind"), KindOf(obj), "unsupported kind")}
	}
	nameFn := isDNS1123Subdomain
	switch obj.(type) {
	case *Namespace:
		nameFn = isDNS1123Label
	case *Service:
		nameFn = isDNS1035Label
	case *Role, *ClusterRole, *RoleBinding, *ClusterRoleBinding:
		nameFn = validateRBACName
	}
	errs := ValidateObjectMeta(obj.GetObjectMeta(), r.Namespaced, nameFn, pathMetadata)
	switch o := obj.(type) {
	case *Pod:
		errs = append(errs, ValidatePodSpec(&o.Spec, pathSpec)...)
		errs = append(errs, validatePodHostPorts(&o.Spec, pathSpec)...)
		errs = append(errs, validatePodStatus(&o.Status)...)
		errs = append(errs, validatePodIPs(o)...)
	case *ReplicationController:
		errs = append(errs, validateRC(o)...)
	case *ReplicaSet:
		errs = append(errs, validateReplicaSet(o)...)
	case *Deployment:
		errs = append(errs, validateDeployment(o)...)
	case *DaemonSet:
		errs = append(errs, validateDaemonSet(o)...)
	case *StatefulSet:
		errs = append(errs, validateStatefulSet(o)...)
	case *Service:
		errs = append(errs, validateService(o)...)
	case *Endpoints:
		errs = append(errs, validateEndpoints(o)...)
	case *Node:
		errs = append(errs, validateNode(o)...)
	case *ResourceQuota:
		errs = append(errs, validateResourceQuota(o)...)
	case *LimitRange:
		errs = append(errs, validateLimitRange(o)...)
	case *Role:
		errs = append(errs, validateRules(o.Rules, true)...)
	case *ClusterRole:
		errs = append(errs, validateClusterRole(o)...)
	case *RoleBinding:
		errs = append(errs, validateBinding(o.Subjects, o.RoleRef, true)...)
	case *ClusterRoleBinding:
		errs = append(errs, validateBinding(o.Subjects, o.RoleRef, false)...)
	case *CertificateSigningRequest:
		errs = append(errs, validateCSR(o)...)
	case *BootstrapToken:
		errs = append(errs, validateBootstrapToken(o)...)
	case *ServiceAccount:
		errs = append(errs, validateServiceAccount(o)...)
	case *Lease:
		errs = append(errs, validateLease(o)...)
	case *EndpointSlice:
		errs = append(errs, validateEndpointSlice(o)...)
	case *Event:
		errs = append(errs, validateEvent(o)...)
	case *PodDisruptionBudget:
		errs = append(errs, validatePDB(o)...)
	case *Job:
		errs = append(errs, validateJob(o)...)
	case *CronJob:
		errs = append(errs, validateCronJob(o)...)
	case *ConfigMap:
		errs = append(errs, validateConfigMap(o)...)
	case *Secret:
		errs = append(errs, validateSecret(o)...)
	case *ControllerRevision:
		errs = append(errs, validateControllerRevision(o)...)
	}
	return errs
}

// ValidateObjectMeta checks names, namespace, labels and annotations.
func ValidateObjectMeta(m *ObjectMeta, namespaced bool, nameFn func(string) []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case m.Name == "" && m.GenerateName == "":
		errs = append(errs, field.Required(p.Child("name"), "name or generateName is required"))
	case m.Name != "":
		for _, msg := range nameFn(m.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), m.Name, msg))
		}
	default:
		// generateName gets a 5-character suffix; the prefix must make a valid name.
		for _, msg := range nameFn(strings.TrimSuffix(m.GenerateName, "-") + "-abcde") {
			errs = append(errs, field.Invalid(p.Child("generateName"), m.GenerateName, msg))
		}
	}
	if namespaced {
		if m.Namespace == "" {
			errs = append(errs, field.Required(p.Child("namespace"), ""))
		} else {
			for _, msg := range isDNS1123Label(m.Namespace) {
				errs = append(errs, field.Invalid(p.Child("namespace"), m.Namespace, msg))
			}
		}
	} else if m.Namespace != "" {
		errs = append(errs, field.Forbidden(p.Child("namespace"), "not allowed on this type"))
	}
	// An empty list or map has nothing to report: its path is made only
	// for what holds something.
	if len(m.Labels) > 0 {
		errs = append(errs, validateLabelsAt(m.Labels, func() *field.Path { return p.Child("labels") })...)
	}
	if len(m.Annotations) > 0 {
		errs = append(errs, validateAnnotations(m.Annotations, func() *field.Path { return p.Child("annotations") })...)
	}
	if len(m.Finalizers) > 0 {
		errs = append(errs, apivalidation.ValidateFinalizers(m.Finalizers, p.Child("finalizers"))...)
	}
	if len(m.OwnerReferences) > 0 {
		refs := make([]metav1.OwnerReference, len(m.OwnerReferences))
		for i, r := range m.OwnerReferences {
			refs[i] = metav1.OwnerReference{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, UID: types.UID(r.UID),
				Controller: r.Controller, BlockOwnerDeletion: r.BlockOwnerDeletion}
		}
		errs = append(errs, apivalidation.ValidateOwnerReferences(refs, p.Child("ownerReferences"))...)
	}
	return errs
}

// ValidateLabels checks label keys (qualified names) and values (≤ 63 chars).
func ValidateLabels(labels map[string]string, p *field.Path) field.ErrorList {
	return validateLabelsAt(labels, func() *field.Path { return p })
}

// validateLabelsAt is ValidateLabels of the labels at the path p makes
// (built only for an error).
func validateLabelsAt(labels map[string]string, p pathFn) field.ErrorList {
	var errs field.ErrorList
	for k, v := range labels {
		for _, msg := range isLabelKey(k) {
			errs = append(errs, field.Invalid(p(), k, msg))
		}
		for _, msg := range isLabelValue(v) {
			errs = append(errs, field.Invalid(p().Key(k), v, msg))
		}
	}
	return errs
}

// validateAnnotations checks the annotations at the path p makes (built
// only for an error): keys and the total size.
func validateAnnotations(a map[string]string, p pathFn) field.ErrorList {
	var errs field.ErrorList
	total := 0
	for k, v := range a {
		for _, msg := range isLabelKey(strings.ToLower(k)) {
			errs = append(errs, field.Invalid(p(), k, msg))
		}
		total += len(k) + len(v)
	}
	if total > MaxAnnotationsBytes {
		errs = append(errs, field.TooLong(p(), "", MaxAnnotationsBytes))
	}
	return errs
}

// ValidatePodSpec checks a pod spec.
func ValidatePodSpec(s *PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	vols := map[string]bool{}
	for i, v := range s.Volumes {
		vp := p.Child("volumes").Index(i)
		for _, msg := range isDNS1123Label(v.Name) {
			errs = append(errs, field.Invalid(vp.Child("name"), v.Name, msg))
		}
		if vols[v.Name] {
			errs = append(errs, field.Duplicate(vp.Child("name"), v.Name))
		}
		vols[v.Name] = true
		errs = append(errs, validateVolumeSource(&v, vp)...)
	}
	if len(s.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), "at least one container is required"))
	}
	names := map[string]bool{}
	errs = append(errs, validateContainers(s.InitContainers, func() *field.Path { return p.Child("initContainers") }, vols, names)...)
	errs = append(errs, validateContainers(s.Containers, func() *field.Path { return p.Child("containers") }, vols, names)...)
	errs = append(errs, validateEphemeralContainers(s, p, vols, names)...)
	errs = append(errs, validatePodSpecSupport(s, p)...)
	switch s.RestartPolicy {
	case RestartAlways, RestartOnFailure, RestartNever:
	default:
		errs = append(errs, field.NotSupported(p.Child("restartPolicy"), s.RestartPolicy,
			[]string{RestartAlways, RestartOnFailure, RestartNever}))
	}
	if !validSeconds(s.TerminationGracePeriodSeconds, 0) {
		errs = append(errs, validateSeconds(s.TerminationGracePeriodSeconds, 0, p.Child("terminationGracePeriodSeconds"))...)
	}
	if len(s.NodeSelector) > 0 {
		errs = append(errs, validateLabelsAt(s.NodeSelector, func() *field.Path { return p.Child("nodeSelector") })...)
	}
	if s.Affinity != nil {
		errs = append(errs, validateAffinity(s.Affinity, p.Child("affinity"))...)
	}
	if len(s.TopologySpreadConstraints) > 0 {
		errs = append(errs, validateTopologySpreadConstraints(s.TopologySpreadConstraints, p.Child("topologySpreadConstraints"))...)
	}
	if s.NodeName != "" {
		for _, msg := range isDNS1123Subdomain(s.NodeName) {
			errs = append(errs, field.Invalid(p.Child("nodeName"), s.NodeName, msg))
		}
	}
	for i, t := range s.Tolerations {
		tp := p.Child("tolerations").Index(i)
		switch t.Operator {
		case "", "Equal":
		case "Exists":
			if t.Value != "" {
				errs = append(errs, field.Invalid(tp.Child("value"), t.Value, "must be empty when operator is Exists"))
			}
		default:
			errs = append(errs, field.NotSupported(tp.Child("operator"), t.Operator, []string{"Equal", "Exists"}))
		}
		switch t.Effect {
		case "", TaintNoSchedule, TaintPreferNoSchedule, TaintNoExecute:
		default:
			errs = append(errs, field.NotSupported(tp.Child("effect"), t.Effect,
				[]string{TaintNoSchedule, TaintPreferNoSchedule, TaintNoExecute}))
		}
	}
	return errs
}

// validateContainers checks the containers of cs, the list at the path p
// makes (built only for an error).
func validateContainers(cs []Container, p pathFn, vols, names map[string]bool) field.ErrorList {
	var errs field.ErrorList
	for i := range cs {
		c := &cs[i]
		cp := pathFn(func() *field.Path { return p.index(i) })
		for _, msg := range isDNS1123Label(c.Name) {
			errs = append(errs, field.Invalid(cp.child("name"), c.Name, msg))
		}
		if names[c.Name] {
			errs = append(errs, field.Duplicate(cp.child("name"), c.Name))
		}
		names[c.Name] = true
		if strings.TrimSpace(c.Image) == "" {
			errs = append(errs, field.Required(cp.child("image"), ""))
		}
		switch c.ImagePullPolicy {
		case PullAlways, PullIfNotPresent, PullNever:
		default:
			errs = append(errs, field.NotSupported(cp.child("imagePullPolicy"), c.ImagePullPolicy,
				[]string{PullAlways, PullIfNotPresent, PullNever}))
		}
		portNames := map[string]bool{}
		for j, port := range c.Ports {
			pp := pathFn(func() *field.Path { return cp.child("ports").Index(j) })
			if port.Name != "" {
				for _, msg := range isValidPortName(port.Name) {
					errs = append(errs, field.Invalid(pp.child("name"), port.Name, msg))
				}
				if portNames[port.Name] {
					errs = append(errs, field.Duplicate(pp.child("name"), port.Name))
				}
				portNames[port.Name] = true
			}
			if !validPortNum(port.ContainerPort) {
				errs = append(errs, validatePortNum(port.ContainerPort, pp.child("containerPort"))...)
			}
			if port.HostPort != 0 && !validPortNum(port.HostPort) {
				errs = append(errs, validatePortNum(port.HostPort, pp.child("hostPort"))...)
			}
			if !validProtocol(port.Protocol) {
				errs = append(errs, validateProtocol(port.Protocol, pp.child("protocol"))...)
			}
		}
		for j, e := range c.Env {
			ep := pathFn(func() *field.Path { return cp.child("env").Index(j) })
			for _, msg := range validation.IsEnvVarName(e.Name) {
				errs = append(errs, field.Invalid(ep.child("name"), e.Name, msg))
			}
			if e.ValueFrom != nil {
				errs = append(errs, validateEnvVarValueFrom(&e, ep.child("valueFrom"))...)
			}
		}
		if len(c.EnvFrom) > 0 {
			errs = append(errs, validateEnvFrom(c.EnvFrom, cp.child("envFrom"))...)
		}
		for j, m := range c.VolumeMounts {
			mp := pathFn(func() *field.Path { return cp.child("volumeMounts").Index(j) })
			if !vols[m.Name] {
				errs = append(errs, field.NotFound(mp.child("name"), m.Name))
			}
			if !strings.HasPrefix(m.MountPath, "/") {
				errs = append(errs, field.Invalid(mp.child("mountPath"), m.MountPath, "must be an absolute path"))
			}
			if m.SubPath != "" {
				errs = append(errs, validateLocalDescendingPath(m.SubPath, mp.child("subPath"))...)
			}
		}
		if len(c.Resources.Limits) > 0 || len(c.Resources.Requests) > 0 {
			errs = append(errs, validateContainerResources(&c.Resources, cp.child("resources"))...)
		}
		for _, pr := range []struct {
			name  string
			probe *Probe
		}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
			if pr.probe != nil {
				errs = append(errs, validateProbe(pr.probe, cp.child(pr.name))...)
			}
		}
	}
	return errs
}

// MaxSeconds is the largest number of seconds a duration may hold (about
// 292 years): a grace period or deadline above it would overflow.
const MaxSeconds = int64(math.MaxInt64) / int64(time.Second)

// validateSeconds checks an optional count of seconds against [min, MaxSeconds].
func validateSeconds(v *int64, min int64, p *field.Path) field.ErrorList {
	if validSeconds(v, min) {
		return nil
	}
	return field.ErrorList{field.Invalid(p, *v, validation.InclusiveRangeError(int(min), int(MaxSeconds)))}
}

func validateProbe(pr *Probe, p *field.Path) field.ErrorList {
	if pr == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	if pr.Exec != nil {
		n++
		if len(pr.Exec.Command) == 0 {
			errs = append(errs, field.Required(p.Child("exec", "command"), ""))
		}
	}
	if pr.HTTPGet != nil {
		n++
		errs = append(errs, validatePortRef(pr.HTTPGet.Port, p.Child("httpGet", "port"))...)
	}
	if pr.TCPSocket != nil {
		n++
		errs = append(errs, validatePortRef(pr.TCPSocket.Port, p.Child("tcpSocket", "port"))...)
	}
	if n != 1 {
		errs = append(errs, field.Invalid(p, "", "exactly one of exec, httpGet, tcpSocket must be set"))
	}
	for _, f := range []struct {
		name string
		v    int32
		min  int32
	}{{"initialDelaySeconds", pr.InitialDelaySeconds, 0}, {"timeoutSeconds", pr.TimeoutSeconds, 1},
		{"periodSeconds", pr.PeriodSeconds, 1}, {"successThreshold", pr.SuccessThreshold, 1},
		{"failureThreshold", pr.FailureThreshold, 1}} {
		if f.v < f.min {
			errs = append(errs, field.Invalid(p.Child(f.name), f.v, fmt.Sprintf("must be >= %d", f.min)))
		}
	}
	return append(errs, validateSeconds(pr.TerminationGracePeriodSeconds, 1, p.Child("terminationGracePeriodSeconds"))...)
}

// validPortRef reports whether validatePortRef accepts port.
func validPortRef(port IntOrString) bool {
	if port.Type == 1 { // string
		return len(isValidPortName(port.StrVal)) == 0
	}
	return validPortNum(port.IntVal)
}

func validatePortRef(port IntOrString, p *field.Path) field.ErrorList {
	if port.Type == 1 { // string
		var errs field.ErrorList
		for _, msg := range isValidPortName(port.StrVal) {
			errs = append(errs, field.Invalid(p, port.StrVal, msg))
		}
		return errs
	}
	return validatePortNum(port.IntVal, p)
}

// validSeconds reports whether validateSeconds accepts v.
func validSeconds(v *int64, min int64) bool {
	return v == nil || (*v >= min && *v <= MaxSeconds)
}

// validPortNum reports whether validatePortNum accepts port.
func validPortNum(port int32) bool { return len(validation.IsValidPortNum(int(port))) == 0 }

func validatePortNum(port int32, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortNum(int(port)) {
		errs = append(errs, field.Invalid(p, port, msg))
	}
	return errs
}

// validProtocol reports whether validateProtocol accepts proto.
func validProtocol(proto string) bool {
	switch proto {
	case ProtocolTCP, ProtocolUDP, ProtocolSCTP:
		return true
	}
	return false
}

func validateProtocol(proto string, p *field.Path) field.ErrorList {
	if validProtocol(proto) {
		return nil
	}
	return field.ErrorList{field.NotSupported(p, proto, []string{ProtocolTCP, ProtocolUDP, ProtocolSCTP})}
}

func validateRC(rc *ReplicationController) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	if rc.Spec.Replicas != nil && *rc.Spec.Replicas < 0 {
		errs = append(errs, field.Invalid(sp.Child("replicas"), *rc.Spec.Replicas, "must be >= 0"))
	}
	if len(rc.Spec.Selector) == 0 {
		errs = append(errs, field.Required(sp.Child("selector"), "a selector is required (or template labels to default it from)"))
	}
	errs = append(errs, ValidateLabels(rc.Spec.Selector, sp.Child("selector"))...)
	t := rc.Spec.Template
	if t == nil {
		return append(errs, field.Required(sp.Child("template"), ""))
	}
	tp := sp.Child("template")
	errs = append(errs, ValidateLabels(t.Labels, tp.Child("metadata", "labels"))...)
	if len(rc.Spec.Selector) > 0 && !SelectorFromMap(rc.Spec.Selector).Matches(labelSet(t.Labels)) {
		errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, ValidatePodSpec(&t.Spec, tp.Child("spec"))...)
	errs = append(errs, validateRCTemplateSpec(&t.Spec, tp.Child("spec"))...)
	if t.Spec.NodeName != "" {
		errs = append(errs, field.Forbidden(tp.Child("spec", "nodeName"), "a template may not name a node"))
	}
	return errs
}

func validateService(s *Service) field.ErrorList {
	var errs field.ErrorList
	sp := pathSpec
	switch s.Spec.Type {
	case ServiceTypeClusterIP, ServiceTypeNodePort:
	default:
		errs = append(errs, field.NotSupported(sp.Child("type"), s.Spec.Type, []string{ServiceTypeClusterIP, ServiceTypeNodePort}))
	}
	switch s.Spec.SessionAffinity {
	case AffinityNone, AffinityClientIP:
	default:
		errs = append(errs, field.NotSupported(sp.Child("sessionAffinity"), s.Spec.SessionAffinity, []string{AffinityNone, AffinityClientIP}))
	}
	if c := s.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		if t := *c.ClientIP.TimeoutSeconds; t <= 0 || t > 86400 {
			errs = append(errs, field.Invalid(sp.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t, "must be in the range 1-86400"))
		}
	}
	if ip := s.Spec.ClusterIP; ip != "" && ip != ClusterIPNone && net.ParseIP(ip).To4() == nil {
		errs = append(errs, field.Invalid(sp.Child("clusterIP"), ip, "must be an IPv4 address or None"))
	}
	if s.Spec.ClusterIP == ClusterIPNone && s.Spec.Type == ServiceTypeNodePort {
		errs = append(errs, field.Invalid(sp.Child("clusterIP"), ClusterIPNone, "may not be None for type NodePort"))
	}
	if len(s.Spec.Selector) > 0 {
		errs = append(errs, validateLabelsAt(s.Spec.Selector, func() *field.Path { return sp.Child("selector") })...)
	}
	if len(s.Spec.Ports) == 0 && s.Spec.ClusterIP != ClusterIPNone {
		errs = append(errs, field.Required(sp.Child("ports"), ""))
	}
	seen := map[string]bool{}
	for i, port := range s.Spec.Ports {
		pp := pathFn(func() *field.Path { return sp.Child("ports").Index(i) })
		if len(s.Spec.Ports) > 1 && port.Name == "" {
			errs = append(errs, field.Required(pp.child("name"), "each port must be named when there is more than one"))
		}
		if port.Name != "" {
			for _, msg := range isDNS1123Label(port.Name) {
				errs = append(errs, field.Invalid(pp.child("name"), port.Name, msg))
			}
			if seen[port.Name] {
				errs = append(errs, field.Duplicate(pp.child("name"), port.Name))
			}
			seen[port.Name] = true
		}
		if !validPortNum(port.Port) {
			errs = append(errs, validatePortNum(port.Port, pp.child("port"))...)
		}
		if !validProtocol(port.Protocol) {
			errs = append(errs, validateProtocol(port.Protocol, pp.child("protocol"))...)
		}
		if !validPortRef(port.TargetPort) {
			errs = append(errs, validatePortRef(port.TargetPort, pp.child("targetPort"))...)
		}
		if port.NodePort != 0 {
			if s.Spec.Type != ServiceTypeNodePort {
				errs = append(errs, field.Forbidden(pp.child("nodePort"), "may only be set for type NodePort"))
			} else if port.NodePort < 30000 || port.NodePort > 32767 {
				errs = append(errs, field.Invalid(pp.child("nodePort"), port.NodePort, "must be in the range 30000-32767"))
			}
		}
	}
	return errs
}

func validateEndpoints(e *Endpoints) field.ErrorList {
	var errs field.ErrorList
	for i, s := range e.Subsets {
		sp := field.NewPath("subsets").Index(i)
		for _, l := range []struct {
			name  string
			addrs []EndpointAddress
		}{{"addresses", s.Addresses}, {"notReadyAddresses", s.NotReadyAddresses}} {
			for j, a := range l.addrs {
				errs = append(errs, validateEndpointIP(a.IP, sp.Child(l.name).Index(j).Child("ip"))...)
			}
		}
		for j, p := range s.Ports {
			errs = append(errs, validatePortNum(p.Port, sp.Child("ports").Index(j).Child("port"))...)
			errs = append(errs, validateProtocol(p.Protocol, sp.Child("ports").Index(j).Child("protocol"))...)
		}
	}
	return errs
}

func validateNode(n *Node) field.ErrorList {
	var errs field.ErrorList
	st := field.NewPath("status")
	errs = append(errs, validateNodeResources(n.Status.Capacity, st.Child("capacity"))...)
	errs = append(errs, validateNodeResources(n.Status.Allocatable, st.Child("allocatable"))...)
	errs = append(errs, validateNodeStatus(&n.Status)...)
	sp := field.NewPath("spec")
	errs = append(errs, validateNodePodCIDRs(&n.Spec, sp)...)
	for i, t := range n.Spec.Taints {
		tp := sp.Child("taints").Index(i)
		for _, msg := range isLabelKey(t.Key) {
			errs = append(errs, field.Invalid(tp.Child("key"), t.Key, msg))
		}
		switch t.Effect {
		case TaintNoSchedule, TaintPreferNoSchedule, TaintNoExecute:
		default:
			errs = append(errs, field.NotSupported(tp.Child("effect"), t.Effect,
				[]string{TaintNoSchedule, TaintPreferNoSchedule, TaintNoExecute}))
		}
	}
	return errs
}

// validateImmutable rejects changes of fields that may not change after create.
func validateImmutable(obj, old Object) field.ErrorList {
	var errs field.ErrorList
	switch o := obj.(type) {
	case *ReplicaSet:
		errs = append(errs, validateReplicaSetUpdate(o, old.(*ReplicaSet))...)
	case *Deployment:
		errs = append(errs, validateDeploymentUpdate(o, old.(*Deployment))...)
	case *ControllerRevision:
		errs = append(errs, validateControllerRevisionUpdate(o, old.(*ControllerRevision))...)
	case *DaemonSet:
		errs = append(errs, validateDaemonSetUpdate(o, old.(*DaemonSet))...)
	case *StatefulSet:
		errs = append(errs, validateStatefulSetUpdate(o, old.(*StatefulSet))...)
	case *ConfigMap:
		errs = append(errs, validateConfigMapUpdate(o, old.(*ConfigMap))...)
	case *Secret:
		errs = append(errs, validateSecretUpdate(o, old.(*Secret))...)
	case *RoleBinding:
		errs = append(errs, validateRoleRefUpdate(o.RoleRef, old.(*RoleBinding).RoleRef)...)
	case *ClusterRoleBinding:
		errs = append(errs, validateRoleRefUpdate(o.RoleRef, old.(*ClusterRoleBinding).RoleRef)...)
	case *Pod:
		op := old.(*Pod)
		sp := field.NewPath("spec")
		if op.Spec.NodeName != "" && o.Spec.NodeName != op.Spec.NodeName {
			errs = append(errs, field.Forbidden(sp.Child("nodeName"), "may not be changed once the pod is bound"))
		}
		if len(o.Spec.Containers) != len(op.Spec.Containers) {
			errs = append(errs, field.Forbidden(sp.Child("containers"), "containers may not be added or removed"))
		} else {
			for i := range o.Spec.Containers {
				a, b := o.Spec.Containers[i], op.Spec.Containers[i]
				a.Image, b.Image = "", ""
				// The pull policy defaults from the image tag, so it follows the image.
				a.ImagePullPolicy, b.ImagePullPolicy = "", ""
				if !JSONEqual(a, b) {
					errs = append(errs, field.Forbidden(sp.Child("containers").Index(i),
						"pod updates may only change the image of a container"))
				}
			}
		}
		if !JSONEqual(o.Spec.Volumes, op.Spec.Volumes) {
			errs = append(errs, field.Forbidden(sp.Child("volumes"), "may not be changed"))
		}
		errs = append(errs, validatePodSpecUpdate(&o.Spec, &op.Spec, sp)...)
	case *Node:
		if msg := PodCIDRChange(o, old.(*Node)); msg != "" {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), msg))
		}
	case *Job:
		errs = append(errs, validateJobUpdate(o, old.(*Job))...)
	case *Service:
		os := old.(*Service)
		if os.Spec.ClusterIP != "" && o.Spec.ClusterIP != "" && o.Spec.ClusterIP != os.Spec.ClusterIP {
			errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIP"), o.Spec.ClusterIP, "field is immutable"))
		}
	}
	return errs
}
