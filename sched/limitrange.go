package sched

import (
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// limitPod applies the LimitRanges of a new pod's namespace to it, as the
// API server does to the pods users create: the replication manager's pods
// go to the FSM directly and would otherwise miss the defaults. It returns
// the LimitRanger's refusal when the pod breaks a min, max or ratio.
func limitPod(store *fsm.Store, p *v1.Pod) error {
	lrs, err := store.LimitRanges(p.Namespace)
	if err != nil || len(lrs) == 0 {
		return err
	}
	v1.ApplyLimitRangeDefaults(p, lrs)
	if err := v1.ValidateLimitRanges(p, lrs); err != nil {
		return v1.NewForbiddenFor("pods", p.GenerateName, err)
	}
	return nil
}
