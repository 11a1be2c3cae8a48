package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "orch.io/orch/api/v1"
)

// tableOptions choose the columns of a table.
type tableOptions struct {
	// wide adds the -o wide columns.
	wide bool
	// showLabels adds a LABELS column.
	showLabels bool
	// withNamespace adds a NAMESPACE column first (-A).
	withNamespace bool
	// withKind prints names as TYPE/NAME (several types in one get).
	withKind bool
	// now is the time ages are measured to.
	now time.Time
}

// tableHeaders returns the column titles of r.
func tableHeaders(r v1.Resource, o tableOptions) []string {
	if r.Kind == "Event" {
		return eventHeaders(o)
	}
	var h []string
	if o.withNamespace && r.Namespaced {
		h = append(h, "NAMESPACE")
	}
	h = append(h, "NAME")
	switch r.Kind {
	case "Pod":
		h = append(h, "READY", "STATUS", "RESTARTS", "AGE")
		if o.wide {
			h = append(h, "IP", "NODE")
		}
	case "ReplicationController":
		h = append(h, "DESIRED", "CURRENT", "READY", "AGE")
		if o.wide {
			h = append(h, "CONTAINERS", "IMAGES", "SELECTOR")
		}
	case "Service":
		h = append(h, "TYPE", "CLUSTER-IP", "PORT(S)", "AGE")
		if o.wide {
			h = append(h, "SELECTOR")
		}
	case "Endpoints":
		h = append(h, "ENDPOINTS", "AGE")
	case "ResourceQuota":
		h = append(h, "AGE", "REQUEST", "LIMIT")
	case "LimitRange", "Role", "ClusterRole":
		h = append(h, "CREATED AT")
	case "RoleBinding", "ClusterRoleBinding":
		h = append(h, "ROLE", "AGE")
		if o.wide {
			h = append(h, "USERS", "GROUPS", "SERVICEACCOUNTS")
		}
	case "CertificateSigningRequest":
		h = append(h, "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION")
	case "Namespace":
		h = append(h, "STATUS", "AGE")
	case "Node":
		h = append(h, "STATUS", "AGE")
		if o.wide {
			h = append(h, "INTERNAL-IP", "POD-CIDR")
		}
	default:
		h = append(h, "AGE")
	}
	if o.showLabels {
		h = append(h, "LABELS")
	}
	return h
}

// tableRow returns the cells of obj, matching tableHeaders.
func tableRow(r v1.Resource, obj v1.Object, o tableOptions) []string {
	if e, ok := obj.(*v1.Event); ok {
		return eventRow(e, o)
	}
	m := obj.GetObjectMeta()
	var row []string
	if o.withNamespace && r.Namespaced {
		row = append(row, m.Namespace)
	}
	name := m.Name
	if o.withKind {
		name = r.Singular + "/" + name
	}
	row = append(row, name)
	age := age(m.CreationTimestamp, o.now)
	switch x := obj.(type) {
	case *v1.Pod:
		ready, total, status, restarts := podSummary(x, o.now)
		row = append(row, fmt.Sprintf("%d/%d", ready, total), status, restarts, age)
		if o.wide {
			row = append(row, orNone(x.Status.PodIP), orNone(x.Spec.NodeName))
		}
	case *v1.ReplicationController:
		desired := int32(1)
		if x.Spec.Replicas != nil {
			desired = *x.Spec.Replicas
		}
		row = append(row, itoa(desired), itoa(x.Status.Replicas), itoa(x.Status.ReadyReplicas), age)
		if o.wide {
			var names, images []string
			if x.Spec.Template != nil {
				for _, c := range x.Spec.Template.Spec.Containers {
					names = append(names, c.Name)
					images = append(images, c.Image)
				}
			}
			row = append(row, orNone(strings.Join(names, ",")), orNone(strings.Join(images, ",")), formatMap(x.Spec.Selector))
		}
	case *v1.Service:
		typ := x.Spec.Type
		if typ == "" {
			typ = v1.ServiceTypeClusterIP
		}
		row = append(row, typ, orNone(x.Spec.ClusterIP), servicePorts(x.Spec.Ports), age)
		if o.wide {
			row = append(row, formatMap(x.Spec.Selector))
		}
	case *v1.Endpoints:
		row = append(row, endpointsSummary(x.Subsets, 3), age)
	case *v1.ResourceQuota:
		req, lim := quotaColumns(x)
		row = append(row, age, req, lim)
	case *v1.LimitRange:
		row = append(row, createdAt(x.CreationTimestamp))
	case *v1.Role:
		row = append(row, createdAt(x.CreationTimestamp))
	case *v1.ClusterRole:
		row = append(row, createdAt(x.CreationTimestamp))
	case *v1.RoleBinding:
		row = append(row, roleColumn(x.RoleRef), age)
		if o.wide {
			u, g, s := bindingSubjects(x.Subjects)
			row = append(row, u, g, s)
		}
	case *v1.ClusterRoleBinding:
		row = append(row, roleColumn(x.RoleRef), age)
		if o.wide {
			u, g, s := bindingSubjects(x.Subjects)
			row = append(row, u, g, s)
		}
	case *v1.CertificateSigningRequest:
		row = append(row, age, x.Spec.SignerName, x.Spec.Username, csrDuration(x), csrCondition(x))
	case *v1.Namespace:
		phase := x.Status.Phase
		if phase == "" {
			phase = v1.NamespaceActive
		}
		row = append(row, phase, age)
	case *v1.Node:
		row = append(row, nodeStatus(x), age)
		if o.wide {
			row = append(row, orNone(nodeAddress(x, "InternalIP")), orNone(x.Spec.PodCIDR))
		}
	default:
		row = append(row, age)
	}
	if o.showLabels {
		row = append(row, formatMap(m.Labels))
	}
	return row
}

