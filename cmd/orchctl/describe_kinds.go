package main

import (
	"fmt"
	"sort"
	"strings"

	v1 "orch.io/orch/api/v1"
)

func describePod(d *descWriter, p *v1.Pod) {
	d.meta(&p.ObjectMeta, true)
	node := orNone(p.Spec.NodeName)
	if p.Spec.NodeName != "" && p.Status.HostIP != "" {
		node += "/" + p.Status.HostIP
	}
	d.line(0, "Node:\t%s", node)
	if p.Status.StartTime != nil {
		d.line(0, "Start Time:\t%s", d.timestamp(*p.Status.StartTime))
	}
	_, _, status, _ := podSummary(p, d.now)
	d.line(0, "Status:\t%s", status)
	if p.Status.Reason != "" {
		d.line(0, "Reason:\t%s", p.Status.Reason)
	}
	if p.Status.Message != "" {
		d.line(0, "Message:\t%s", p.Status.Message)
	}
	d.line(0, "IP:\t%s", orNone(p.Status.PodIP))
	if p.Status.QOSClass != "" {
		d.line(0, "QoS Class:\t%s", p.Status.QOSClass)
	}
	statuses := map[string]v1.ContainerStatus{}
	for _, cs := range p.Status.ContainerStatuses {
		statuses[cs.Name] = cs
	}
	if len(p.Spec.InitContainers) > 0 {
		d.line(0, "Init Containers:")
		inits := map[string]v1.ContainerStatus{}
		for _, cs := range p.Status.InitContainerStatuses {
			inits[cs.Name] = cs
		}
		for _, c := range p.Spec.InitContainers {
			var st *v1.ContainerStatus
			if s, ok := inits[c.Name]; ok {
				st = &s
			}
			describeContainer(d, 1, c, st)
		}
	}
	d.line(0, "Containers:")
	for _, c := range p.Spec.Containers {
		var st *v1.ContainerStatus
		if s, ok := statuses[c.Name]; ok {
			st = &s
		}
		describeContainer(d, 1, c, st)
	}
	if len(p.Status.Conditions) > 0 {
		d.line(0, "Conditions:")
		d.line(1, "Type\tStatus\tReason")
		for _, c := range p.Status.Conditions {
			d.line(1, "%s\t%s\t%s", c.Type, c.Status, c.Reason)
		}
	} else {
		d.line(0, "Conditions:\t%s", none)
	}
	if len(p.Spec.Volumes) > 0 {
		d.line(0, "Volumes:")
		for _, v := range p.Spec.Volumes {
			kind := "<unknown>"
			if v.EmptyDir != nil {
				kind = "EmptyDir (a temporary directory that shares a pod's lifetime)"
			}
			d.line(1, "%s:\t%s", v.Name, kind)
			if e := v.EmptyDir; e != nil {
				// As kubectl describe.
				d.line(2, "Medium:\t%s", e.Medium)
				limit := "<unset>"
				if e.SizeLimit != nil {
					limit = e.SizeLimit.String()
				}
				d.line(2, "SizeLimit:\t%s", limit)
			}
		}
	} else {
		d.line(0, "Volumes:\t%s", none)
	}
	d.mapLines(0, "Node-Selectors", p.Spec.NodeSelector)
	if len(p.Spec.Tolerations) > 0 {
		var ts []string
		for _, t := range p.Spec.Tolerations {
			s := t.Key
			if t.Operator == "Exists" {
				s += " op=Exists"
			} else if t.Value != "" {
				s += "=" + t.Value
			}
			if t.Effect != "" {
				s += ":" + t.Effect
			}
			ts = append(ts, s)
		}
		d.line(0, "Tolerations:\t%s", strings.Join(ts, ", "))
	}
}

