package podsecurity

import (
	"encoding/json"
	"fmt"
	"maps"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/lru"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

type (
	corev1Pod       = corev1.Pod
	corev1Namespace = corev1.Namespace
)

// convert turns an orch object into the k8s.io/api object of the same
// kind. orch's JSON is core/v1's, so a JSON round trip converts every field
// orch has; the fields it lacks stay zero.
func convert(obj v1.Object) (runtime.Object, error) {
	r, err := v1.ResourceOf(obj)
	if err != nil || !checkedResource(r) {
		return nil, fmt.Errorf("%w: %T", errUnsupported, obj)
	}
	out, err := scheme.Scheme.New(gvk(r))
	if err != nil {
		return nil, fmt.Errorf("%w: %T: %v", errUnsupported, obj, err)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", obj, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("decode %T as core/v1: %w", obj, err)
	}
	return out, nil
}

// podSpecs converts pods for the library: their metadata field by field,
// their spec by the JSON round trip of convert, remembered by the spec's
// JSON. The pods of one controller share their spec, so a create costs
// encoding the spec and a lookup, not decoding it: the decode was most of
// what Pod Security cost a pod write. The library only reads a pod's
// metadata and spec (policy.Evaluator.EvaluatePod and the admission's
// update and exemption rules), so the status is not converted.
//
// A remembered spec is shared by every pod converted from it: the library
// reads the objects it is given and never changes them.
type podSpecs struct {
	cache *lru.Cache // spec JSON (string) -> *corev1.PodSpec
}

// Bounds of the spec cache: the specs of the recently written pods, each
// at most maxCachedSpecBytes once encoded (a larger one is converted and
// not kept), so the cache holds a few MiB at most.
const (
	cachedSpecs        = 256
	maxCachedSpecBytes = 8 << 10
)

func newPodSpecs() *podSpecs { return &podSpecs{cache: lru.New(cachedSpecs)} }

// toPod converts p as convert does (metadata and spec).
func (c *podSpecs) toPod(p *v1.Pod) (*corev1.Pod, error) {
	b, err := specJSON(p)
	if err != nil {
		return nil, err
	}
	return c.toPodWith(p, b)
}

// specJSON is the JSON of p's spec, which toPodWith converts.
func specJSON(p *v1.Pod) ([]byte, error) { return appendSpecJSON(nil, p) }

// appendSpecJSON appends specJSON(p) to dst: json.Marshal's bytes, written
// by fsm.AppendJSON's encoder (held to them by fsm's tests and by
// TestSpecJSONMatchesMarshal).
func appendSpecJSON(dst []byte, p *v1.Pod) ([]byte, error) {
	b, err := fsm.AppendJSON(dst, &p.Spec)
	if err != nil {
		return dst, fmt.Errorf("encode the spec of pod %s: %w", p.Name, err)
	}
	return b, nil
}

// toPodWith is toPod of p whose spec encodes to b (specJSON).
func (c *podSpecs) toPodWith(p *v1.Pod, b []byte) (*corev1.Pod, error) {
	out := &corev1.Pod{TypeMeta: metav1.TypeMeta{Kind: p.Kind, APIVersion: p.APIVersion}, ObjectMeta: toObjectMeta(&p.ObjectMeta)}
	if len(b) > maxCachedSpecBytes {
		if err := json.Unmarshal(b, &out.Spec); err != nil {
			return nil, fmt.Errorf("decode the spec of pod %s as core/v1: %w", p.Name, err)
		}
		return out, nil
	}
	if spec, ok := c.cache.Get(string(b)); ok {
		out.Spec = *spec.(*corev1.PodSpec)
		return out, nil
	}
	spec := &corev1.PodSpec{}
	if err := json.Unmarshal(b, spec); err != nil {
		return nil, fmt.Errorf("decode the spec of pod %s as core/v1: %w", p.Name, err)
	}
	c.cache.Add(string(b), spec)
	out.Spec = *spec
	return out, nil
}

// convert is the package's convert with pods converted by toPod; spec is
// the JSON of a pod's spec when it is known already (specJSON), or nil.
func (c *podSpecs) convert(obj v1.Object, spec []byte) (runtime.Object, error) {
	if p, ok := obj.(*v1.Pod); ok {
		if spec != nil {
			return c.toPodWith(p, spec)
		}
		return c.toPod(p)
	}
	return convert(obj)
}

// toObjectMeta is m as its JSON decodes into apimachinery's ObjectMeta.
func toObjectMeta(m *v1.ObjectMeta) metav1.ObjectMeta {
	out := metav1.ObjectMeta{Name: m.Name, GenerateName: m.GenerateName, Namespace: m.Namespace, UID: types.UID(m.UID),
		ResourceVersion: m.ResourceVersion, Generation: m.Generation, DeletionGracePeriodSeconds: m.DeletionGracePeriodSeconds,
		Labels: m.Labels, Annotations: m.Annotations, Finalizers: m.Finalizers}
	if !m.CreationTimestamp.IsZero() {
		out.CreationTimestamp = metav1.Time{Time: m.CreationTimestamp.Time}
	}
	if m.DeletionTimestamp != nil && !m.DeletionTimestamp.IsZero() {
		out.DeletionTimestamp = &metav1.Time{Time: m.DeletionTimestamp.Time}
	}
	if m.OwnerReferences != nil {
		out.OwnerReferences = make([]metav1.OwnerReference, len(m.OwnerReferences))
		for i, r := range m.OwnerReferences {
			out.OwnerReferences[i] = metav1.OwnerReference{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name,
				UID: types.UID(r.UID), Controller: r.Controller, BlockOwnerDeletion: r.BlockOwnerDeletion}
		}
	}
	if m.ManagedFields != nil {
		out.ManagedFields = make([]metav1.ManagedFieldsEntry, len(m.ManagedFields))
		for i, e := range m.ManagedFields {
			out.ManagedFields[i] = metav1.ManagedFieldsEntry{Manager: e.Manager, Operation: metav1.ManagedFieldsOperationType(e.Operation),
				APIVersion: e.APIVersion, FieldsType: e.FieldsType, Subresource: e.Subresource}
			if e.Time != nil && !e.Time.IsZero() {
				out.ManagedFields[i].Time = &metav1.Time{Time: e.Time.Time}
			}
			if e.FieldsV1 != nil && len(e.FieldsV1.Raw) > 0 {
				out.ManagedFields[i].FieldsV1 = &metav1.FieldsV1{Raw: e.FieldsV1.Raw}
			}
		}
	}
	return out
}

// toNamespace is the namespace as the library reads it when it admits a
// pod or a pod controller: its name and labels (the levels), with the
// annotations and identity beside them. Built directly rather than by the
// JSON round trip of convert: it runs on every pod write.
func toNamespace(ns *v1.Namespace) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name, UID: types.UID(ns.UID),
		ResourceVersion: ns.ResourceVersion, Labels: maps.Clone(ns.Labels), Annotations: maps.Clone(ns.Annotations)}}
}

