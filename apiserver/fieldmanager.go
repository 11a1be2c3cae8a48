package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/validation/spec"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"orch.io/orch/api/openapi"
	v1 "orch.io/orch/api/v1"
)

// fieldManagers keeps metadata.managedFields as Kubernetes' field manager
// does (k8s.io/apimachinery/pkg/util/managedfields, on
// sigs.k8s.io/structured-merge-diff), with the types taken from orch's own
// OpenAPI document: its list types and map keys are those of k8s.io/api,
// so an apply merges containers by name, ports by port and protocol.
//
// Objects pass to the field manager as unstructured JSON; orch serves one
// version of each kind, so conversion is the identity, except between a
// view and its stored kind (events.k8s.io/v1 and core/v1 Events), whose
// managedFields entries are compared each in its own group version, as
// Kubernetes converts them (viewConvertor).
type fieldManagers struct {
	tc managedfields.TypeConverter
	mu sync.Mutex
	// m holds one field manager per kind and subresource ("" or "status").
	m map[fieldManagerKey]*managedfields.FieldManager
	// creates remembers creates' entries by the objects' shapes.
	creates *createFields
}

type fieldManagerKey struct {
	resource    string // group/resource
	subresource string
}

// newFieldManagers builds the type converter from the OpenAPI document.
func newFieldManagers() (*fieldManagers, error) {
	sw, err := openapi.V2()
	if err != nil {
		return nil, err
	}
	defs := make(map[string]*spec.Schema, len(sw.Definitions))
	for name := range sw.Definitions {
		s := sw.Definitions[name]
		defs[name] = &s
	}
	tc, err := managedfields.NewTypeConverter(defs, false)
	if err != nil {
		return nil, fmt.Errorf("field manager: type converter from the OpenAPI document: %w", err)
	}
	return &fieldManagers{tc: newTrackedConverter(tc), m: map[fieldManagerKey]*managedfields.FieldManager{}, creates: newCreateFields()}, nil
}

// gvkOf is the group, version and kind of a resource.
func gvkOf(r v1.Resource) schema.GroupVersionKind {
	gv, _ := schema.ParseGroupVersion(r.GroupVersion())
	return gv.WithKind(r.Kind)
}

// get returns the field manager of a resource and subresource.
func (f *fieldManagers) get(r v1.Resource, subresource string) (*managedfields.FieldManager, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := fieldManagerKey{r.Group + "/" + r.Name, subresource}
	if fm, ok := f.m[k]; ok {
		return fm, nil
	}
	gvk := gvkOf(r)
	fm, err := managedfields.NewDefaultFieldManager(f.tc, viewConvertor{}, noDefaulter{}, unstructuredCreater{},
		gvk, gvk.GroupVersion(), subresource, resetFields(r, subresource))
	if err != nil {
		return nil, fmt.Errorf("field manager of %s: %w", gvk, err)
	}
	f.m[k] = fm
	return fm, nil
}

// resetFields are the fields a write through the resource or subresource
// leaves as they are, so its manager does not own them: the status for
// the resource itself, the spec for its status, and for a pod's status
// also the deletion timestamp and owner references — the kinds' strategies'
// GetResetFields in Kubernetes.
func resetFields(r v1.Resource, subresource string) map[fieldpath.APIVersion]fieldpath.Filter {
	var set *fieldpath.Set
	switch {
	case subresource == "" && r.HasStatus:
		set = fieldpath.NewSet(fieldpath.MakePathOrDie("status"))
	case subresource == "status" && r.Group == "" && r.Name == "pods":
		set = fieldpath.NewSet(fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("metadata", "deletionTimestamp"),
			fieldpath.MakePathOrDie("metadata", "ownerReferences"))
	case subresource == "status":
		set = fieldpath.NewSet(fieldpath.MakePathOrDie("spec"))
	default:
		return nil
	}
	return map[fieldpath.APIVersion]fieldpath.Filter{fieldpath.APIVersion(r.GroupVersion()): fieldpath.NewExcludeSetFilter(set)}
}

// identityConvertor converts between the one version orch serves.
type identityConvertor struct{}

func (identityConvertor) Convert(in, out, context any) error {
	return errors.New("conversion is not supported")
}

func (identityConvertor) ConvertToVersion(in runtime.Object, _ runtime.GroupVersioner) (runtime.Object, error) {
	return in, nil
}

func (identityConvertor) ConvertFieldLabel(_ schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

// viewConvertor is identityConvertor, but converts an object between a
// view and its stored kind, so that an entry an events.k8s.io/v1 writer
// made (note) and one a core/v1 writer made (message) name the same field.
type viewConvertor struct{ identityConvertor }

func (viewConvertor) ConvertToVersion(in runtime.Object, target runtime.GroupVersioner) (runtime.Object, error) {
	u, ok := in.(*unstructured.Unstructured)
	if !ok {
		return in, nil
	}
	from := u.GroupVersionKind()
	to, ok := target.KindForGroupVersionKinds([]schema.GroupVersionKind{from})
	if gv, isGV := target.(schema.GroupVersion); isGV {
		// A GroupVersion names no kind of another group: the same kind.
		to, ok = gv.WithKind(from.Kind), true
	}
	if !ok || to == from {
		return in, nil
	}
	src, okSrc := resourceOfGVK(from)
	dst, okDst := resourceOfGVK(to)
	if !okSrc || !okDst || src.Name != dst.Name || (src.View == nil && dst.View == nil) {
		return in, nil
	}
	b, err := json.Marshal(u.Object)
	if err != nil {
		return nil, fmt.Errorf("convert %s to %s: %w", from, to, err)
	}
	obj := src.New()
	if err := json.Unmarshal(b, obj); err != nil {
		return nil, fmt.Errorf("convert %s to %s: %w", from, to, err)
	}
	if src.View != nil {
		obj = src.View.ToStored(obj)
	}
	if dst.View != nil {
		obj = dst.View.FromStored(obj)
	}
	return toUnstructured(obj)
}

// resourceOfGVK finds the served resource of a group, version and kind.
func resourceOfGVK(gvk schema.GroupVersionKind) (v1.Resource, bool) {
	for _, r := range v1.GroupResources(gvk.Group, gvk.Version) {
		if r.Kind == gvk.Kind {
			return r, true
		}
	}
	return v1.Resource{}, false
}

// noDefaulter: orch defaults objects itself, after the merge.
type noDefaulter struct{}

func (noDefaulter) Default(runtime.Object) {}

// unstructuredCreater makes empty objects of a kind.
type unstructuredCreater struct{}

func (unstructuredCreater) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// emptyOf is the live object of a create: an object of the kind, nothing set.
func emptyOf(r v1.Resource) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(gvkOf(r))
	return u
}