func describeContainer(d *descWriter, base int, c v1.Container, st *v1.ContainerStatus) {
	d.line(base, "%s:", c.Name)
	if st != nil && st.ContainerID != "" {
		d.line(base+1, "Container ID:\t%s", st.ContainerID)
	}
	d.line(base+1, "Image:\t%s", c.Image)
	var ports []string
	for _, p := range c.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = v1.ProtocolTCP
		}
		ports = append(ports, fmt.Sprintf("%d/%s", p.ContainerPort, proto))
	}
	d.line(base+1, "Port(s):\t%s", orNone(strings.Join(ports, ", ")))
	if len(c.Command) > 0 {
		d.line(base+1, "Command:\t%s", strings.Join(c.Command, " "))
	}
	if len(c.Args) > 0 {
		d.line(base+1, "Args:\t%s", strings.Join(c.Args, " "))
	}
	if st != nil {
		describeState(d, base, "State", st.State)
		if st.LastState.Running != nil || st.LastState.Waiting != nil || st.LastState.Terminated != nil {
			describeState(d, base, "Last State", st.LastState)
		}
		d.line(base+1, "Ready:\t%v", st.Ready)
		d.line(base+1, "Restart Count:\t%d", st.RestartCount)
	}
	resources := func(title string, l v1.ResourceList) {
		if len(l) == 0 {
			return
		}
		var names []string
		for n := range l {
			names = append(names, string(n))
		}
		sort.Strings(names)
		d.line(base+1, "%s:", title)
		for _, n := range names {
			q := l[v1.ResourceName(n)]
			d.line(base+2, "%s:\t%s", n, q.String())
		}
	}
	resources("Limits", c.Resources.Limits)
	resources("Requests", c.Resources.Requests)
	if c.LivenessProbe != nil {
		d.line(base+1, "Liveness:\t%s", probeSummary(c.LivenessProbe))
	}
	if c.ReadinessProbe != nil {
		d.line(base+1, "Readiness:\t%s", probeSummary(c.ReadinessProbe))
	}
	if len(c.Env) > 0 {
		d.line(base+1, "Environment:")
		for _, e := range c.Env {
			v := e.Value
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
				v = fmt.Sprintf("(%s)", e.ValueFrom.FieldRef.FieldPath)
			}
			d.line(base+2, "%s:\t%s", e.Name, v)
		}
	} else {
		d.line(base+1, "Environment:\t%s", none)
	}
	if len(c.VolumeMounts) > 0 {
		d.line(base+1, "Mounts:")
		for _, m := range c.VolumeMounts {
			mode := "rw"
			if m.ReadOnly {
				mode = "ro"
			}
			d.line(base+2, "%s from %s (%s)", m.MountPath, m.Name, mode)
		}
	}
}

func describeState(d *descWriter, base int, title string, s v1.ContainerState) {
	switch {
	case s.Running != nil:
		d.line(base+1, "%s:\tRunning", title)
		d.line(base+2, "Started:\t%s", d.timestamp(s.Running.StartedAt))
	case s.Waiting != nil:
		d.line(base+1, "%s:\tWaiting", title)
		if s.Waiting.Reason != "" {
			d.line(base+2, "Reason:\t%s", s.Waiting.Reason)
		}
		if s.Waiting.Message != "" {
			d.line(base+2, "Message:\t%s", s.Waiting.Message)
		}
	case s.Terminated != nil:
		t := s.Terminated
		d.line(base+1, "%s:\tTerminated", title)
		if t.Reason != "" {
			d.line(base+2, "Reason:\t%s", t.Reason)
		}
		if t.Message != "" {
			d.line(base+2, "Message:\t%s", t.Message)
		}
		d.line(base+2, "Exit Code:\t%d", t.ExitCode)
		if t.Signal != 0 {
			d.line(base+2, "Signal:\t%d", t.Signal)
		}
		d.line(base+2, "Started:\t%s", d.timestamp(t.StartedAt))
		d.line(base+2, "Finished:\t%s", d.timestamp(t.FinishedAt))
	default:
		d.line(base+1, "%s:\tWaiting", title)
	}
}

