package v1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Quantity is a resource amount such as "250m" or "64Mi".
type Quantity = resource.Quantity

// IntOrString holds a port number or a port name.
type IntOrString = intstr.IntOrString

// ResourceName names a resource (cpu, memory, pods).
type ResourceName string

// Resource names.
const (
	ResourceCPU    ResourceName = "cpu"
	ResourceMemory ResourceName = "memory"
	ResourcePods   ResourceName = "pods"
)

// ResourceList maps resource names to amounts.
type ResourceList map[ResourceName]Quantity

// Pod is a group of containers that share a network namespace and run on one node.
type Pod struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       PodSpec   `json:"spec"`
	Status     PodStatus `json:"status,omitempty"`
}

// Restart policies.
const (
	RestartAlways    = "Always"
	RestartOnFailure = "OnFailure"
	RestartNever     = "Never"
)

// PodSpec is the desired state of a pod.
type PodSpec struct {
	Volumes                       []Volume            `json:"volumes,omitempty" patchStrategy:"merge,retainKeys" patchMergeKey:"name"`
	InitContainers                []Container         `json:"initContainers,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	Containers                    []Container         `json:"containers" patchStrategy:"merge" patchMergeKey:"name"`
	RestartPolicy                 string              `json:"restartPolicy,omitempty"`
	TerminationGracePeriodSeconds *int64              `json:"terminationGracePeriodSeconds,omitempty"`
	ActiveDeadlineSeconds         *int64              `json:"activeDeadlineSeconds,omitempty"`
	DNSPolicy                     string              `json:"dnsPolicy,omitempty"`
	NodeSelector                  map[string]string   `json:"nodeSelector,omitempty"`
	ServiceAccountName            string              `json:"serviceAccountName,omitempty"`
	DeprecatedServiceAccount      string              `json:"serviceAccount,omitempty"`
	AutomountServiceAccountToken  *bool               `json:"automountServiceAccountToken,omitempty"`
	NodeName                      string              `json:"nodeName,omitempty"`
	HostNetwork                   bool                `json:"hostNetwork,omitempty"`
	HostPID                       bool                `json:"hostPID,omitempty"`
	HostIPC                       bool                `json:"hostIPC,omitempty"`
	SecurityContext               *PodSecurityContext `json:"securityContext,omitempty"`
	Hostname                      string              `json:"hostname,omitempty"`
	Subdomain                     string              `json:"subdomain,omitempty"`
	SchedulerName                 string              `json:"schedulerName,omitempty"`
	Tolerations                   []Toleration        `json:"tolerations,omitempty"`
	Priority                      *int32              `json:"priority,omitempty"`
	PriorityClassName             string              `json:"priorityClassName,omitempty"`
	EnableServiceLinks            *bool               `json:"enableServiceLinks,omitempty"`
	ImagePullSecrets              []LocalObjectRef    `json:"imagePullSecrets,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// ShareProcessNamespace puts all the pod's containers in one PID
	// namespace: each sees the others' processes. The pod's first
	// container is PID 1 of that namespace. Cannot be set with hostPID.
	ShareProcessNamespace *bool `json:"shareProcessNamespace,omitempty"`
	// EphemeralContainers run in the running pod for debugging (kubectl
	// debug). They are added through the pods/ephemeralcontainers
	// subresource only, never changed or removed, and never restarted.
	EphemeralContainers []EphemeralContainer `json:"ephemeralContainers,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// Affinity is the pod's scheduling constraints: node affinity, pod
	// affinity and pod anti-affinity.
	Affinity *Affinity `json:"affinity,omitempty"`
	// TopologySpreadConstraints spread the pod's group evenly over
	// topology domains (zones, nodes); all of them apply.
	TopologySpreadConstraints []TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty" patchStrategy:"merge" patchMergeKey:"topologyKey"`
}

// EphemeralContainerCommon holds a container's fields as an ephemeral
// container has them; ports, probes and resources are refused.
type EphemeralContainerCommon Container

