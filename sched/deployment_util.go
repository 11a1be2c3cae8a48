package sched

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/davecgh/go-spew/spew"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"

	v1 "orch.io/orch/api/v1"
)

// This file holds the arithmetic of Kubernetes' deployment controller
// (pkg/controller/deployment/util): the template hash, the rolling update
// fenceposts, the ReplicaSet annotations, conditions and orderings. Nothing
// here reads the store or the clock.

// Kubernetes' reasons of a deployment's conditions.
const (
	ReasonNewReplicaSetCreated       = "NewReplicaSetCreated"
	ReasonFoundNewReplicaSet         = "FoundNewReplicaSet"
	ReasonReplicaSetUpdated          = "ReplicaSetUpdated"
	ReasonNewReplicaSetAvailable     = "NewReplicaSetAvailable"
	ReasonProgressDeadlineExceeded   = "ProgressDeadlineExceeded"
	ReasonDeploymentPaused           = "DeploymentPaused"
	ReasonDeploymentResumed          = "DeploymentResumed"
	ReasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	ReasonFailedReplicaSetCreate     = "ReplicaSetCreateError"
)

// maxRevHistoryLengthInChars bounds the revision-history annotation, as
// Kubernetes' controller does.
const maxRevHistoryLengthInChars = 2000

// ComputeHash is Kubernetes' controller.ComputeHash: the FNV-32a hash of
// the template as spew prints the core/v1 PodTemplateSpec, with the
// collision count appended, encoded with rand.SafeEncodeString. orch's
// template is converted to core/v1's (the same JSON) first.
func ComputeHash(t *v1.PodTemplateSpec, collisionCount *int32) (string, error) {
	raw, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("encode pod template: %w", err)
	}
	var k corev1.PodTemplateSpec
	if err := json.Unmarshal(raw, &k); err != nil {
		return "", fmt.Errorf("decode pod template as core/v1: %w", err)
	}
	h := fnv.New32a()
	deepHashObject(h, k) // the value, as Kubernetes hashes *template
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		if _, err := h.Write(b); err != nil {
			return "", err
		}
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32())), nil
}

// deepHashObject is Kubernetes' hashutil.DeepHashObject: the object
// printed by spew with sorted keys and no methods, written to h.
func deepHashObject(h hash.Hash, obj any) {
	h.Reset()
	printer := spew.ConfigState{Indent: " ", SortKeys: true, DisableMethods: true, SpewKeys: true}
	printer.Fprintf(h, "%#v", obj)
}

// EqualIgnoreHash reports whether two templates are equal once the
// pod-template-hash label is removed from both (Kubernetes'
// EqualIgnoreHash).
func EqualIgnoreHash(a, b *v1.PodTemplateSpec) bool {
	strip := func(t *v1.PodTemplateSpec) v1.PodTemplateSpec {
		c := *t
		if _, ok := c.Labels[v1.DefaultDeploymentUniqueLabelKey]; ok {
			c.Labels = maps.Clone(c.Labels)
			delete(c.Labels, v1.DefaultDeploymentUniqueLabelKey)
		}
		if len(c.Labels) == 0 {
			c.Labels = nil
		}
		return c
	}
	return v1.JSONEqual(strip(a), strip(b))
}

// scaledValue is intstr.GetScaledValueFromIntOrPercent: a percentage of
// total rounded up or down, or the integer itself.
func scaledValue(v *v1.IntOrString, total int32, roundUp bool) int32 {
	if v == nil {
		return 0
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, int(total), roundUp)
	if err != nil || n < 0 {
		return 0 // validation refuses both
	}
	return int32(min(n, math.MaxInt32))
}

