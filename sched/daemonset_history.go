package sched

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"

	"k8s.io/apimachinery/pkg/util/rand"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// daemonSetPatch is the data of a daemon set's revision, as Kubernetes'
// getPatch makes it: a strategic merge patch that replaces
// spec.template, which `kubectl rollout undo` applies to go back.
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
// are labelled with, and the collision count that made it unique.
type dsRevision struct {
	hash           string
	collisionCount *int32
}

// revision finds (and, with ControllerRevisions, writes) the daemon set's
// current revision.
func (c *DaemonSetController) revision(_ context.Context, _ *fsm.Store, ds *v1.DaemonSet, _ []*v1.Pod) (dsRevision, error) {
	patch, err := daemonSetPatch(ds)
	if err != nil {
		return dsRevision{}, err
	}
	return dsRevision{hash: revisionHash(patch, ds.Status.CollisionCount), collisionCount: ds.Status.CollisionCount}, nil
}
