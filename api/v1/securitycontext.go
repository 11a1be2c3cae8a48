package v1

// PodSecurityContext holds the security settings of every container of a
// pod, as Kubernetes' core/v1 PodSecurityContext. A container's own
// SecurityContext overrides the fields both have.
type PodSecurityContext struct {
	SELinuxOptions      *SELinuxOptions  `json:"seLinuxOptions,omitempty"`
	RunAsUser           *int64           `json:"runAsUser,omitempty"`
	RunAsGroup          *int64           `json:"runAsGroup,omitempty"`
	RunAsNonRoot        *bool            `json:"runAsNonRoot,omitempty"`
	SupplementalGroups  []int64          `json:"supplementalGroups,omitempty"`
	FSGroup             *int64           `json:"fsGroup,omitempty"`
	Sysctls             []Sysctl         `json:"sysctls,omitempty"`
	FSGroupChangePolicy *string          `json:"fsGroupChangePolicy,omitempty"`
	SeccompProfile      *SeccompProfile  `json:"seccompProfile,omitempty"`
	AppArmorProfile     *AppArmorProfile `json:"appArmorProfile,omitempty"`
}

// SecurityContext holds the security settings of one container, as
// Kubernetes' core/v1 SecurityContext.
type SecurityContext struct {
	Capabilities             *Capabilities    `json:"capabilities,omitempty"`
	Privileged               *bool            `json:"privileged,omitempty"`
	SELinuxOptions           *SELinuxOptions  `json:"seLinuxOptions,omitempty"`
	RunAsUser                *int64           `json:"runAsUser,omitempty"`
	RunAsGroup               *int64           `json:"runAsGroup,omitempty"`
	RunAsNonRoot             *bool            `json:"runAsNonRoot,omitempty"`
	ReadOnlyRootFilesystem   *bool            `json:"readOnlyRootFilesystem,omitempty"`
	AllowPrivilegeEscalation *bool            `json:"allowPrivilegeEscalation,omitempty"`
	ProcMount                *string          `json:"procMount,omitempty"`
	SeccompProfile           *SeccompProfile  `json:"seccompProfile,omitempty"`
	AppArmorProfile          *AppArmorProfile `json:"appArmorProfile,omitempty"`
}

// Capability is a Linux capability, named without its CAP_ prefix
// (NET_ADMIN) as Kubernetes names it.
type Capability string

// Capabilities are added to and dropped from the runtime's default set.
type Capabilities struct {
	Add  []Capability `json:"add,omitempty"`
	Drop []Capability `json:"drop,omitempty"`
}

// SELinuxOptions is the SELinux label of a container.
type SELinuxOptions struct {
	User  string `json:"user,omitempty"`
	Role  string `json:"role,omitempty"`
	Type  string `json:"type,omitempty"`
	Level string `json:"level,omitempty"`
}

// Sysctl is one namespaced kernel parameter set for a pod.
type Sysctl struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Seccomp profile types.
const (
	SeccompProfileTypeRuntimeDefault = "RuntimeDefault"
	SeccompProfileTypeUnconfined     = "Unconfined"
	SeccompProfileTypeLocalhost      = "Localhost"
)

// SeccompProfile chooses the seccomp filter of a container.
type SeccompProfile struct {
	Type             string  `json:"type"`
	LocalhostProfile *string `json:"localhostProfile,omitempty"`
}

// AppArmor profile types.
const (
	AppArmorProfileTypeRuntimeDefault = "RuntimeDefault"
	AppArmorProfileTypeUnconfined     = "Unconfined"
	AppArmorProfileTypeLocalhost      = "Localhost"
)

// AppArmorProfile chooses the AppArmor profile of a container.
type AppArmorProfile struct {
	Type             string  `json:"type"`
	LocalhostProfile *string `json:"localhostProfile,omitempty"`
}

// Proc mount types.
const (
	ProcMountDefault  = "Default"
	ProcMountUnmasked = "Unmasked"
)

// HostPathType is the check made of a hostPath volume's path before it is
// mounted, as Kubernetes' core/v1 HostPathType.
type HostPathType string

// Host path types.
const (
	HostPathUnset             HostPathType = ""
	HostPathDirectoryOrCreate HostPathType = "DirectoryOrCreate"
	HostPathDirectory         HostPathType = "Directory"
	HostPathFileOrCreate      HostPathType = "FileOrCreate"
	HostPathFile              HostPathType = "File"
	HostPathSocket            HostPathType = "Socket"
	HostPathCharDev           HostPathType = "CharDevice"
	HostPathBlockDev          HostPathType = "BlockDevice"
)

// HostPathVolumeSource mounts a file or directory of the node into a pod.
type HostPathVolumeSource struct {
	Path string        `json:"path"`
	Type *HostPathType `json:"type,omitempty"`
}