// ResolveFenceposts is Kubernetes' ResolveFenceposts: maxSurge rounded up
// and maxUnavailable rounded down against desired; when both come to 0,
// maxUnavailable is 1.
func ResolveFenceposts(maxSurge, maxUnavailable *v1.IntOrString, desired int32) (surge, unavailable int32) {
	surge = scaledValue(maxSurge, desired, true)
	unavailable = scaledValue(maxUnavailable, desired, false)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

// deploymentReplicas returns spec.replicas (1 when unset).
func deploymentReplicas(d *v1.Deployment) int32 {
	if d.Spec.Replicas != nil {
		return *d.Spec.Replicas
	}
	return 1
}

func isRollingUpdate(d *v1.Deployment) bool {
	return d.Spec.Strategy.Type == v1.RollingUpdateDeploymentStrategyType && d.Spec.Strategy.RollingUpdate != nil
}

// MaxUnavailable is Kubernetes' MaxUnavailable: the resolved
// maxUnavailable, at most replicas; 0 for Recreate or no replicas.
func MaxUnavailable(d *v1.Deployment) int32 {
	n := deploymentReplicas(d)
	if !isRollingUpdate(d) || n == 0 {
		return 0
	}
	ru := d.Spec.Strategy.RollingUpdate
	_, u := ResolveFenceposts(ru.MaxSurge, ru.MaxUnavailable, n)
	return min(u, n)
}

// MaxSurge is Kubernetes' MaxSurge: the resolved maxSurge; 0 for Recreate.
func MaxSurge(d *v1.Deployment) int32 {
	if !isRollingUpdate(d) {
		return 0
	}
	ru := d.Spec.Strategy.RollingUpdate
	s, _ := ResolveFenceposts(ru.MaxSurge, ru.MaxUnavailable, deploymentReplicas(d))
	return s
}

// rsReplicas returns a ReplicaSet's spec.replicas (1 when unset).
func rsReplicas(rs *v1.ReplicaSet) int32 {
	if rs.Spec.Replicas != nil {
		return *rs.Spec.Replicas
	}
	return 1
}

// specReplicaSum is GetReplicaCountForReplicaSets: the sum of spec.replicas.
func specReplicaSum(rss []*v1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += rsReplicas(rs)
		}
	}
	return n
}

// statusSum sums one status field over the sets.
func statusSum(rss []*v1.ReplicaSet, f func(*v1.ReplicaSetStatus) int32) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += f(&rs.Status)
		}
	}
	return n
}

func statusReplicas(s *v1.ReplicaSetStatus) int32  { return s.Replicas }
func statusReady(s *v1.ReplicaSetStatus) int32     { return s.ReadyReplicas }
func statusAvailable(s *v1.ReplicaSetStatus) int32 { return s.AvailableReplicas }

// NewRSNewReplicas is Kubernetes' NewRSNewReplicas: how many replicas the
// new set may have now. Rolling: up to replicas+maxSurge in all sets, never
// beyond replicas in the new one; Recreate: replicas.
func NewRSNewReplicas(d *v1.Deployment, all []*v1.ReplicaSet, newRS *v1.ReplicaSet) int32 {
	want := deploymentReplicas(d)
	if !isRollingUpdate(d) {
		return want
	}
	maxTotal := want + scaledValue(d.Spec.Strategy.RollingUpdate.MaxSurge, want, true)
	current := specReplicaSum(all)
	cur := rsReplicas(newRS)
	if current >= maxTotal {
		return cur
	}
	return cur + min(maxTotal-current, want-cur)
}