// EphemeralContainer is a temporary container added to a running pod for
// debugging. The node starts it once and never restarts it.
type EphemeralContainer struct {
	EphemeralContainerCommon `json:",inline"`
	// TargetContainerName names a container of the pod whose PID namespace
	// the ephemeral container joins (it sees that container's processes).
	// Empty: the ephemeral container has the pod's (or its own) PID namespace.
	TargetContainerName string `json:"targetContainerName,omitempty"`
}

// LocalObjectRef names an object in the same namespace.
type LocalObjectRef struct {
	Name string `json:"name,omitempty"`
}

// Volume is a directory shared by a pod's containers.
type Volume struct {
	Name     string                `json:"name"`
	EmptyDir *EmptyDirVolumeSource `json:"emptyDir,omitempty"`
	HostPath *HostPathVolumeSource `json:"hostPath,omitempty"`
	// Projected holds the service account token volume (see projected.go).
	Projected *ProjectedVolumeSource `json:"projected,omitempty"`
	// ConfigMap makes files of a ConfigMap's keys (see configmap_pod.go).
	ConfigMap *ConfigMapVolumeSource `json:"configMap,omitempty"`
	// Secret makes files of a Secret's keys, on a tmpfs (see secret_pod.go).
	Secret *SecretVolumeSource `json:"secret,omitempty"`
	// DownwardAPI makes files of fields of the pod (see downward.go).
	DownwardAPI *DownwardAPIVolumeSource `json:"downwardAPI,omitempty"`
}

// EmptyDirVolumeSource is a volume that starts empty and lives as long as the pod.
type EmptyDirVolumeSource struct {
	Medium    string    `json:"medium,omitempty"`
	SizeLimit *Quantity `json:"sizeLimit,omitempty"`
}

// Image pull policies.
const (
	PullAlways       = "Always"
	PullIfNotPresent = "IfNotPresent"
	PullNever        = "Never"
)

