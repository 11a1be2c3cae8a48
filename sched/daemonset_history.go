package sched

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// This file keeps a daemon set's history as Kubernetes' daemon controller
// does (constructHistory, snapshot, cleanupHistory): one ControllerRevision
// per template the set has run, named <ds>-<hash>, owned by the set, whose
// data is a patch that puts the template back (`kubectl rollout undo`) and
// whose revision number orders them (`kubectl rollout history`). The
// current template's revision has the highest number: going back to an
// earlier template renumbers its revision rather than making a new one.
// Revisions no pod runs are deleted beyond revisionHistoryLimit, oldest
// first. A hash that names another template's revision bumps
// status.collisionCount, which goes into the next hash.

// daemonSetPatch is the data of a daemon set's revision, as Kubernetes'
// getPatch makes it: a strategic merge patch that replaces
// spec.template.
func daemonSetPatch(ds *v1.DaemonSet) ([]byte, error) {
	raw, err := json.Marshal(ds.Spec.Template)
	if err != nil {
		return nil, fmt.Errorf("encode the template of daemon set %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return nil, fmt.Errorf("decode the template of daemon set %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	tmpl["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
}

// revisionHash is Kubernetes' HashControllerRevision of a revision whose
// data is patch: FNV-32 of the data and the collision count, in the
// alphabet of generated names.
func revisionHash(patch []byte, collisionCount *int32) string {
	h := fnv.New32()
	_, _ = h.Write(patch) // a hash.Hash never fails to write
	if collisionCount != nil {
		_, _ = h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// dsRevision is the current revision of a daemon set: the hash its pods
// are labelled with, and the daemon set's other revisions.
type dsRevision struct {
	hash string
	old  []*v1.ControllerRevision
}

// revisionMatches reports whether the revision holds patch.
func revisionMatches(cr *v1.ControllerRevision, patch []byte) bool {
	return v1.JSONEqual(json.RawMessage(cr.Data.Raw), json.RawMessage(patch))
}

// revision finds the daemon set's current revision among the revisions it
// controls, making it (or giving it the highest number) when needed.
func (c *DaemonSetController) revision(ctx context.Context, store *fsm.Store, ds *v1.DaemonSet) (dsRevision, error) {
	patch, err := daemonSetPatch(ds)
	if err != nil {
		return dsRevision{}, err
	}
	list, err := store.List("controllerrevisions", fsm.ListOptions{Namespace: ds.Namespace})
	if err != nil {
		return dsRevision{}, fmt.Errorf("list controller revisions: %w", err)
	}
	var cur []*v1.ControllerRevision
	var out dsRevision
	var maxOld int64
	for _, r := range list.Items {
		cr, ok := r.Object().(*v1.ControllerRevision)
		if !ok {
			return dsRevision{}, fmt.Errorf("list controller revisions: a stored %T", r.Object())
		}
		if ref := cr.ControllerRef(); ref == nil || ref.UID != ds.UID {
			continue
		}
		if revisionMatches(cr, patch) {
			cur = append(cur, cr)
			continue
		}
		out.old = append(out.old, cr)
		maxOld = max(maxOld, cr.Revision)
	}
	if len(cur) == 0 {
		return c.snapshot(ctx, store, ds, patch, maxOld+1, out)
	}
	// Of several revisions of the template (none should be), the newest is current.
	slices.SortFunc(cur, func(a, b *v1.ControllerRevision) int { return int(a.Revision - b.Revision) })
	newest := cur[len(cur)-1]
	out.old = append(out.old, cur[:len(cur)-1]...)
	out.hash = newest.Labels[DaemonSetHashLabel]
	if out.hash == "" {
		out.hash = newest.Name[len(ds.Name)+1:]
	}
	if newest.Revision <= maxOld {
		q := v1.DeepCopy(newest)
		q.Revision = maxOld + 1
		if err := c.applyOne(ctx, q, false); err != nil {
			return dsRevision{}, fmt.Errorf("renumber revision %s: %w", newest.Name, err)
		}
	}
	return out, nil
}

// snapshot makes the revision of the daemon set's current template, with
// number n. A revision of another template under the same name bumps the
// set's collisionCount and fails the pass for it (the next one uses the
// new count).
func (c *DaemonSetController) snapshot(ctx context.Context, store *fsm.Store, ds *v1.DaemonSet, patch []byte, n int64, out dsRevision) (dsRevision, error) {
	hash := revisionHash(patch, ds.Status.CollisionCount)
	name := ds.Name + "-" + hash
	lbls := map[string]string{}
	for k, v := range ds.Spec.Template.Labels {
		lbls[k] = v
	}
	lbls[DaemonSetHashLabel] = hash
	var ann map[string]string
	if len(ds.Annotations) > 0 {
		ann = map[string]string{}
		for k, v := range ds.Annotations {
			ann[k] = v
		}
	}
	cr := &v1.ControllerRevision{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: ds.Namespace, Labels: lbls, Annotations: ann,
		UID: uuid.NewString(), CreationTimestamp: v1.NewTime(c.cfg.Now()), OwnerReferences: []v1.OwnerReference{NewDaemonSetControllerRef(ds)}},
		Data: runtime.RawExtension{Raw: patch}, Revision: n}
	err := c.applyOne(ctx, cr, true)
	if err == nil {
		out.hash = hash
		return out, nil
	}
	if !v1.IsAlreadyExists(err) {
		return dsRevision{}, fmt.Errorf("create revision %s: %w", name, err)
	}
	rec, gerr := store.Get("controllerrevisions", ds.Namespace, name)
	if gerr != nil {
		return dsRevision{}, fmt.Errorf("create revision %s: %w", name, err)
	}
	if have, ok := rec.Object().(*v1.ControllerRevision); ok && revisionMatches(have, patch) {
		if ref := have.ControllerRef(); ref != nil && ref.UID == ds.UID {
			out.hash = hash
			return out, nil
		}
	}
	q := v1.DeepCopy(ds)
	next := int32(1)
	if q.Status.CollisionCount != nil {
		next = *q.Status.CollisionCount + 1
	}
	q.Status.CollisionCount = &next
	if err := c.applyOne(ctx, q, false); err != nil {
		return dsRevision{}, fmt.Errorf("bump the collision count of daemon set %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return dsRevision{}, fmt.Errorf("found a hash collision for DaemonSet %q - bumping collisionCount to %d to resolve it", ds.Name, next)
}

// cleanupHistory deletes the oldest revisions that no pod runs beyond the
// set's revisionHistoryLimit (Kubernetes' cleanupHistory).
func (c *DaemonSetController) cleanupHistory(ctx context.Context, ds *v1.DaemonSet, old []*v1.ControllerRevision, pods []*v1.Pod) error {
	limit := v1.DefaultDaemonSetRevisionHistoryLimit
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	toKill := len(old) - limit
	if toKill <= 0 {
		return nil
	}
	live := map[string]bool{}
	for _, p := range pods {
		if ref := p.ControllerRef(); ref != nil && ref.UID == ds.UID {
			live[p.Labels[DaemonSetHashLabel]] = true
		}
	}
	old = slices.Clone(old)
	slices.SortFunc(old, func(a, b *v1.ControllerRevision) int { return int(a.Revision - b.Revision) })
	var items []fsm.BatchItem
	for _, cr := range old {
		if toKill == 0 {
			break
		}
		if live[cr.Labels[DaemonSetHashLabel]] {
			continue
		}
		cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "controllerrevisions", Namespace: cr.Namespace, Name: cr.Name,
			UID: cr.UID, ResourceVersion: cr.ResourceVersion, Now: v1.NewTime(c.cfg.Now())})
		if err != nil {
			return err
		}
		items = append(items, batchItem(cmd))
		toKill--
	}
	if len(items) == 0 {
		return nil
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return err
	}
	if _, err := c.cfg.Proposer.Apply(ctx, cmd); err != nil {
		return fmt.Errorf("delete old revisions of daemon set %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return nil
}

// applyOne commits the create (or, with the object's resourceVersion as
// precondition, the update; status for a DaemonSet's status) of obj and
// returns the FSM's answer.
func (c *DaemonSetController) applyOne(ctx context.Context, obj v1.Object, create bool) error {
	var cmd []byte
	var err error
	switch _, isDS := obj.(*v1.DaemonSet); {
	case create:
		cmd, err = fsm.NewCreate(obj)
	default:
		cmd, err = fsm.NewUpdate(obj, isDS)
	}
	if err != nil {
		return err
	}
	res, err := c.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return err
	}
	if r, ok := res.(fsm.Result); ok && r.Err != nil {
		return r.Err
	}
	return nil
}
