package sched

import (
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
