package fsm

import (
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

// Quota enforcement lives in the FSM, inside the write transaction of the
// entry being applied, as Kubernetes' resourcequota admission does in the
// API server with a compare-and-swap on the quota: here every master checks
// a create against the namespace's quotas as they are at that index and, if
// it fits, charges status.used in the same transaction. Two creates racing
// on different masters are ordered by the log, so the second sees the first
// one's charge and no namespace is ever admitted past its hard limits.
//
// Usage is released when an object is removed and when a pod reaches a
// terminal phase (Kubernetes' pod evaluator charges pods, cpu and memory
// only to pods that have not finished). Kubernetes also stops charging a
// terminating pod once its grace period has passed by the wall clock; the
// FSM has no clock, so such a pod is charged until its node confirms the
// deletion and it is removed.
//
// A quota's status is the FSM's: status.hard is spec.hard and status.used
// is counted from the namespace's objects whenever the quota is created or
// updated (deterministically, from the state at that index), then kept up to
// date by the charges and releases.
//
// Cost: a create or update in a namespace without quotas costs one index
// lookup (the quotas of the namespace), and its object is not decoded.

// quotaRecords returns the records of the quotas of a namespace, by name.
func quotaRecords(w *writeTxn, ns string) []*Record {
	if recs, ok := w.quotas[ns]; ok {
		return recs
	}
	recs := namespaceRecords(w, "resourcequotas", ns)
	if w.quotas == nil {
		w.quotas = map[string][]*Record{}
	}
	w.quotas[ns] = recs
	return recs
}

// admitCreate checks the create of an object against its namespace's
// quotas and charges them. obj is the decoded object or nil (then raw is
// decoded only if some quota exists). It returns the object to store when
// it changed it (a new quota gets its status), or nil to store the create
// as it came.
func admitCreate(w *writeTxn, r v1.Resource, ns, name string, raw []byte, obj v1.Object) (v1.Object, error) {
	if !r.Namespaced {
		return nil, nil
	}
	quotas := quotaRecords(w, ns)
	if len(quotas) == 0 && r.Name != "resourcequotas" {
		return nil, nil
	}
	if obj == nil {
		obj = r.New()
		if err := json.Unmarshal(raw, obj); err != nil {
			return nil, v1.NewBadRequest(fmt.Sprintf("undecodable %s %q: %v", r.Kind, name, err))
		}
		v1.SetTypeMeta(obj)
		obj.GetObjectMeta().Generation = 1
	}
	if err := chargeQuotas(w, r.Name, name, quotas, nil, obj, true); err != nil {
		return nil, err
	}
	if q, ok := obj.(*v1.ResourceQuota); ok {
		q.Status = quotaStatus(w, q, true)
		return q, nil
	}
	return nil, nil
}

// admitUpdate keeps the quotas right across an update of an object: a
// quota's own status is recounted; any other object's change of usage (a
// pod that finished, a service that became a NodePort) is charged or
// released. An increase past a hard limit is refused, except for pods:
// Kubernetes checks pods at create only, and a pod's usage changes on update
// only through its status (reported by its node) or its scope.
func admitUpdate(w *writeTxn, res string, next, old v1.Object) error {
	if q, ok := next.(*v1.ResourceQuota); ok {
		q.Status = quotaStatus(w, q, false)
		return nil
	}
	m := next.GetObjectMeta()
	if m.Namespace == "" {
		return nil
	}
	quotas := quotaRecords(w, m.Namespace)
	if len(quotas) == 0 {
		return nil
	}
	return chargeQuotas(w, res, m.Name, quotas, old, next, res != "pods")
}

// releaseOnRemove gives back, to every quota of the namespace, what a
// removed object was charged.
func releaseOnRemove(w *writeTxn, res string, old *Record) {
	key := old.Key()
	ns, _, namespaced := strings.Cut(key, "/")
	if !namespaced {
		return
	}
	quotas := quotaRecords(w, ns)
	if res == "resourcequotas" {
		quotas = withoutKey(quotas, key)
	}
	if len(quotas) == 0 {
		return
	}
	// A release never exceeds anything, so it cannot fail.
	_ = chargeQuotas(w, res, old.Meta().Name, quotas, old.Object(), nil, false)
}

func withoutKey(recs []*Record, key string) []*Record {
	out := make([]*Record, 0, len(recs))
	for _, r := range recs {
		if r.Key() != key {
			out = append(out, r)
		}
	}
	return out
}

// quotaDelta is one quota's change of usage.
type quotaDelta struct {
	rec   *Record
	quota *v1.ResourceQuota
	delta v1.ResourceList
}

// chargeQuotas moves the usage of every quota from what before (nil for a
// create) was charged to what after (nil for a removal) is charged. With
// check, a pod must meet the quotas' constraints and an increase must stay
// within hard; otherwise nothing changes and the error is Kubernetes'
// Forbidden. Quotas are visited in name order, as the first refusal names one.
func chargeQuotas(w *writeTxn, res, name string, quotas []*Record, before, after v1.Object, check bool) error {
	var deltas []quotaDelta
	for _, rec := range quotas {
		q := rec.Object().(*v1.ResourceQuota)
		hard := v1.SortedResourceNames(q.Status.Hard)
		if len(hard) == 0 {
			continue
		}
		var was, is v1.ResourceList
		if before != nil && v1.QuotaMatches(q, before) {
			was = v1.MaskResources(v1.QuotaUsage(res, before), hard)
		}
		if after != nil && v1.QuotaMatches(q, after) {
			is = v1.MaskResources(v1.QuotaUsage(res, after), hard)
			if p, ok := after.(*v1.Pod); ok && check && before == nil && v1.QuotaTracksPods(q.Status.Hard) {
				if err := v1.QuotaConstraints(q.Status.Hard, p); err != nil {
					return v1.NewForbiddenFor(res, name, fmt.Errorf("failed quota: %s: %w", q.Name, err))
				}
			}
		}
		d := v1.SubtractResources(is, was)
		if len(d) == 0 || v1.ZeroResources(d) {
			continue
		}
		deltas = append(deltas, quotaDelta{rec: rec, quota: q, delta: d})
	}
	if check {
		for _, d := range deltas {
			if err := exceeded(res, name, d); err != nil {
				return err
			}
		}
	}
	for _, d := range deltas {
		q := shallowCopy(d.quota).(*v1.ResourceQuota)
		q.Status = v1.ResourceQuotaStatus{Hard: d.quota.Status.Hard, Used: clampUsed(v1.AddResources(d.quota.Status.Used, d.delta))}
		w.put("resourcequotas", v1.Modified, q, d.rec)
	}
	return nil
}

// exceeded refuses the increases of d that go over the quota's hard
// limits, with Kubernetes' message.
func exceeded(res, name string, d quotaDelta) error {
	inc := v1.ResourceList{}
	for k, v := range d.delta {
		if v.Sign() > 0 {
			inc[k] = v
		}
	}
	q := d.quota
	over := v1.QuotaExceeded(q.Status.Hard, q.Status.Used, inc)
	if len(over) == 0 {
		return nil
	}
	return v1.NewForbiddenFor(res, name, fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s", q.Name,
		v1.FormatResources(v1.MaskResources(inc, over)),
		v1.FormatResources(v1.MaskResources(q.Status.Used, over)),
		v1.FormatResources(v1.MaskResources(q.Status.Hard, over))))
}

