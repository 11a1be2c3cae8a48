package sched

import (
	"context"
	"time"

	"github.com/google/uuid"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// admitServiceAccount is the API's ServiceAccount admission for a pod the
// replication manager creates (its pods skip the API): the account,
// "default" unless the template names one, must exist, and the pod gets
// the token volume unless automounting is off.
func admitServiceAccount(store *fsm.Store, p *v1.Pod) error {
	name := v1.PodServiceAccountName(&p.Spec)
	rec, err := store.Get("serviceaccounts", p.Namespace, name)
	if v1.IsNotFound(err) {
		return v1.ServiceAccountLookupError(p, v1.ServiceAccountNotFound(name))
	}
	if err != nil {
		return v1.ServiceAccountLookupError(p, err)
	}
	v1.AdmitServiceAccount(p, rec.Object().(*v1.ServiceAccount), v1.GenerateName(v1.ServiceAccountVolumeName+"-"))
	return nil
}

// AdmitFunc admits a pod a controller is about to create, as the API's
// admission would (Pod Security); nil admits every pod.
type AdmitFunc func(ctx context.Context, p *v1.Pod) error

// admitNewPod completes a pod a controller creates (its pods skip the API)
// and admits it as the API would: a uid and creationTimestamp, defaults,
// the ServiceAccount admission, the namespace's LimitRanges, validation
// and admit. A refusal is a limitRefusal.
func admitNewPod(ctx context.Context, store *fsm.Store, admit AdmitFunc, p *v1.Pod, now time.Time) error {
	p.UID = uuid.NewString()
	p.CreationTimestamp = v1.NewTime(now)
	v1.Default(p)
	if err := admitServiceAccount(store, p); err != nil {
		return limitRefusal{err}
	}
	if err := limitPod(store, p); err != nil {
		return limitRefusal{err}
	}
	if err := v1.Validate(p); err != nil {
		return limitRefusal{err}
	}
	if admit != nil {
		if err := admit(ctx, p); err != nil {
			return limitRefusal{err}
		}
	}
	return nil
}