// gvk is the Kubernetes group, version and kind of an orch resource: orch
// serves version v1 of every group.
func gvk(r v1.Resource) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: "v1", Kind: r.Kind}
}

// resourceNamed finds a checked resource by its plural name.
func resourceNamed(name string) (v1.Resource, bool) {
	r, ok := v1.ResourceByName(name)
	return r, ok && r.Name == name && checkedResource(r)
}

// attributes is a Request as the library's api.Attributes; the objects are
// converted when the library asks for them (not at all for a namespace
// that is privileged or exempt). A conversion error is kept in err.
type attributes struct {
	req      Request
	pods     *podSpecs
	spec     []byte // the JSON of req.Object's spec, when a pod's is known
	obj, old runtime.Object
	err      error
}

func newAttributes(req Request, pods *podSpecs) *attributes {
	return &attributes{req: req, pods: pods}
}

func (a *attributes) GetName() string      { return a.req.Name }
func (a *attributes) GetNamespace() string { return a.req.Namespace }
func (a *attributes) GetResource() schema.GroupVersionResource {
	r, _ := resourceNamed(a.req.Resource)
	return schema.GroupVersionResource{Group: r.Group, Version: "v1", Resource: a.req.Resource}
}
func (a *attributes) GetKind() schema.GroupVersionKind {
	r, _ := resourceNamed(a.req.Resource)
	return gvk(r)
}
func (a *attributes) GetSubresource() string              { return a.req.Subresource }
func (a *attributes) GetOperation() admissionv1.Operation { return a.req.Operation.admission() }
func (a *attributes) GetUserName() string                 { return "" }
func (a *attributes) GetObject() (runtime.Object, error) {
	return a.get(&a.obj, a.req.Object, a.spec)
}
func (a *attributes) GetOldObject() (runtime.Object, error) {
	return a.get(&a.old, a.req.OldObject, nil)
}

func (a *attributes) get(cache *runtime.Object, obj v1.Object, spec []byte) (runtime.Object, error) {
	if *cache != nil || obj == nil {
		return *cache, nil
	}
	out, err := a.pods.convert(obj, spec)
	if err != nil {
		a.err = err
		return nil, err
	}
	*cache = out
	return out, nil
}

// statusError turns the library's Status into orch's: both are Kubernetes'
// Status in JSON, so the message, reason, details and code carry over.
func statusError(st *metav1.Status) error {
	if st == nil {
		return v1.NewInternalError(fmt.Errorf("pod security: refused without a status"))
	}
	b, err := json.Marshal(st)
	if err != nil {
		return v1.NewInternalError(fmt.Errorf("pod security: encode status: %w", err))
	}
	var out v1.Status
	if err := json.Unmarshal(b, &out); err != nil {
		return v1.NewInternalError(fmt.Errorf("pod security: decode status: %w", err))
	}
	out.TypeMeta = v1.TypeMeta{Kind: "Status", APIVersion: v1.APIVersion}
	return &v1.StatusError{Status: out}
}