func probeSummary(p *v1.Probe) string {
	var what string
	switch {
	case p.HTTPGet != nil:
		what = fmt.Sprintf("http-get %s:%s%s", orDefault(p.HTTPGet.Host, ""), p.HTTPGet.Port.String(), p.HTTPGet.Path)
	case p.TCPSocket != nil:
		what = "tcp-socket :" + p.TCPSocket.Port.String()
	case p.Exec != nil:
		what = "exec [" + strings.Join(p.Exec.Command, " ") + "]"
	default:
		what = "<unknown>"
	}
	return fmt.Sprintf("%s delay=%ds timeout=%ds period=%ds #success=%d #failure=%d", what,
		p.InitialDelaySeconds, p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func describeRC(d *descWriter, rc *v1.ReplicationController, pods []v1.Object) {
	d.meta(&rc.ObjectMeta, true)
	d.line(0, "Selector:\t%s", formatMap(rc.Spec.Selector))
	desired := int32(1)
	if rc.Spec.Replicas != nil {
		desired = *rc.Spec.Replicas
	}
	d.line(0, "Replicas:\t%d current / %d desired", rc.Status.Replicas, desired)
	var running, waiting, succeeded, failed int
	for _, obj := range pods {
		switch obj.(*v1.Pod).Status.Phase {
		case v1.PodRunning:
			running++
		case v1.PodSucceeded:
			succeeded++
		case v1.PodFailed:
			failed++
		default:
			waiting++
		}
	}
	d.line(0, "Pods Status:\t%d Running / %d Waiting / %d Succeeded / %d Failed", running, waiting, succeeded, failed)
	if t := rc.Spec.Template; t != nil {
		d.line(0, "Pod Template:")
		d.mapLines(1, "Labels", t.Labels)
		d.line(1, "Containers:")
		for _, c := range t.Spec.Containers {
			describeContainer(d, 2, c, nil)
		}
	}
	if len(rc.Status.Conditions) > 0 {
		d.line(0, "Conditions:")
		d.line(1, "Type\tStatus\tReason")
		for _, c := range rc.Status.Conditions {
			d.line(1, "%s\t%s\t%s", c.Type, c.Status, c.Reason)
		}
	}
}

func describeService(d *descWriter, s *v1.Service, ep *v1.Endpoints) {
	d.meta(&s.ObjectMeta, true)
	d.line(0, "Selector:\t%s", formatMap(s.Spec.Selector))
	typ := s.Spec.Type
	if typ == "" {
		typ = v1.ServiceTypeClusterIP
	}
	d.line(0, "Type:\t%s", typ)
	d.line(0, "IP:\t%s", orNone(s.Spec.ClusterIP))
	for _, p := range s.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = v1.ProtocolTCP
		}
		name := p.Name
		if name == "" {
			name = "<unset>"
		}
		d.line(0, "Port:\t%s\t%d/%s", name, p.Port, proto)
		d.line(0, "TargetPort:\t%s/%s", p.TargetPort.String(), proto)
		if p.NodePort != 0 {
			d.line(0, "NodePort:\t%s\t%d/%s", name, p.NodePort, proto)
		}
	}
	endpoints := none
	if ep != nil {
		endpoints = endpointsSummary(ep.Subsets, 10)
	}
	d.line(0, "Endpoints:\t%s", endpoints)
	affinity := s.Spec.SessionAffinity
	if affinity == "" {
		affinity = v1.AffinityNone
	}
	d.line(0, "Session Affinity:\t%s", affinity)
}