// buildTable makes the table of objects of one resource.
func buildTable(r v1.Resource, objs []v1.Object, o tableOptions) *table {
	t := &table{headers: tableHeaders(r, o)}
	if r.Kind == "Event" {
		objs = append([]v1.Object(nil), objs...)
		sort.SliceStable(objs, func(i, j int) bool { return eventLess(objs[i].(*v1.Event), objs[j].(*v1.Event)) })
	}
	for _, obj := range objs {
		t.rows = append(t.rows, tableRow(r, obj, o))
	}
	return t
}

func itoa(n int32) string { return strconv.FormatInt(int64(n), 10) }

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

// formatMap prints labels or a selector as k=v,k=v sorted by key.
func formatMap(m map[string]string) string {
	if len(m) == 0 {
		return none
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// age prints how long ago t was, as kubectl does; "<unknown>" for no time.
func age(t v1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return humanDuration(now.Sub(t.Time))
}

// humanDuration prints d with two significant units at most, as kubectl's
// AGE column does: 45s, 5m30s, 42m, 3h10m, 20h, 3d4h, 120d, 2y30d, 9y.
func humanDuration(d time.Duration) string {
	if s := int(d.Seconds()); s < -1 {
		return "<invalid>"
	} else if s < 0 {
		return "0s"
	} else if s < 120 {
		return fmt.Sprintf("%ds", s)
	}
	minutes := int(d / time.Minute)
	if minutes < 10 {
		if s := int(d/time.Second) % 60; s != 0 {
			return fmt.Sprintf("%dm%ds", minutes, s)
		}
		return fmt.Sprintf("%dm", minutes)
	} else if minutes < 3*60 {
		return fmt.Sprintf("%dm", minutes)
	}
	hours := int(d / time.Hour)
	switch {
	case hours < 8:
		if m := minutes % 60; m != 0 {
			return fmt.Sprintf("%dh%dm", hours, m)
		}
		return fmt.Sprintf("%dh", hours)
	case hours < 48:
		return fmt.Sprintf("%dh", hours)
	case hours < 8*24:
		if h := hours % 24; h != 0 {
			return fmt.Sprintf("%dd%dh", hours/24, h)
		}
		return fmt.Sprintf("%dd", hours/24)
	case hours < 2*365*24:
		return fmt.Sprintf("%dd", hours/24)
	case hours < 8*365*24:
		if dy := (hours / 24) % 365; dy != 0 {
			return fmt.Sprintf("%dy%dd", hours/24/365, dy)
		}
		return fmt.Sprintf("%dy", hours/24/365)
	}
	return fmt.Sprintf("%dy", hours/24/365)
}

// podSummary computes the READY, STATUS and RESTARTS columns of a pod the
// way kubectl does: the status is the most telling container reason
// (CrashLoopBackOff, ErrImagePull, Completed, ...) over the phase, and
// Terminating while the pod is being deleted.
func podSummary(p *v1.Pod, now time.Time) (ready, total int, status, restarts string) {
	total = len(p.Spec.Containers)
	reason := p.Status.Phase
	if p.Status.Reason != "" {
		reason = p.Status.Reason
	}
	if reason == "" {
		reason = v1.PodPending
	}
	var restartCount int32
	var lastRestart time.Time
	// Init containers first, as kubectl's printPod: the first one not yet
	// run to success names the status (Init:Error, Init:CrashLoopBackOff,
	// Init:1/2); their restarts count while the pod initializes.
	initializing := false
	for i, c := range p.Status.InitContainerStatuses {
		restartCount += c.RestartCount
		if t := c.LastState.Terminated; t != nil && t.FinishedAt.After(lastRestart) {
			lastRestart = t.FinishedAt.Time
		}
		switch t, w := c.State.Terminated, c.State.Waiting; {
		case t != nil && t.ExitCode == 0:
			continue
		case t != nil && t.Reason != "":
			reason = "Init:" + t.Reason
		case t != nil && t.Signal != 0:
			reason = fmt.Sprintf("Init:Signal:%d", t.Signal)
		case t != nil:
			reason = fmt.Sprintf("Init:ExitCode:%d", t.ExitCode)
		case w != nil && w.Reason != "" && w.Reason != "PodInitializing":
			reason = "Init:" + w.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(p.Spec.InitContainers))
		}
		initializing = true
		break
	}
	if initializing {
		if c := p.Status.Condition(v1.PodInitialized); c == nil || c.Status != v1.ConditionTrue {
			return podTerminating(p, 0, total, reason, restartCount, lastRestart, now)
		}
	}
	restartCount, lastRestart = 0, time.Time{}
	hasRunning := false
	cs := p.Status.ContainerStatuses
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		restartCount += c.RestartCount
		if t := c.LastState.Terminated; t != nil && t.FinishedAt.After(lastRestart) {
			lastRestart = t.FinishedAt.Time
		}
		switch {
		case c.State.Waiting != nil && c.State.Waiting.Reason != "":
			reason = c.State.Waiting.Reason
		case c.State.Terminated != nil && c.State.Terminated.Reason != "":
			reason = c.State.Terminated.Reason
		case c.State.Terminated != nil && c.State.Terminated.Signal != 0:
			reason = fmt.Sprintf("Signal:%d", c.State.Terminated.Signal)
		case c.State.Terminated != nil:
			reason = fmt.Sprintf("ExitCode:%d", c.State.Terminated.ExitCode)
		case c.Ready && c.State.Running != nil:
			hasRunning = true
			ready++
		}
	}
	if reason == "Completed" && hasRunning {
		if p.IsReady() {
			reason = v1.PodRunning
		} else {
			reason = "NotReady"
		}
	}
	return podTerminating(p, ready, total, reason, restartCount, lastRestart, now)
}

