package v1

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fsGroupChangePolicy values (Kubernetes' PodFSGroupChangePolicy).
const (
	FSGroupChangeOnRootMismatch = "OnRootMismatch"
	FSGroupChangeAlways         = "Always"
)

// Sysctl name syntax, as Kubernetes' validation: dot- or slash-separated
// segments of lower-case letters, digits, '-' and '_'.
const (
	sysctlSegmentFmt      = "[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
	sysctlContainSlashFmt = "(" + sysctlSegmentFmt + "[\\./])*" + sysctlSegmentFmt
	sysctlMaxLength       = 253
)

var sysctlContainSlashRegexp = regexp.MustCompile("^" + sysctlContainSlashFmt + "$")

// SafeSysctls returns the namespaced sysctls Kubernetes calls safe (the
// kubelet's safe set, which the Pod Security baseline level allows): they
// act on the pod's own namespaces only and cannot starve the node.
func SafeSysctls() []string {
	return []string{
		"kernel.shm_rmid_forced",
		"net.ipv4.ip_local_port_range",
		"net.ipv4.tcp_syncookies",
		"net.ipv4.ping_group_range",
		"net.ipv4.ip_unprivileged_port_start",
		"net.ipv4.ip_local_reserved_ports",
		"net.ipv4.tcp_keepalive_time",
		"net.ipv4.tcp_fin_timeout",
		"net.ipv4.tcp_keepalive_intvl",
		"net.ipv4.tcp_keepalive_probes",
		"net.ipv4.tcp_rmem",
		"net.ipv4.tcp_wmem",
		"net.ipv4.tcp_slow_start_after_idle",
		"net.ipv4.tcp_notsent_lowat",
	}
}

// SysctlDotted returns a sysctl name with '.' as separator, as the kubelet
// normalises it: a name whose first separator is '/' (net/ipv4/tcp_rmem)
// has its dots and slashes swapped.
func SysctlDotted(name string) string {
	i := strings.IndexAny(name, "./")
	if i < 0 || name[i] == '.' {
		return name
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, name)
}

// validatePodSecurityContext applies Kubernetes' ValidatePodSecurityContext
// to the pod's securityContext, then refuses what orch's nodes cannot
// honour: SELinux (the nodes have none), AppArmor profiles other than
// Unconfined (nor AppArmor) and unsafe sysctls.
func validatePodSecurityContext(sc *PodSecurityContext, p pathFn) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	if sc.FSGroup != nil {
		for _, msg := range validation.IsValidGroupID(*sc.FSGroup) {
			errs = append(errs, field.Invalid(p.child("fsGroup"), *sc.FSGroup, msg))
		}
	}
	errs = append(errs, validateIDs(sc.RunAsUser, sc.RunAsGroup, p)...)
	for i, gid := range sc.SupplementalGroups {
		for _, msg := range validation.IsValidGroupID(gid) {
			errs = append(errs, field.Invalid(p.child("supplementalGroups").Index(i), gid, msg))
		}
	}
	if len(sc.Sysctls) > 0 {
		errs = append(errs, validateSysctls(sc.Sysctls, p.child("sysctls"))...)
	}
	if pol := sc.FSGroupChangePolicy; pol != nil && *pol != FSGroupChangeOnRootMismatch && *pol != FSGroupChangeAlways {
		errs = append(errs, field.NotSupported(p.child("fsGroupChangePolicy"), *pol,
			[]string{FSGroupChangeAlways, FSGroupChangeOnRootMismatch}))
	}
	if sc.SeccompProfile != nil {
		errs = append(errs, validateSeccompProfile(sc.SeccompProfile, p.child("seccompProfile"))...)
	}
	if sc.AppArmorProfile != nil {
		errs = append(errs, validateAppArmorProfile(sc.AppArmorProfile, p.child("appArmorProfile"))...)
	}
	if sc.SELinuxOptions != nil {
		errs = append(errs, field.Forbidden(p.child("seLinuxOptions"), notYet("SELinux")))
	}
	return errs
}

