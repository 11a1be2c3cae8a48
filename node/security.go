package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "orch.io/orch/api/v1"
)

// Seccomp modes of a ContainerSecurity.
const (
	// SeccompRuntimeDefault is containerd's default profile (the CRI
	// plugin's RuntimeDefault); the zero value of ContainerSecurity.Seccomp
	// means it too, so a container never runs unfiltered by omission.
	SeccompRuntimeDefault = v1.SeccompProfileTypeRuntimeDefault
	// SeccompUnconfined runs the container without a seccomp filter.
	SeccompUnconfined = v1.SeccompProfileTypeUnconfined
	// SeccompLocalhost loads the JSON profile at SeccompProfilePath.
	SeccompLocalhost = v1.SeccompProfileTypeLocalhost
)

// ContainerSecurity is a container's effective security settings (the
// container's securityContext over its pod's), in the terms the runtime
// applies them, as the kubelet hands them to a CRI runtime.
type ContainerSecurity struct {
	// RunAsUser and RunAsGroup override the image's USER when set.
	RunAsUser, RunAsGroup *int64
	// SupplementalGroups are the pod's supplementalGroups and its fsGroup,
	// added to the groups the image's /etc/group gives the user.
	SupplementalGroups []int64
	// Privileged gives every capability and the host's devices, leaves
	// /proc and /sys unmasked and writable, and no seccomp filter.
	Privileged bool
	// ReadOnlyRootFilesystem mounts the image's root filesystem read-only.
	ReadOnlyRootFilesystem bool
	// NoNewPrivileges is allowPrivilegeEscalation: false.
	NoNewPrivileges bool
	// CapAdd and CapDrop change the runtime's default capabilities; names
	// are Kubernetes' (NET_ADMIN, without CAP_), "ALL" meaning every one.
	CapAdd, CapDrop []string
	// Seccomp is one of the Seccomp* modes; "" is SeccompRuntimeDefault.
	Seccomp string
	// SeccompProfilePath is the profile file of SeccompLocalhost.
	SeccompProfilePath string
	// Sysctls are set in the pod's namespaces, names with dots.
	Sysctls map[string]string
}

// effectiveSecurityContext merges a container's securityContext over its
// pod's, as the kubelet's DetermineEffectiveSecurityContext: the pod gives
// the user, group, runAsNonRoot, seccomp and AppArmor profiles that the
// container does not set itself.
func effectiveSecurityContext(pod *v1.Pod, c *v1.Container) *v1.SecurityContext {
	var sc v1.SecurityContext
	if c.SecurityContext != nil {
		sc = *c.SecurityContext
	}
	if p := pod.Spec.SecurityContext; p != nil {
		if sc.SELinuxOptions == nil {
			sc.SELinuxOptions = p.SELinuxOptions
		}
		if sc.RunAsUser == nil {
			sc.RunAsUser = p.RunAsUser
		}
		if sc.RunAsGroup == nil {
			sc.RunAsGroup = p.RunAsGroup
		}
		if sc.RunAsNonRoot == nil {
			sc.RunAsNonRoot = p.RunAsNonRoot
		}
		if sc.SeccompProfile == nil {
			sc.SeccompProfile = p.SeccompProfile
		}
		if sc.AppArmorProfile == nil {
			sc.AppArmorProfile = p.AppArmorProfile
		}
	}
	return &sc
}

