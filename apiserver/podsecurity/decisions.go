package podsecurity

import (
	"hash/maphash"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/metrics"
	"k8s.io/utils/lru"

	v1 "orch.io/orch/api/v1"
)

// decisions remembers the pod creates the library admitted silently (no
// warning, no audit violation, no error, no exemption) by what its
// decision depends on: the namespace's name (the exemptions) and labels
// (the policy; the configuration is the Admission's own), and the pod's
// annotations and spec (the checks read nothing else of a pod; the
// runtime class exemption is in the spec). A create of a pod alike in
// those (a controller's replicas, a client's pods) is admitted without
// converting the pod and evaluating it again, with the metric the library
// records for such a decision: an allowing evaluation at the enforce
// level. Any other outcome (a refusal, a warning, an audit violation,
// an exemption, an error) is decided by the library every time.
type decisions struct {
	seed  maphash.Seed
	cache *lru.Cache // maphash of the decision key (uint64) -> *decision
	bufs  sync.Pool  // *keyBuffers of Admit
}

// decision is a remembered silent admission: its whole key (a hit is a
// key equal to it, not merely of the same hash), the enforce level and
// the counter of the evaluation the library records for it.
type decision struct {
	key     string
	enforce api.LevelVersion
	counter prometheus.Counter
}

// keyBuffers are the buffers a pod create's spec JSON and decision key are
// written into, reused from one create to the next.
type keyBuffers struct{ spec, key []byte }

// maxPooledKeyBuffer bounds the buffers kept for reuse.
const maxPooledKeyBuffer = 64 << 10

// Bounds of the decision cache: the pods recently created, each key at
// most maxDecisionKeyBytes (a larger pod is evaluated and not kept), so
// the cache holds a few MiB at most.
const (
	cachedDecisions     = 256
	maxDecisionKeyBytes = 12 << 10
)

func newDecisions() *decisions {
	d := &decisions{seed: maphash.MakeSeed(), cache: lru.New(cachedDecisions)}
	d.bufs.New = func() any { return &keyBuffers{} }
	return d
}

func (d *decisions) getBuffers() *keyBuffers { return d.bufs.Get().(*keyBuffers) }

func (d *decisions) putBuffers(b *keyBuffers) {
	if cap(b.spec) <= maxPooledKeyBuffer && cap(b.key) <= maxPooledKeyBuffer {
		d.bufs.Put(b)
	}
}

// decisionKey is the key of the create of pod p, whose spec encodes to
// spec, in namespace ns; false when it is too large to keep.
func decisionKey(ns *v1.Namespace, p *v1.Pod, spec []byte) (string, bool) {
	b, ok := appendDecisionKey(nil, ns, p, spec)
	return string(b), ok
}

// appendDecisionKey appends the key of the create of pod p, whose spec
// encodes to spec, in namespace ns to dst; false (and dst) when it is too
// large to keep.
func appendDecisionKey(dst []byte, ns *v1.Namespace, p *v1.Pod, spec []byte) ([]byte, bool) {
	n := len(ns.Name) + len(spec) + 8
	for k, v := range ns.Labels {
		n += len(k) + len(v) + 8
	}
	for k, v := range p.Annotations {
		n += len(k) + len(v) + 8
	}
	if n > maxDecisionKeyBytes {
		return dst, false
	}
	b := slices.Grow(dst, n+32)
	// Each string is written after its length, so no two different
	// inputs make one key.
	b = appendKeyString(b, ns.Name)
	b = appendSortedMap(b, ns.Labels)
	b = appendSortedMap(b, p.Annotations)
	return append(b, spec...), true
}

// appendKeyString appends s after its length.
func appendKeyString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

// appendSortedMap appends m's size, then its keys in order, each followed
// by its value.
func appendSortedMap(b []byte, m map[string]string) []byte {
	var small [8]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = strconv.AppendInt(b, int64(len(keys)), 10)
	b = append(b, '{')
	for _, k := range keys {
		b = appendKeyString(b, k)
		b = appendKeyString(b, m[k])
	}
	return b
}

// hash is the cache's key for a decision key.
func (d *decisions) hash(key []byte) uint64 { return maphash.Bytes(d.seed, key) }

// get returns the silent admission remembered for key.
func (d *decisions) get(key []byte) (*decision, bool) {
	v, ok := d.cache.Get(d.hash(key))
	if !ok {
		return nil, false
	}
	dec := v.(*decision)
	if dec.key != string(key) {
		return nil, false // another key of the same hash
	}
	return dec, true
}

// add remembers a silent admission at enforce level enforce for key,
// with the counter such an admission increments.
func (d *decisions) add(key []byte, enforce api.LevelVersion, counter prometheus.Counter) {
	d.cache.Add(d.hash(key), &decision{key: string(key), enforce: enforce, counter: counter})
}

// silent reports whether the library's response admits without a word:
// allowed, no warnings, and of the audit annotations only the enforce
// policy's (an exemption, an audit violation or an error adds its own).
func silent(resp *admissionv1.AdmissionResponse) bool {
	if resp == nil || !resp.Allowed || len(resp.Warnings) > 0 || len(resp.AuditAnnotations) != 1 {
		return false
	}
	_, ok := resp.AuditAnnotations[api.EnforcedPolicyAnnotationKey]
	return ok
}

// silentCounter is the counter the library increments for a silent
// admission of a pod create at enforce level enforce (recordSilent).
func (a *Admission) silentCounter(enforce api.LevelVersion) prometheus.Counter {
	return a.metrics.evaluationCounter(metrics.DecisionAllow, enforce, metrics.ModeEnforce, "create", "pod", "")
}
