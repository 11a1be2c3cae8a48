package v1

import "strings"

// Default values.
const (
	DefaultNamespace                     = "default"
	DefaultTerminationGracePeriodSeconds = int64(30)
	DefaultSessionAffinityTimeoutSeconds = int32(10800)
	// DefaultSchedulerName is the scheduler that places pods that name none.
	DefaultSchedulerName = "default-scheduler"
)

// Default fills unset fields of obj with the values Kubernetes would use.
// It is applied by the API server before validation, never in the FSM.
func Default(obj Object) {
	SetTypeMeta(obj)
	switch o := obj.(type) {
	case *Namespace:
		if o.Status.Phase == "" {
			o.Status.Phase = NamespaceActive
		}
	case *Pod:
		DefaultPodSpec(&o.Spec)
		defaultHostNetworkPorts(&o.Spec)
		if o.Status.Phase == "" {
			o.Status.Phase = PodPending
		}
	case *ReplicationController:
		defaultRC(o)
	case *Job:
		defaultJob(o)
	case *CronJob:
		defaultCronJob(o)
	case *ReplicaSet:
		defaultReplicaSet(o)
	case *Deployment:
		defaultDeployment(o)
	case *DaemonSet:
		defaultDaemonSet(o)
	case *StatefulSet:
		defaultStatefulSet(o)
	case *Service:
		defaultService(o)
	case *LimitRange:
		defaultLimitRange(o)
	case *Secret:
		defaultSecret(o)
	case *EndpointSlice:
		defaultEndpointSlice(o)
	case *RoleBinding:
		defaultRoleRef(&o.RoleRef)
		defaultSubjects(o.Subjects)
	case *ClusterRoleBinding:
		defaultRoleRef(&o.RoleRef)
		defaultSubjects(o.Subjects)
	case *Endpoints:
		for i := range o.Subsets {
			for j := range o.Subsets[i].Ports {
				if o.Subsets[i].Ports[j].Protocol == "" {
					o.Subsets[i].Ports[j].Protocol = ProtocolTCP
				}
			}
		}
	}
}

// DefaultPodSpec fills the defaults of a pod spec (also used for RC templates).
func DefaultPodSpec(s *PodSpec) {
	if s.RestartPolicy == "" {
		s.RestartPolicy = RestartAlways
	}
	if s.TerminationGracePeriodSeconds == nil {
		g := DefaultTerminationGracePeriodSeconds
		s.TerminationGracePeriodSeconds = &g
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = "ClusterFirst"
	}
	if s.SchedulerName == "" {
		s.SchedulerName = DefaultSchedulerName
	}
	if s.SecurityContext == nil {
		// As Kubernetes, whose pods always have one ({} at least):
		// clients such as kubectl debug read it without a nil check.
		s.SecurityContext = &PodSecurityContext{}
	}
	for i := range s.Volumes {
		defaultVolume(&s.Volumes[i])
	}
	defaultContainers(s.InitContainers)
	defaultContainers(s.Containers)
	for i := range s.EphemeralContainers {
		c := []Container{Container(s.EphemeralContainers[i].EphemeralContainerCommon)}
		defaultContainers(c)
		s.EphemeralContainers[i].EphemeralContainerCommon = EphemeralContainerCommon(c[0])
	}
}

func defaultContainers(cs []Container) {
	for i := range cs {
		c := &cs[i]
		if c.ImagePullPolicy == "" {
			c.ImagePullPolicy = defaultPullPolicy(c.Image)
		}
		if c.TerminationMessagePath == "" {
			c.TerminationMessagePath = "/dev/termination-log"
		}
		if c.TerminationMessagePolicy == "" {
			c.TerminationMessagePolicy = "File"
		}
		for j := range c.Ports {
			if c.Ports[j].Protocol == "" {
				c.Ports[j].Protocol = ProtocolTCP
			}
		}
		for _, p := range []*Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			defaultProbe(p)
		}
	}
}

// defaultPullPolicy is Always for :latest or untagged images, else IfNotPresent.
func defaultPullPolicy(image string) string {
	if strings.Contains(image, "@") {
		return PullIfNotPresent
	}
	name := image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	if !strings.Contains(name, ":") || strings.HasSuffix(name, ":latest") {
		return PullAlways
	}
	return PullIfNotPresent
}

func defaultProbe(p *Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	if p.HTTPGet != nil {
		if p.HTTPGet.Path == "" {
			p.HTTPGet.Path = "/"
		}
		if p.HTTPGet.Scheme == "" {
			p.HTTPGet.Scheme = "HTTP"
		}
	}
}

func defaultRC(rc *ReplicationController) {
	if rc.Spec.Replicas == nil {
		one := int32(1)
		rc.Spec.Replicas = &one
	}
	if t := rc.Spec.Template; t != nil {
		if len(rc.Spec.Selector) == 0 && len(t.Labels) > 0 {
			rc.Spec.Selector = make(map[string]string, len(t.Labels))
			for k, v := range t.Labels {
				rc.Spec.Selector[k] = v
			}
		}
		if len(rc.Labels) == 0 && len(t.Labels) > 0 {
			rc.Labels = make(map[string]string, len(t.Labels))
			for k, v := range t.Labels {
				rc.Labels[k] = v
			}
		}
		DefaultPodSpec(&t.Spec)
	}
}

func defaultService(s *Service) {
	if s.Spec.Type == "" {
		s.Spec.Type = ServiceTypeClusterIP
	}
	if s.Spec.SessionAffinity == "" {
		s.Spec.SessionAffinity = AffinityNone
	}
	if s.Spec.SessionAffinity == AffinityClientIP {
		if s.Spec.SessionAffinityConfig == nil {
			s.Spec.SessionAffinityConfig = &SessionAffinityConfig{}
		}
		if s.Spec.SessionAffinityConfig.ClientIP == nil {
			s.Spec.SessionAffinityConfig.ClientIP = &ClientIPConfig{}
		}
		if s.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			t := DefaultSessionAffinityTimeoutSeconds
			s.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds = &t
		}
	}
	for i := range s.Spec.Ports {
		p := &s.Spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = ProtocolTCP
		}
		if p.TargetPort.Type == 0 && p.TargetPort.IntVal == 0 {
			p.TargetPort.IntVal = p.Port
		}
	}
}