// containerSecurity translates the container's effective security context
// into what the runtime applies. A Localhost seccomp profile is a file
// under the node's seccomp directory and must exist.
func (a *Agent) containerSecurity(pod *v1.Pod, c *v1.Container) (ContainerSecurity, error) {
	sc := effectiveSecurityContext(pod, c)
	out := ContainerSecurity{
		RunAsUser:              sc.RunAsUser,
		RunAsGroup:             sc.RunAsGroup,
		Privileged:             sc.Privileged != nil && *sc.Privileged,
		ReadOnlyRootFilesystem: sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem,
		// The kubelet's AddNoNewPrivileges: only an explicit false.
		NoNewPrivileges: sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
		Seccomp:         SeccompRuntimeDefault,
	}
	if sc.ProcMount != nil && *sc.ProcMount != v1.ProcMountDefault {
		// The API refuses it; a pod stored before that change is not run
		// with an unmasked /proc.
		return out, fmt.Errorf("procMount %s is not supported", *sc.ProcMount)
	}
	if caps := sc.Capabilities; caps != nil {
		for _, c := range caps.Add {
			out.CapAdd = append(out.CapAdd, string(c))
		}
		for _, c := range caps.Drop {
			out.CapDrop = append(out.CapDrop, string(c))
		}
	}
	if p := sc.SeccompProfile; p != nil {
		switch p.Type {
		case v1.SeccompProfileTypeRuntimeDefault:
		case v1.SeccompProfileTypeUnconfined:
			out.Seccomp = SeccompUnconfined
		case v1.SeccompProfileTypeLocalhost:
			path, err := a.seccompProfilePath(p.LocalhostProfile)
			if err != nil {
				return out, err
			}
			out.Seccomp, out.SeccompProfilePath = SeccompLocalhost, path
		default:
			return out, fmt.Errorf("seccomp profile type %q is not supported", p.Type)
		}
	}
	if p := sc.AppArmorProfile; p != nil && p.Type != v1.AppArmorProfileTypeUnconfined {
		return out, errors.New("cannot enforce AppArmor: AppArmor is not enabled on the host")
	}
	if sc.SELinuxOptions != nil {
		return out, errors.New("cannot enforce SELinux options: SELinux is not enabled on the host")
	}
	if psc := pod.Spec.SecurityContext; psc != nil {
		out.SupplementalGroups = append(out.SupplementalGroups, psc.SupplementalGroups...)
		if psc.FSGroup != nil {
			out.SupplementalGroups = append(out.SupplementalGroups, *psc.FSGroup)
		}
		for _, s := range psc.Sysctls {
			name := v1.SysctlDotted(s.Name)
			// The kubelet's sysctl admission: a sysctl of a namespace the
			// pod shares with the host would change the host.
			if pod.Spec.HostNetwork && strings.HasPrefix(name, "net.") {
				return out, fmt.Errorf("forbidden sysctl: %q not allowed with host net enabled", s.Name)
			}
			if pod.Spec.HostIPC && isIPCSysctl(name) {
				return out, fmt.Errorf("forbidden sysctl: %q not allowed with host ipc enabled", s.Name)
			}
			if out.Sysctls == nil {
				out.Sysctls = map[string]string{}
			}
			out.Sysctls[name] = s.Value
		}
	}
	return out, nil
}

// isIPCSysctl reports whether a sysctl belongs to the IPC namespace (the
// kubelet's namespace table: kernel.shm*, kernel.msg*, kernel.sem,
// fs.mqueue.*).
func isIPCSysctl(name string) bool {
	return strings.HasPrefix(name, "kernel.shm") || strings.HasPrefix(name, "kernel.msg") ||
		name == "kernel.sem" || strings.HasPrefix(name, "fs.mqueue.")
}

// seccompProfilePath is where a Localhost profile lives on the node: the
// profile's relative path under the node's seccomp directory, as the
// kubelet's <root-dir>/seccomp/<localhostProfile>.
func (a *Agent) seccompProfilePath(profile *string) (string, error) {
	if profile == nil || *profile == "" {
		return "", errors.New("seccomp profile type Localhost needs localhostProfile")
	}
	root := a.cfg.SeccompProfileRoot
	path := filepath.Join(root, *profile)
	if rel, err := filepath.Rel(root, path); err != nil || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(*profile) {
		return "", fmt.Errorf("seccomp profile %q is not a path under %s", *profile, root)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("seccomp profile %q: %w", *profile, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("seccomp profile %q: %s is not a regular file", *profile, path)
	}
	return path, nil
}

// verifyRunAsNonRoot is the kubelet's check before it creates a container
// whose effective securityContext says runAsNonRoot: the user it will run
// as (runAsUser, else the image's USER, root when the image has none) must
// be a numeric, non-zero uid. imageUser is the image config's USER
// ("name", "uid", "uid:gid").
func verifyRunAsNonRoot(pod *v1.Pod, c *v1.Container, imageUser string) error {
	sc := effectiveSecurityContext(pod, c)
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		return nil
	}
	who := fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
	if sc.RunAsUser != nil {
		if *sc.RunAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", who, c.Name)
		}
		return nil
	}
	user, _, _ := strings.Cut(imageUser, ":")
	if user == "" {
		user = "0" // an image without USER runs as root
	}
	uid, err := strconv.ParseInt(user, 10, 64)
	switch {
	case err != nil:
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", user, who, c.Name)
	case uid == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", who, c.Name)
	case uid < 0 || uid > 2147483647:
		return fmt.Errorf("container has runAsNonRoot and image has an invalid user id (%d). (Must be 1-(2147483647)) (pod: %q, container: %s)", uid, who, c.Name)
	}
	return nil
}