// revisionOf returns a ReplicaSet's revision annotation (0 when absent or bad).
func revisionOf(m *v1.ObjectMeta) int64 {
	n, err := strconv.ParseInt(m.Annotations[v1.RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// maxRevision is the greatest revision of the sets.
func maxRevision(rss []*v1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, revisionOf(&rs.ObjectMeta))
	}
	return m
}

// skippedAnnotations are the deployment's annotations not copied to its
// ReplicaSets (Kubernetes' skipCopyAnnotation).
var skippedAnnotations = map[string]bool{
	"kubectl.kubernetes.io/last-applied-configuration": true,
	v1.RevisionAnnotation:                              true,
	v1.RevisionHistoryAnnotation:                       true,
	v1.DesiredReplicasAnnotation:                       true,
	v1.MaxReplicasAnnotation:                           true,
	"deprecated.deployment.rollback.to":                true,
}

// setNewReplicaSetAnnotations is Kubernetes' SetNewReplicaSetAnnotations:
// the deployment's annotations, the revision (raised to newRevision, the
// earlier one kept in revision-history) and, for a set about to be made,
// the replicas annotations. It reports whether it changed rs.
func setNewReplicaSetAnnotations(d *v1.Deployment, rs *v1.ReplicaSet, newRevision int64, exists bool) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if skippedAnnotations[k] {
			continue
		}
		if cur, ok := rs.Annotations[k]; ok && cur == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	oldRevision, had := rs.Annotations[v1.RevisionAnnotation]
	oldN, err := strconv.ParseInt(oldRevision, 10, 64)
	if err != nil {
		if oldRevision != "" {
			return changed
		}
		oldN = 0
	}
	if oldN < newRevision {
		rs.Annotations[v1.RevisionAnnotation] = strconv.FormatInt(newRevision, 10)
		changed = true
		if had {
			rs.Annotations[v1.RevisionHistoryAnnotation] = appendRevisionHistory(rs.Annotations[v1.RevisionHistoryAnnotation], oldRevision)
		}
	}
	if !exists && setReplicasAnnotations(rs, deploymentReplicas(d), deploymentReplicas(d)+MaxSurge(d)) {
		changed = true
	}
	return changed
}

// appendRevisionHistory adds old to the comma-separated history, dropping
// the oldest entries to stay within maxRevHistoryLengthInChars.
func appendRevisionHistory(history, old string) string {
	if history == "" {
		return old
	}
	revs := strings.Split(history, ",")
	total := len(history) + len(old) + 1
	start := 0
	for total > maxRevHistoryLengthInChars && start < len(revs) {
		total -= len(revs[start]) + 1
		start++
	}
	return strings.Join(append(revs[start:], old), ",")
}

// setReplicasAnnotations sets the desired-replicas and max-replicas
// annotations kubectl and proportional scaling read; it reports a change.
func setReplicasAnnotations(rs *v1.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(maxReplicas))
	if rs.Annotations[v1.DesiredReplicasAnnotation] == d && rs.Annotations[v1.MaxReplicasAnnotation] == m {
		return false
	}
	rs.Annotations[v1.DesiredReplicasAnnotation] = d
	rs.Annotations[v1.MaxReplicasAnnotation] = m
	return true
}