// validateSecurityContext applies Kubernetes' ValidateSecurityContext (and
// its checks of seccompProfile, appArmorProfile and procMount) to a
// container's securityContext, and refuses what orch's nodes cannot honour.
func validateSecurityContext(sc *SecurityContext, p *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	errs := validateIDs(sc.RunAsUser, sc.RunAsGroup, func() *field.Path { return p })
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if sc.Privileged != nil && *sc.Privileged {
			errs = append(errs, field.Invalid(p, field.OmitValueType{}, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		if sc.Capabilities != nil && slices.Contains(sc.Capabilities.Add, "CAP_SYS_ADMIN") {
			errs = append(errs, field.Invalid(p, field.OmitValueType{}, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
		}
	}
	if pm := sc.ProcMount; pm != nil {
		switch *pm {
		case ProcMountDefault:
		case ProcMountUnmasked:
			// Kubernetes allows it only in a user namespace (hostUsers:
			// false), which orch does not offer.
			errs = append(errs, field.Invalid(p.Child("procMount"), *pm, "`hostUsers` must be false to use `Unmasked`"))
		default:
			errs = append(errs, field.NotSupported(p.Child("procMount"), *pm, []string{ProcMountDefault, ProcMountUnmasked}))
		}
	}
	if sc.SeccompProfile != nil {
		errs = append(errs, validateSeccompProfile(sc.SeccompProfile, p.Child("seccompProfile"))...)
	}
	if sc.AppArmorProfile != nil {
		errs = append(errs, validateAppArmorProfile(sc.AppArmorProfile, p.Child("appArmorProfile"))...)
	}
	if sc.SELinuxOptions != nil {
		errs = append(errs, field.Forbidden(p.Child("seLinuxOptions"), notYet("SELinux")))
	}
	return errs
}

// validateIDs checks the runAsUser and runAsGroup of the security context
// at the path p makes (built only for an error).
func validateIDs(uid, gid *int64, p pathFn) field.ErrorList {
	var errs field.ErrorList
	if uid != nil {
		for _, msg := range validation.IsValidUserID(*uid) {
			errs = append(errs, field.Invalid(p.child("runAsUser"), *uid, msg))
		}
	}
	if gid != nil {
		for _, msg := range validation.IsValidGroupID(*gid) {
			errs = append(errs, field.Invalid(p.child("runAsGroup"), *gid, msg))
		}
	}
	return errs
}

// validateSysctls checks names as Kubernetes does (valid, not repeated),
// then refuses the sysctls outside the safe set: Kubernetes' API accepts
// them and the kubelet refuses the pod (SysctlForbidden) unless it was
// started with --allowed-unsafe-sysctls, which orch's nodes do not offer.
func validateSysctls(sysctls []Sysctl, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, s := range sysctls {
		np := p.Index(i).Child("name")
		switch {
		case s.Name == "":
			errs = append(errs, field.Required(np, ""))
		case len(s.Name) > sysctlMaxLength || !sysctlContainSlashRegexp.MatchString(s.Name):
			errs = append(errs, field.Invalid(np, s.Name,
				fmt.Sprintf("must have at most %d characters and match regex %s", sysctlMaxLength, sysctlContainSlashFmt)))
		case names[SysctlDotted(s.Name)]:
			errs = append(errs, field.Duplicate(np, s.Name))
		case !slices.Contains(SafeSysctls(), SysctlDotted(s.Name)):
			errs = append(errs, field.Forbidden(np, notYet("unsafe sysctls")+" (the safe ones are "+strings.Join(SafeSysctls(), ", ")+")"))
		}
		names[SysctlDotted(s.Name)] = true
	}
	return errs
}

// validateSeccompProfile is Kubernetes' validateSeccompProfileField.
func validateSeccompProfile(sp *SeccompProfile, p *field.Path) field.ErrorList {
	if sp == nil {
		return nil
	}
	var errs field.ErrorList
	types := []string{SeccompProfileTypeLocalhost, SeccompProfileTypeRuntimeDefault, SeccompProfileTypeUnconfined}
	switch sp.Type {
	case SeccompProfileTypeLocalhost, SeccompProfileTypeRuntimeDefault, SeccompProfileTypeUnconfined:
	case "":
		errs = append(errs, field.Required(p.Child("type"), "type is required when seccompProfile is set"))
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), sp.Type, types))
	}
	if sp.Type == SeccompProfileTypeLocalhost {
		if sp.LocalhostProfile == nil {
			errs = append(errs, field.Required(p.Child("localhostProfile"), "must be set when seccomp type is Localhost"))
		} else {
			errs = append(errs, validateLocalDescendingPath(*sp.LocalhostProfile, p.Child("localhostProfile"))...)
		}
	} else if sp.LocalhostProfile != nil {
		errs = append(errs, field.Invalid(p.Child("localhostProfile"), *sp.LocalhostProfile, "can only be set when seccomp type is Localhost"))
	}
	return errs
}

// validateAppArmorProfile is Kubernetes' validateAppArmorProfileField,
// followed by what the kubelet does on a host without AppArmor: it refuses
// a pod that asks for any profile but Unconfined.
func validateAppArmorProfile(ap *AppArmorProfile, p *field.Path) field.ErrorList {
	if ap == nil {
		return nil
	}
	var errs field.ErrorList
	types := []string{AppArmorProfileTypeLocalhost, AppArmorProfileTypeRuntimeDefault, AppArmorProfileTypeUnconfined}
	switch ap.Type {
	case AppArmorProfileTypeLocalhost, AppArmorProfileTypeRuntimeDefault:
		errs = append(errs, field.Forbidden(p.Child("type"), "Cannot enforce AppArmor: AppArmor is not enabled on the host"))
	case AppArmorProfileTypeUnconfined:
	case "":
		errs = append(errs, field.Required(p.Child("type"), "type is required when appArmorProfile is set"))
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), ap.Type, types))
	}
	if ap.Type == AppArmorProfileTypeLocalhost {
		if ap.LocalhostProfile == nil || strings.TrimSpace(*ap.LocalhostProfile) == "" {
			errs = append(errs, field.Required(p.Child("localhostProfile"), "must be set when AppArmor type is Localhost"))
		}
	} else if ap.LocalhostProfile != nil {
		errs = append(errs, field.Invalid(p.Child("localhostProfile"), *ap.LocalhostProfile, "can only be set when AppArmor type is Localhost"))
	}
	return errs
}
