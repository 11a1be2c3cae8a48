package apiserver

import (
	"context"

	v1 "orch.io/orch/api/v1"
)

// jobDeleteWarning is Kubernetes' warning on a Job delete that names no
// propagation: batch/v1 orphans a Job's pods by default.
const jobDeleteWarning = "child pods are preserved by default when jobs are deleted; " +
	"set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"

// warnJobDelete warns a Job delete that orphans the pods by default (it
// names neither propagationPolicy nor orphanDependents), as Kubernetes.
func warnJobDelete(ctx context.Context, resource string, opts *v1.DeleteOptions) {
	if resource == "jobs" && opts.PropagationPolicy == "" && opts.OrphanDependents == nil {
		addWarnings(ctx, jobDeleteWarning)
	}
}