// intAnnotation reads an int32 annotation.
func intAnnotation(rs *v1.ReplicaSet, key string) (int32, bool) {
	n, err := strconv.ParseInt(rs.Annotations[key], 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// byCreation orders sets oldest first, then by name (Kubernetes'
// ReplicaSetsByCreationTimestamp).
func byCreation(a, b *v1.ReplicaSet) int {
	return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
}

// byRevision orders sets by revision, then by creation (ReplicaSetsByRevision).
func byRevision(a, b *v1.ReplicaSet) int {
	ra, rb := revisionOf(&a.ObjectMeta), revisionOf(&b.ObjectMeta)
	if ra == rb {
		return byCreation(a, b)
	}
	return cmp.Compare(ra, rb)
}

// bySizeNewer orders sets largest first, newer first among equals
// (ReplicaSetsBySizeNewer); bySizeOlder older first among equals.
func bySizeNewer(a, b *v1.ReplicaSet) int {
	return cmp.Or(cmp.Compare(rsReplicas(b), rsReplicas(a)), byCreation(b, a))
}

func bySizeOlder(a, b *v1.ReplicaSet) int {
	return cmp.Or(cmp.Compare(rsReplicas(b), rsReplicas(a)), byCreation(a, b))
}

// activeSets are the sets with replicas (FilterActiveReplicaSets).
func activeSets(rss []*v1.ReplicaSet) []*v1.ReplicaSet {
	var out []*v1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && rsReplicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// getDeploymentCondition returns the condition of the type, or nil.
func getDeploymentCondition(st *v1.DeploymentStatus, t string) *v1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// newDeploymentCondition makes a condition written at now.
func newDeploymentCondition(t, status, reason, msg string, now time.Time) v1.DeploymentCondition {
	return v1.DeploymentCondition{Type: t, Status: status, Reason: reason, Message: msg,
		LastUpdateTime: v1.NewTime(now), LastTransitionTime: v1.NewTime(now)}
}

// setDeploymentCondition is Kubernetes' SetDeploymentCondition: nothing when the
// status and reason are unchanged; the transition time kept when the
// status is.
func setDeploymentCondition(st *v1.DeploymentStatus, c v1.DeploymentCondition) {
	cur := getDeploymentCondition(st, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeDeploymentCondition(st, c.Type)
	st.Conditions = append(st.Conditions, c)
}

// removeDeploymentCondition drops the condition of the type.
func removeDeploymentCondition(st *v1.DeploymentStatus, t string) {
	st.Conditions = slices.DeleteFunc(st.Conditions, func(c v1.DeploymentCondition) bool { return c.Type == t })
	if len(st.Conditions) == 0 {
		st.Conditions = nil
	}
}

// hasProgressDeadline is Kubernetes' HasProgressDeadline.
func hasProgressDeadline(d *v1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

// deploymentComplete is Kubernetes' DeploymentComplete.
func deploymentComplete(d *v1.Deployment, st *v1.DeploymentStatus) bool {
	n := deploymentReplicas(d)
	return st.UpdatedReplicas == n && st.Replicas == n && st.AvailableReplicas == n && st.ObservedGeneration >= d.Generation
}

// deploymentProgressing is Kubernetes' DeploymentProgressing: more updated,
// fewer old, more ready or more available replicas than the stored status.
func deploymentProgressing(d *v1.Deployment, st *v1.DeploymentStatus) bool {
	old := d.Status
	return st.UpdatedReplicas > old.UpdatedReplicas || st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas || st.AvailableReplicas > old.AvailableReplicas
}

// progressDeadline returns when the Progressing condition in st times out,
// if it can (Kubernetes' DeploymentTimedOut reads lastUpdateTime).
func progressDeadline(d *v1.Deployment, st *v1.DeploymentStatus) (time.Time, bool) {
	if !hasProgressDeadline(d) {
		return time.Time{}, false
	}
	c := getDeploymentCondition(st, v1.DeploymentProgressing)
	if c == nil || c.Reason == ReasonNewReplicaSetAvailable || c.Reason == ReasonProgressDeadlineExceeded {
		return time.Time{}, false
	}
	return c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second), true
}

// deploymentTimedOut is Kubernetes' DeploymentTimedOut.
func deploymentTimedOut(d *v1.Deployment, st *v1.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := getDeploymentCondition(st, v1.DeploymentProgressing)
	if c == nil || c.Reason == ReasonNewReplicaSetAvailable {
		return false
	}
	if c.Reason == ReasonProgressDeadlineExceeded {
		return true
	}
	at, _ := progressDeadline(d, st)
	return at.Before(now)
}

// newDeploymentControllerRef is the owner reference of a deployment's sets.
func newDeploymentControllerRef(d *v1.Deployment) v1.OwnerReference {
	return NewControllerRef(d)
}

// selectorWithHash is the deployment's selector with pod-template-hash.
func selectorWithHash(sel *metav1.LabelSelector, hash string) *metav1.LabelSelector {
	out := sel.DeepCopy()
	if out == nil {
		out = &metav1.LabelSelector{}
	}
	if out.MatchLabels == nil {
		out.MatchLabels = map[string]string{}
	}
	out.MatchLabels[v1.DefaultDeploymentUniqueLabelKey] = hash
	return out
}