// fieldManagerKey of a request's field manager in its context.
type managerKey struct{}

// withManager records the request's field manager: the fieldManager
// parameter or, as Kubernetes does, the User-Agent up to its first "/".
func withManager(ctx context.Context, fieldManager, userAgent string) context.Context {
	if fieldManager == "" {
		fieldManager = prefixFromUserAgent(userAgent)
	}
	return context.WithValue(ctx, managerKey{}, fieldManager)
}

// managerOf is the field manager recorded by withManager.
func managerOf(ctx context.Context) string {
	m, _ := ctx.Value(managerKey{}).(string)
	return m
}

// prefixFromUserAgent is Kubernetes' default manager name: the User-Agent
// before its first "/", printable characters only, at most 128 bytes.
func prefixFromUserAgent(u string) string {
	m, _, _ := strings.Cut(u, "/")
	if printableASCII(m) {
		// What the loop below writes, without copying: every byte is
		// a printable rune of one byte.
		return m[:min(len(m), 128)]
	}
	var b strings.Builder
	for _, r := range m {
		if !unicode.IsPrint(r) {
			continue
		}
		if b.Len() >= 128 {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// printableASCII reports whether every byte of s is printable ASCII
// (space to tilde).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// trackUpdate sets obj's managedFields for a create (old nil) or an
// update of old by the request's manager, as Kubernetes' field manager
// does for every write that is not an apply. A create whose object
// carries no managedFields takes the entry remembered for objects of its
// shape (trackCreate).
func (s *Server) trackUpdate(ctx context.Context, req *request, obj, old v1.Object) error {
	if old == nil && len(obj.GetObjectMeta().ManagedFields) == 0 && s.fields.creates != nil {
		return s.trackCreate(ctx, req, obj)
	}
	return s.trackWrite(ctx, req, obj, old)
}

// trackWrite is trackUpdate through the field manager.
//
// The objects pass to the field manager as trackedObjects: their
// managedFields stay typed beside the content, so the entries the field
// manager reads and writes are converted field by field, not through
// unstructured JSON, and the stored object's managedFields are not
// encoded and parsed again with it.
func (s *Server) trackWrite(ctx context.Context, req *request, obj, old v1.Object) error {
	fm, err := s.fields.get(req.resource, trackedSub(req))
	if err != nil {
		return err
	}
	// A view's managedFields are those of the view's fields, as
	// Kubernetes records them for the request's group version.
	var live *trackedObject
	if old == nil {
		live = &trackedObject{Unstructured: emptyOf(req.resource)}
	} else if live, err = newTrackedObject(viewOf(req.resource, old)); err != nil {
		return err
	}
	v1.SetTypeMeta(obj)
	next, err := newTrackedObject(viewOf(req.resource, obj))
	if err != nil {
		return err
	}
	out, err := fm.Update(live, next, managerOf(ctx))
	if err != nil {
		return fmt.Errorf("track managed fields of %s %s: %w", req.resource.Kind, obj.GetObjectMeta().Name, err)
	}
	tracked, ok := out.(*trackedObject)
	if !ok {
		return fmt.Errorf("track managed fields of %s %s: the field manager returned a %T", req.resource.Kind, obj.GetObjectMeta().Name, out)
	}
	obj.GetObjectMeta().ManagedFields = managedFieldsFromK8s(tracked.managed)
	return nil
}

// trackedSub is the subresource a write's managedFields entry names:
// status and scale write parts of their object; other subresources
// (binding, eviction) are not tracked as writes of it.
func trackedSub(req *request) string {
	if req.sub == "status" || req.sub == "scale" {
		return req.sub
	}
	return ""
}

// statusFromK8s turns an apimachinery status error (an apply conflict, a
// bad apply body) into orch's, keeping code, reason, message and causes.
func statusFromK8s(err error) error {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return err
	}
	b, mErr := json.Marshal(se.Status())
	if mErr != nil {
		return err
	}
	out := &v1.StatusError{}
	if json.Unmarshal(b, &out.Status) != nil || out.Status.Code == 0 {
		return err
	}
	out.Status.Kind, out.Status.APIVersion = "Status", v1.APIVersion
	return out
}

// toUnstructured is obj as its JSON decodes, for the conversions between a
// view and its stored kind (the common path converts without JSON: see
// newTrackedObject).
func toUnstructured(obj v1.Object) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s for the field manager: %w", v1.KindOf(obj), err)
	}
	u := &unstructured.Unstructured{}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(b, &u.Object); err != nil {
		return nil, fmt.Errorf("decode %s for the field manager: %w", v1.KindOf(obj), err)
	}
	return u, nil
}