// clampUsed keeps usage at zero or above: a release of more than was
// charged (state older than quota accounting) must not leave a negative count.
func clampUsed(l v1.ResourceList) v1.ResourceList {
	for k, v := range l {
		if v.Sign() < 0 {
			l[k] = *resource.NewQuantity(0, v.Format)
		}
	}
	return l
}

// quotaStatus counts a quota's status from the namespace's objects: hard is
// spec.hard, used sums the usage of every object the quota covers, for
// each hard resource (zero when nothing uses it). unstored says q itself is
// not in the table yet (a create), so it counts itself.
func quotaStatus(w *writeTxn, q *v1.ResourceQuota, unstored bool) v1.ResourceQuotaStatus {
	hard := v1.SortedResourceNames(q.Spec.Hard)
	used := v1.ResourceList{}
	for _, k := range hard {
		used[k] = *resource.NewQuantity(0, q.Spec.Hard[k].Format)
	}
	for _, res := range quotaTables(hard) {
		for _, rec := range namespaceRecords(w, res, q.Namespace) {
			obj := rec.Object()
			if v1.QuotaMatches(q, obj) {
				used = v1.AddResources(used, v1.MaskResources(v1.QuotaUsage(res, obj), hard))
			}
		}
	}
	if unstored && v1.QuotaMatches(q, q) {
		used = v1.AddResources(used, v1.MaskResources(v1.QuotaUsage("resourcequotas", q), hard))
	}
	return v1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: used}
}

// quotaTables returns the tables whose objects the resource names count, sorted.
func quotaTables(names []v1.ResourceName) []string {
	set := map[string]bool{}
	for _, n := range names {
		switch {
		case strings.HasPrefix(string(n), v1.ObjectCountPrefix):
			res, _ := v1.ObjectCountResource(n)
			set[res] = true
		case strings.HasPrefix(string(n), "services"):
			set["services"] = true
		case n == v1.ResourceReplicationControllers:
			set["replicationcontrollers"] = true
		case n == v1.ResourceQuotas:
			set["resourcequotas"] = true
		default: // pods and compute resources
			set["pods"] = true
		}
	}
	var out []string
	for _, r := range v1.ResourceNames() {
		if set[r] {
			out = append(out, r)
		}
	}
	return out
}