// Container is one process tree of a pod.
type Container struct {
	// Name of the container, a DNS label unique within the pod. Cannot be updated.
	Name string `json:"name"`
	// The container image to run, as a reference the node's containerd pulls
	// ("busybox", "registry.example/app:1.2", "app@sha256:..."). Only the
	// image may change once the pod exists.
	Image string `json:"image,omitempty"`
	// Entrypoint, replacing the image's ENTRYPOINT; not run in a shell.
	// $(VAR) references to the container's environment are expanded.
	Command []string `json:"command,omitempty"`
	// Arguments to the entrypoint, replacing the image's CMD; $(VAR)
	// references are expanded as in command.
	Args []string `json:"args,omitempty"`
	// Working directory of the entrypoint; the image's when empty.
	WorkingDir string `json:"workingDir,omitempty"`
	// Ports the container listens on, for information and for hostPort
	// mappings, which the node programs and the scheduler keeps apart.
	Ports []ContainerPort `json:"ports,omitempty" patchStrategy:"merge" patchMergeKey:"containerPort"`
	// Environment variables taken from ConfigMaps and Secrets, every key a variable
	// (with an optional prefix); env, set after them, wins a clash.
	EnvFrom []EnvFromSource `json:"envFrom,omitempty"`
	// Environment variables, set in order; valueFrom.fieldRef reads the
	// pod's own fields (metadata.name, status.podIP, ...) and
	// valueFrom.configMapKeyRef a key of a ConfigMap, valueFrom.secretKeyRef
	// a key of a Secret.
	Env []EnvVar `json:"env,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// Compute resources: requests are what the scheduler reserves on a
	// node, limits are enforced by the node's cgroups.
	Resources ResourceRequirements `json:"resources,omitempty"`
	// Pod volumes mounted into the container's filesystem.
	VolumeMounts []VolumeMount `json:"volumeMounts,omitempty" patchStrategy:"merge" patchMergeKey:"mountPath"`
	// Probe of liveness: the node restarts the container when it fails.
	LivenessProbe *Probe `json:"livenessProbe,omitempty"`
	// Probe of readiness: a container that fails it leaves the pod not
	// Ready and out of its services' endpoints.
	ReadinessProbe *Probe `json:"readinessProbe,omitempty"`
	// Probe of startup: liveness and readiness wait until it succeeds.
	StartupProbe *Probe `json:"startupProbe,omitempty"`
	// Path of the termination message file; orch accepts only the default,
	// /dev/termination-log.
	TerminationMessagePath string `json:"terminationMessagePath,omitempty"`
	// How the termination message is read; orch accepts only File (the default).
	TerminationMessagePolicy string `json:"terminationMessagePolicy,omitempty"`
	// When the node pulls the image: Always, IfNotPresent or Never.
	// Defaults to Always for an image without a tag or tagged :latest,
	// IfNotPresent otherwise (and for a digest).
	ImagePullPolicy string `json:"imagePullPolicy,omitempty"`
	// Whether the container's process gets a stdin, which kubectl attach
	// writes to.
	Stdin bool `json:"stdin,omitempty"`
	// Whether stdin is closed after the first attach session ends.
	StdinOnce bool `json:"stdinOnce,omitempty"`
	// Whether the process gets a terminal (with stdin, as kubectl run -it).
	TTY bool `json:"tty,omitempty"`
	// Security options of the container, overriding the pod's.
	SecurityContext *SecurityContext `json:"securityContext,omitempty"`
}

// Protocols of ports.
const (
	ProtocolTCP  = "TCP"
	ProtocolUDP  = "UDP"
	ProtocolSCTP = "SCTP"
)

// ContainerPort is a port a container listens on.
type ContainerPort struct {
	Name          string `json:"name,omitempty"`
	HostPort      int32  `json:"hostPort,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol,omitempty"`
	HostIP        string `json:"hostIP,omitempty"`
}

// EnvVar is an environment variable of a container.
type EnvVar struct {
	Name      string        `json:"name"`
	Value     string        `json:"value,omitempty"`
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

// EnvVarSource takes a variable's value from the pod's own fields, a
// resource of a container or a key of a ConfigMap or a Secret; exactly
// one is set.
type EnvVarSource struct {
	FieldRef *ObjectFieldSelector `json:"fieldRef,omitempty"`
	// ResourceFieldRef is a resource of a container (see downward.go).
	ResourceFieldRef *ResourceFieldSelector `json:"resourceFieldRef,omitempty"`
	ConfigMapKeyRef  *ConfigMapKeySelector  `json:"configMapKeyRef,omitempty"`
	SecretKeyRef     *SecretKeySelector     `json:"secretKeyRef,omitempty"`
}

// ObjectFieldSelector selects a field of the pod, such as status.podIP.
type ObjectFieldSelector struct {
	APIVersion string `json:"apiVersion,omitempty"`
	FieldPath  string `json:"fieldPath"`
}

// ResourceRequirements are the requests (for scheduling) and limits (enforced).
type ResourceRequirements struct {
	Limits   ResourceList `json:"limits,omitempty"`
	Requests ResourceList `json:"requests,omitempty"`
}

// VolumeMount mounts a pod volume into a container.
type VolumeMount struct {
	Name      string `json:"name"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	MountPath string `json:"mountPath"`
	SubPath   string `json:"subPath,omitempty"`
}

// Probe checks a container's health.
type Probe struct {
	ProbeHandler                  `json:",inline"`
	InitialDelaySeconds           int32  `json:"initialDelaySeconds,omitempty"`
	TimeoutSeconds                int32  `json:"timeoutSeconds,omitempty"`
	PeriodSeconds                 int32  `json:"periodSeconds,omitempty"`
	SuccessThreshold              int32  `json:"successThreshold,omitempty"`
	FailureThreshold              int32  `json:"failureThreshold,omitempty"`
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
}

// ProbeHandler is what a probe does: exactly one of its fields is set.
type ProbeHandler struct {
	Exec      *ExecAction      `json:"exec,omitempty"`
	HTTPGet   *HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket *TCPSocketAction `json:"tcpSocket,omitempty"`
}

// ExecAction runs a command in the container; exit 0 is success.
type ExecAction struct {
	Command []string `json:"command,omitempty"`
}

// HTTPGetAction sends an HTTP GET; 200–399 is success.
type HTTPGetAction struct {
	Path        string       `json:"path,omitempty"`
	Port        IntOrString  `json:"port"`
	Host        string       `json:"host,omitempty"`
	Scheme      string       `json:"scheme,omitempty"`
	HTTPHeaders []HTTPHeader `json:"httpHeaders,omitempty"`
}

