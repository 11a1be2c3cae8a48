package sched

import (
	"cmp"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"reflect"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"

	v1 "orch.io/orch/api/v1"
)

// This file keeps a stateful set's history in ControllerRevisions, as
// Kubernetes' StatefulSetControl.getStatefulSetRevisions and
// truncateHistory (pkg/controller/history): one revision per template the
// set has run, named <set>-<hash>, holding the patch
// {"spec":{"template":{...,"$patch":"replace"}}} that `kubectl rollout
// history|undo` read, numbered in the order the templates were last used.

// StatefulSetRevisions are the revisions one sync works with.
type StatefulSetRevisions struct {
	// Current names the revision of the pods below the partition, and
	// CurrentTemplate is its template (the set's own when it is the update
	// revision or cannot be read).
	Current         string
	CurrentTemplate *v1.PodTemplateSpec
	// Update names the revision of the set's template now.
	Update string
}

// RevisionPlan is what one sync does to a set's history.
type RevisionPlan struct {
	// Revisions are the names and templates PlanStatefulSet works with.
	Revisions StatefulSetRevisions
	// Create is a new revision to create; Renumber an existing revision of
	// the set's template to make the newest again (a rollback), written
	// with its resourceVersion.
	Create, Renumber *v1.ControllerRevision
	// Delete are the old revisions beyond revisionHistoryLimit that no
	// pod uses.
	Delete []*v1.ControllerRevision
	// Collision is set when another revision holds the name the set's
	// template hashes to: the set's status.collisionCount goes up by one
	// and nothing else happens this sync.
	Collision bool
}

// statefulSetPatch is the data of a revision of ss: its template as a
// strategic merge patch that replaces the whole template.
func statefulSetPatch(ss *v1.StatefulSet) ([]byte, error) {
	raw, err := json.Marshal(ss.Spec.Template)
	if err != nil {
		return nil, fmt.Errorf("encode template: %w", err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return nil, fmt.Errorf("decode template: %w", err)
	}
	tmpl["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
}

// hashRevision is Kubernetes' HashControllerRevision: FNV-32 of the data
// and the collision count, in safe characters.
func hashRevision(data []byte, collisionCount *int32) string {
	h := fnv.New32()
	h.Write(data)
	if collisionCount != nil {
		h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// revisionName is Kubernetes' ControllerRevisionName.
func revisionName(prefix, hash string) string {
	if len(prefix) > 223 {
		prefix = prefix[:223]
	}
	return prefix + "-" + hash
}

// NewStatefulSetRevision returns the revision of ss's template numbered
// revision: the template's labels, the set as controller, the patch as data.
func NewStatefulSetRevision(ss *v1.StatefulSet, revision int64) (*v1.ControllerRevision, error) {
	data, err := statefulSetPatch(ss)
	if err != nil {
		return nil, err
	}
	cr := &v1.ControllerRevision{
		ObjectMeta: v1.ObjectMeta{Namespace: ss.Namespace, Name: revisionName(ss.Name, hashRevision(data, ss.Status.CollisionCount)),
			Labels: maps.Clone(ss.Spec.Template.Labels), OwnerReferences: []v1.OwnerReference{NewControllerRef(ss)}},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}
	v1.SetTypeMeta(cr)
	return cr, nil
}

// revisionTemplate returns the template a revision's data holds.
func revisionTemplate(cr *v1.ControllerRevision) (*v1.PodTemplateSpec, error) {
	var patch struct {
		Spec struct {
			Template *v1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(cr.Data.Raw, &patch); err != nil {
		return nil, fmt.Errorf("revision %s: %w", cr.Name, err)
	}
	if patch.Spec.Template == nil {
		return nil, fmt.Errorf("revision %s holds no template", cr.Name)
	}
	return patch.Spec.Template, nil
}

// sameData reports whether two revisions' data are the same JSON value.
func sameData(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// PlanStatefulSetRevisions decides one sync of ss's history from the
// revisions and pods of its namespace (other owners' are ignored).
func PlanStatefulSetRevisions(ss *v1.StatefulSet, revisions []*v1.ControllerRevision, pods []*v1.Pod) (RevisionPlan, error) {
	var plan RevisionPlan
	var owned []*v1.ControllerRevision
	taken := map[string]*v1.ControllerRevision{}
	for _, cr := range revisions {
		if cr == nil || cr.Namespace != ss.Namespace {
			continue
		}
		taken[cr.Name] = cr
		if ref := cr.ControllerRef(); ref != nil && ref.UID == ss.UID {
			owned = append(owned, cr)
		}
	}
	slices.SortFunc(owned, func(a, b *v1.ControllerRevision) int {
		return cmp.Or(cmp.Compare(a.Revision, b.Revision), cmp.Compare(a.Name, b.Name))
	})
	next := int64(1)
	if len(owned) > 0 {
		next = owned[len(owned)-1].Revision + 1
	}
	cand, err := NewStatefulSetRevision(ss, next)
	if err != nil {
		return plan, err
	}
	var equal []*v1.ControllerRevision
	for _, cr := range owned {
		if sameData(cr.Data.Raw, cand.Data.Raw) {
			equal = append(equal, cr)
		}
	}
	var update *v1.ControllerRevision
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == owned[len(owned)-1]:
		update = owned[len(owned)-1]
	case len(equal) > 0:
		update = v1.DeepCopy(equal[len(equal)-1])
		update.Revision = next
		plan.Renumber = update
	case taken[cand.Name] != nil:
		plan.Collision = true
		return plan, nil
	default:
		update = cand
		plan.Create = cand
	}
	plan.Revisions = StatefulSetRevisions{Current: update.Name, Update: update.Name}
	if cur := ss.Status.CurrentRevision; cur != "" && cur != update.Name {
		for _, cr := range owned {
			if cr.Name != cur {
				continue
			}
			if t, err := revisionTemplate(cr); err == nil {
				plan.Revisions.Current, plan.Revisions.CurrentTemplate = cur, t
			}
		}
	}

	// History beyond revisionHistoryLimit, oldest first, but never a
	// revision a pod of the set or the status names.
	live := map[string]bool{plan.Revisions.Current: true, plan.Revisions.Update: true}
	for _, p := range pods {
		if ref := p.ControllerRef(); p.Namespace == ss.Namespace && ref != nil && ref.UID == ss.UID {
			live[p.Labels[v1.ControllerRevisionHashLabel]] = true
		}
	}
	var old []*v1.ControllerRevision
	for _, cr := range owned {
		if !live[cr.Name] {
			old = append(old, cr)
		}
	}
	limit := 10
	if ss.Spec.RevisionHistoryLimit != nil {
		limit = int(*ss.Spec.RevisionHistoryLimit)
	}
	if n := len(old) - limit; n > 0 {
		plan.Delete = old[:n]
	}
	return plan, nil
}
