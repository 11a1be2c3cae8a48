package sched

import (
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// confirm takes the binding of a pod the cache assumed: when ev binds the
// pod to the node the cache assumed it on, the assumed info stays placed
// and only swaps its pod for the group's stand-in (as add would make it),
// as kube-scheduler's cache confirms an assumed pod, instead of being
// dropped and made again from the bound pod's decoded object. It reports
// whether it took ev.
//
// The assumed info was made from the revision of the pod the pass read,
// which is the binding's previous one: any change of the pod between the
// two comes through the feed before the binding and drops the assumed pod
// (apply removes a changed pod first), and a binding changes nothing the
// cache reads of a bound pod (its namespace, labels, requests, ports,
// controller and affinity terms), only its node and conditions.
func (c *schedulerCache) confirm(ev fsm.Event) bool {
	if ev.Resource != "pods" || ev.Type != v1.Modified || ev.Prev == nil || ev.Prev.NodeName() != "" {
		return false
	}
	key := ev.Record.Key()
	cp, ok := c.pods[key]
	if !ok || cp.pi.on == nil || cp.node != ev.Record.NodeName() || c.shared(cp.pi) || cp.pi.pod.UID != ev.Record.UID() {
		return false
	}
	// What only the pending pod's own filters and scores read goes.
	cp.pi.node, cp.pi.spread = nodeAffinityInfo{}, spreadInfo{}
	c.share(cp.pi)
	return true
}

// shared reports whether pi holds its group's stand-in (a bound pod's
// info) rather than its own pod (an assumed one's).
func (c *schedulerCache) shared(pi *podInfo) bool {
	si := c.standIns[pi.group]
	return si != nil && si.pod == pi.pod
}