// HTTPHeader is one header of an HTTP probe.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TCPSocketAction opens a TCP connection; a connection is success.
type TCPSocketAction struct {
	Port IntOrString `json:"port"`
	Host string      `json:"host,omitempty"`
}

// Toleration lets a pod be scheduled onto a node with a matching taint.
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// Pod phases.
const (
	PodPending   = "Pending"
	PodRunning   = "Running"
	PodSucceeded = "Succeeded"
	PodFailed    = "Failed"
	PodUnknown   = "Unknown"
)

// Pod condition types.
const (
	PodScheduled    = "PodScheduled"
	PodReady        = "Ready"
	ContainersReady = "ContainersReady"
	PodInitialized  = "Initialized"
)

// Condition statuses.
const (
	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"
)

// PodStatus is the observed state of a pod, reported by its node and the scheduler.
type PodStatus struct {
	Phase      string         `json:"phase,omitempty"`
	Conditions []PodCondition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
	Message    string         `json:"message,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	HostIP     string         `json:"hostIP,omitempty"`
	PodIP      string         `json:"podIP,omitempty"`
	PodIPs     []PodIP        `json:"podIPs,omitempty" patchStrategy:"merge" patchMergeKey:"ip"`
	StartTime  *Time          `json:"startTime,omitempty"`
	// InitContainerStatuses has one entry per init container, in spec order.
	InitContainerStatuses []ContainerStatus `json:"initContainerStatuses,omitempty"`
	ContainerStatuses     []ContainerStatus `json:"containerStatuses,omitempty"`
	QOSClass              string            `json:"qosClass,omitempty"`
	// EphemeralContainerStatuses has one entry per ephemeral container
	// the node has seen, in spec order.
	EphemeralContainerStatuses []ContainerStatus `json:"ephemeralContainerStatuses,omitempty"`
}

// PodIP is one address of a pod.
type PodIP struct {
	IP string `json:"ip"`
}

// PodCondition is one condition of a pod.
type PodCondition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	LastProbeTime      Time   `json:"lastProbeTime,omitempty"`
	LastTransitionTime Time   `json:"lastTransitionTime,omitempty"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
}

// ContainerStatus is the observed state of one container.
type ContainerStatus struct {
	Name         string         `json:"name"`
	State        ContainerState `json:"state,omitempty"`
	LastState    ContainerState `json:"lastState,omitempty"`
	Ready        bool           `json:"ready"`
	RestartCount int32          `json:"restartCount"`
	Image        string         `json:"image"`
	ImageID      string         `json:"imageID"`
	ContainerID  string         `json:"containerID,omitempty"`
	Started      *bool          `json:"started,omitempty"`
}

// ContainerState is exactly one of waiting, running or terminated.
type ContainerState struct {
	Waiting    *ContainerStateWaiting    `json:"waiting,omitempty"`
	Running    *ContainerStateRunning    `json:"running,omitempty"`
	Terminated *ContainerStateTerminated `json:"terminated,omitempty"`
}

// ContainerStateWaiting says why a container is not running yet.
type ContainerStateWaiting struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ContainerStateRunning says since when a container runs.
type ContainerStateRunning struct {
	StartedAt Time `json:"startedAt,omitempty"`
}

// ContainerStateTerminated says how a container ended.
type ContainerStateTerminated struct {
	ExitCode    int32  `json:"exitCode"`
	Signal      int32  `json:"signal,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Message     string `json:"message,omitempty"`
	StartedAt   Time   `json:"startedAt,omitempty"`
	FinishedAt  Time   `json:"finishedAt,omitempty"`
	ContainerID string `json:"containerID,omitempty"`
}

// Condition returns the pod condition of the given type, or nil.
func (s *PodStatus) Condition(t string) *PodCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// IsReady reports whether the pod's Ready condition is True.
func (p *Pod) IsReady() bool {
	c := p.Status.Condition(PodReady)
	return c != nil && c.Status == ConditionTrue
}

// PodTemplateSpec is the pod a controller creates.
type PodTemplateSpec struct {
	ObjectMeta `json:"metadata,omitempty"`
	Spec       PodSpec `json:"spec,omitempty"`
}