func describeEndpoints(d *descWriter, e *v1.Endpoints) {
	d.meta(&e.ObjectMeta, true)
	if len(e.Subsets) == 0 {
		d.line(0, "Subsets:\t%s", none)
		return
	}
	d.line(0, "Subsets:")
	ips := func(as []v1.EndpointAddress) string {
		var out []string
		for _, a := range as {
			out = append(out, a.IP)
		}
		return orNone(strings.Join(out, ","))
	}
	for _, ss := range e.Subsets {
		d.line(1, "Addresses:\t%s", ips(ss.Addresses))
		d.line(1, "NotReadyAddresses:\t%s", ips(ss.NotReadyAddresses))
		d.line(1, "Ports:")
		d.line(2, "Name\tPort\tProtocol")
		d.line(2, "----\t----\t--------")
		for _, p := range ss.Ports {
			d.line(2, "%s\t%d\t%s", orDefault(p.Name, "<unset>"), p.Port, orDefault(p.Protocol, v1.ProtocolTCP))
		}
	}
}

func describeNamespace(d *descWriter, n *v1.Namespace) {
	d.meta(&n.ObjectMeta, false)
	d.line(0, "Status:\t%s", orDefault(n.Status.Phase, v1.NamespaceActive))
}

func describeNode(d *descWriter, n *v1.Node, pods []v1.Object) {
	d.meta(&n.ObjectMeta, false)
	if len(n.Spec.Taints) > 0 {
		for i, t := range n.Spec.Taints {
			s := t.Key
			if t.Value != "" {
				s += "=" + t.Value
			}
			s += ":" + t.Effect
			if i == 0 {
				d.line(0, "Taints:\t%s", s)
			} else {
				d.line(0, "\t%s", s)
			}
		}
	} else {
		d.line(0, "Taints:\t%s", none)
	}
	d.line(0, "Unschedulable:\t%v", n.Spec.Unschedulable)
	d.line(0, "Status:\t%s", nodeStatus(n))
	if len(n.Status.Conditions) > 0 {
		d.line(0, "Conditions:")
		d.line(1, "Type\tStatus\tLastHeartbeatTime\tReason\tMessage")
		for _, c := range n.Status.Conditions {
			d.line(1, "%s\t%s\t%s\t%s\t%s", c.Type, c.Status, d.timestamp(c.LastHeartbeatTime), c.Reason, c.Message)
		}
	}
	if len(n.Status.Addresses) > 0 {
		d.line(0, "Addresses:")
		for _, a := range n.Status.Addresses {
			d.line(1, "%s:\t%s", a.Type, a.Address)
		}
	}
	resources := func(title string, l v1.ResourceList) {
		if len(l) == 0 {
			return
		}
		var names []string
		for k := range l {
			names = append(names, string(k))
		}
		sort.Strings(names)
		d.line(0, "%s:", title)
		for _, k := range names {
			q := l[v1.ResourceName(k)]
			d.line(1, "%s:\t%s", k, q.String())
		}
	}
	resources("Capacity", n.Status.Capacity)
	resources("Allocatable", n.Status.Allocatable)
	info := n.Status.NodeInfo
	d.line(0, "System Info:")
	d.line(1, "Kernel Version:\t%s", info.KernelVersion)
	d.line(1, "OS Image:\t%s", info.OSImage)
	d.line(1, "Operating System:\t%s", info.OperatingSystem)
	d.line(1, "Architecture:\t%s", info.Architecture)
	d.line(1, "Container Runtime Version:\t%s", info.ContainerRuntimeVersion)
	d.line(1, "Agent Version:\t%s", info.KubeletVersion)
	d.line(0, "PodCIDR:\t%s", orNone(n.Spec.PodCIDR))
	var active []*v1.Pod
	for _, obj := range pods {
		p := obj.(*v1.Pod)
		if p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed {
			active = append(active, p)
		}
	}
	d.line(0, "Non-terminated Pods:\t(%d in total)", len(active))
	if len(active) > 0 {
		d.line(1, "Namespace\tName\tStatus\tAge")
		d.line(1, "---------\t----\t------\t---")
		for _, p := range active {
			_, _, status, _ := podSummary(p, d.now)
			d.line(1, "%s\t%s\t%s\t%s", p.Namespace, p.Name, status, age(p.CreationTimestamp, d.now))
		}
	}
}