// podTerminating finishes podSummary: Terminating (or Unknown for a lost
// node) while the pod is being deleted, and the RESTARTS column.
func podTerminating(p *v1.Pod, ready, total int, reason string, restartCount int32, lastRestart, now time.Time) (int, int, string, string) {
	if p.DeletionTimestamp != nil {
		if p.Status.Reason == "NodeLost" {
			reason = v1.PodUnknown
		} else {
			reason = "Terminating"
		}
	}
	restarts := strconv.FormatInt(int64(restartCount), 10)
	if restartCount > 0 && !lastRestart.IsZero() {
		restarts += " (" + humanDuration(now.Sub(lastRestart)) + " ago)"
	}
	return ready, total, reason, restarts
}

// servicePorts prints 80/TCP,443:30443/TCP.
func servicePorts(ports []v1.ServicePort) string {
	if len(ports) == 0 {
		return none
	}
	parts := make([]string, len(ports))
	for i, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = v1.ProtocolTCP
		}
		if p.NodePort != 0 {
			parts[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, proto)
		} else {
			parts[i] = fmt.Sprintf("%d/%s", p.Port, proto)
		}
	}
	return strings.Join(parts, ",")
}

// endpointsSummary prints the first max ready ip:port pairs and how many more.
func endpointsSummary(subsets []v1.EndpointSubset, limit int) string {
	var list []string
	for _, ss := range subsets {
		for _, a := range ss.Addresses {
			if len(ss.Ports) == 0 {
				list = append(list, a.IP)
				continue
			}
			for _, p := range ss.Ports {
				list = append(list, fmt.Sprintf("%s:%d", a.IP, p.Port))
			}
		}
	}
	if len(list) == 0 {
		return none
	}
	if len(list) > limit {
		return strings.Join(list[:limit], ",") + fmt.Sprintf(" + %d more...", len(list)-limit)
	}
	return strings.Join(list, ",")
}

// nodeStatus prints Ready, NotReady or Unknown, plus SchedulingDisabled.
func nodeStatus(n *v1.Node) string {
	s := "Unknown"
	if c := n.Status.Condition(v1.NodeReady); c != nil {
		switch c.Status {
		case v1.ConditionTrue:
			s = "Ready"
		case v1.ConditionFalse:
			s = "NotReady"
		}
	}
	if n.Spec.Unschedulable {
		s += ",SchedulingDisabled"
	}
	return s
}

// nodeAddress returns the node's first address of the given type.
func nodeAddress(n *v1.Node, typ string) string {
	for _, a := range n.Status.Addresses {
		if a.Type == typ {
			return a.Address
		}
	}
	return ""
}
