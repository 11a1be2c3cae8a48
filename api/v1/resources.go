package v1

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one REST resource: its path name, its kind and how to
// make an empty object of it.
type Resource struct {
	// Group is the API group, "" for the core group (served under
	// /api/v1; other groups under /apis/<group>/<version>).
	Group string
	// Version is the group's version; "" means "v1".
	Version string
	// Name is the plural path segment, e.g. "pods".
	Name string
	// Singular is the singular name, e.g. "pod".
	Singular string
	// Kind is the object kind, e.g. "Pod".
	Kind string
	// ShortNames are CLI abbreviations, e.g. "po".
	ShortNames []string
	// Namespaced says whether objects live in a namespace.
	Namespaced bool
	// HasStatus says whether the resource has a status subresource.
	HasStatus bool
	// Verbs are the verbs the resource serves, for discovery and
	// authorization; nil means create, delete, get, list, patch, update
	// and watch. A create-only review (SubjectAccessReview) names only
	// "create".
	Verbs []string
	// Categories are the groups of resources a name like "all" stands for
	// in `kubectl get all` (Kubernetes puts its workloads and services in
	// "all").
	Categories []string
	// Review says the resource is a question answered by the API server
	// (an access review): created only, never stored.
	Review bool
	// New returns an empty object of the kind.
	New func() Object
	// View, when set, makes the resource another group version's view of
	// the stored resource of the same Name (events.k8s.io/v1 Events are
	// the stored core/v1 Events): it has no storage of its own, and every
	// request converts between its type and the stored one.
	View *View
}

// View converts a view resource's objects to and from the stored kind and
// adds the validation of the view's group version.
type View struct {
	// ToStored converts an object of the view's type to the stored kind.
	ToStored func(Object) Object
	// FromStored converts a stored object to the view's type.
	FromStored func(Object) Object
	// ValidateCreate and ValidateUpdate check, on the stored form, what a
	// create or update through the view requires beyond the stored
	// kind's own validation (nil: nothing more).
	ValidateCreate func(obj Object) field.ErrorList
	ValidateUpdate func(obj, old Object) field.ErrorList
}

// The supported resources. The table is read-only.
var resources = []Resource{
	{Name: "namespaces", Singular: "namespace", Kind: "Namespace", ShortNames: []string{"ns"}, HasStatus: true,
		New: func() Object { return &Namespace{} }},
	{Name: "nodes", Singular: "node", Kind: "Node", ShortNames: []string{"no"}, HasStatus: true,
		New: func() Object { return &Node{} }},
	{Name: "pods", Singular: "pod", Kind: "Pod", ShortNames: []string{"po"}, Namespaced: true, HasStatus: true,
		Categories: categoryAll, New: func() Object { return &Pod{} }},
	{Name: "replicationcontrollers", Singular: "replicationcontroller", Kind: "ReplicationController",
		ShortNames: []string{"rc"}, Namespaced: true, HasStatus: true, Categories: categoryAll,
		New: func() Object { return &ReplicationController{} }},
	{Name: "services", Singular: "service", Kind: "Service", ShortNames: []string{"svc"}, Namespaced: true, HasStatus: true,
		Categories: categoryAll, New: func() Object { return &Service{} }},
	{Name: "configmaps", Singular: "configmap", Kind: "ConfigMap", ShortNames: []string{"cm"}, Namespaced: true,
		New: func() Object { return &ConfigMap{} }},
	{Name: "secrets", Singular: "secret", Kind: "Secret", Namespaced: true,
		New: func() Object { return &Secret{} }},
	{Name: "endpoints", Singular: "endpoints", Kind: "Endpoints", ShortNames: []string{"ep"}, Namespaced: true,
		New: func() Object { return &Endpoints{} }},
	{Name: "resourcequotas", Singular: "resourcequota", Kind: "ResourceQuota", ShortNames: []string{"quota"}, Namespaced: true, HasStatus: true,
		New: func() Object { return &ResourceQuota{} }},
	{Name: "limitranges", Singular: "limitrange", Kind: "LimitRange", ShortNames: []string{"limits"}, Namespaced: true,
		New: func() Object { return &LimitRange{} }},
	{Group: RBACGroup, Name: "roles", Singular: "role", Kind: "Role", Namespaced: true,
		New: func() Object { return &Role{} }},
	{Group: RBACGroup, Name: "clusterroles", Singular: "clusterrole", Kind: "ClusterRole",
		New: func() Object { return &ClusterRole{} }},
	{Group: RBACGroup, Name: "rolebindings", Singular: "rolebinding", Kind: "RoleBinding", Namespaced: true,
		New: func() Object { return &RoleBinding{} }},
	{Group: RBACGroup, Name: "clusterrolebindings", Singular: "clusterrolebinding", Kind: "ClusterRoleBinding",
		New: func() Object { return &ClusterRoleBinding{} }},
	{Group: AuthorizationGroup, Name: "selfsubjectaccessreviews", Singular: "selfsubjectaccessreview", Kind: "SelfSubjectAccessReview",
		Verbs: reviewVerbs, Review: true, New: func() Object { return &SelfSubjectAccessReview{} }},
	{Group: AuthorizationGroup, Name: "selfsubjectrulesreviews", Singular: "selfsubjectrulesreview", Kind: "SelfSubjectRulesReview",
		Verbs: reviewVerbs, Review: true, New: func() Object { return &SelfSubjectRulesReview{} }},
	{Group: AuthorizationGroup, Name: "subjectaccessreviews", Singular: "subjectaccessreview", Kind: "SubjectAccessReview",
		Verbs: reviewVerbs, Review: true, New: func() Object { return &SubjectAccessReview{} }},
	{Group: CertificatesGroup, Name: "certificatesigningrequests", Singular: "certificatesigningrequest", Kind: "CertificateSigningRequest",
		ShortNames: []string{"csr"}, HasStatus: true,
		New: func() Object { return &CertificateSigningRequest{} }},
	{Group: BootstrapGroup, Name: "bootstraptokens", Singular: "bootstraptoken", Kind: "BootstrapToken",
		New: func() Object { return &BootstrapToken{} }},
	{Name: "serviceaccounts", Singular: "serviceaccount", Kind: "ServiceAccount", ShortNames: []string{"sa"}, Namespaced: true,
		New: func() Object { return &ServiceAccount{} }},
	{Group: CoordinationGroup, Name: "leases", Singular: "lease", Kind: "Lease", Namespaced: true,
		New: func() Object { return &Lease{} }},
	{Group: DiscoveryGroup, Name: "endpointslices", Singular: "endpointslice", Kind: "EndpointSlice", Namespaced: true,
		New: func() Object { return &EndpointSlice{} }},
	{Name: "events", Singular: "event", Kind: "Event", ShortNames: []string{"ev"}, Namespaced: true,
		Verbs: eventVerbs, New: func() Object { return &Event{} }},
	{Group: PolicyGroup, Name: "poddisruptionbudgets", Singular: "poddisruptionbudget", Kind: "PodDisruptionBudget",
		ShortNames: []string{"pdb"}, Namespaced: true, HasStatus: true,
		New: func() Object { return &PodDisruptionBudget{} }},
	{Group: BatchGroup, Name: "jobs", Singular: "job", Kind: "Job", Namespaced: true, HasStatus: true,
		Categories: categoryAll, New: func() Object { return &Job{} }},
	{Group: BatchGroup, Name: "cronjobs", Singular: "cronjob", Kind: "CronJob", ShortNames: []string{"cj"}, Namespaced: true,
		HasStatus: true, Categories: categoryAll, New: func() Object { return &CronJob{} }},
	{Group: AppsGroup, Name: "replicasets", Singular: "replicaset", Kind: "ReplicaSet",
		ShortNames: []string{"rs"}, Namespaced: true, HasStatus: true, Categories: categoryAll,
		New: func() Object { return &ReplicaSet{} }},
	{Group: AppsGroup, Name: "deployments", Singular: "deployment", Kind: "Deployment",
		ShortNames: []string{"deploy"}, Namespaced: true, HasStatus: true, Categories: categoryAll,
		New: func() Object { return &Deployment{} }},
	{Group: AppsGroup, Name: "controllerrevisions", Singular: "controllerrevision", Kind: "ControllerRevision",
		Namespaced: true, New: func() Object { return &ControllerRevision{} }},
	{Group: AppsGroup, Name: "daemonsets", Singular: "daemonset", Kind: "DaemonSet",
		ShortNames: []string{"ds"}, Namespaced: true, HasStatus: true, Categories: categoryAll,
		New: func() Object { return &DaemonSet{} }},
	{Group: AppsGroup, Name: "statefulsets", Singular: "statefulset", Kind: "StatefulSet",
		ShortNames: []string{"sts"}, Namespaced: true, HasStatus: true, Categories: categoryAll,
		New: func() Object { return &StatefulSet{} }},
}

// views are the resources that show stored objects of another resource
// in another group version; they are served, discovered and described
// like the others but never stored (Resources leaves them out).
var views = []Resource{eventV1Resource}

// categoryAll puts a resource in `kubectl get all`, as Kubernetes puts its
// workloads (pods, replication controllers and later kinds) and services.
var categoryAll = []string{"all"}

// eventVerbs are Kubernetes' verbs of events (both groups): every verb,
// deletecollection included.
var eventVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// reviewVerbs are the verbs of a review: it is answered, never stored.
var reviewVerbs = []string{"create"}

// byType maps each resource's Go type to its resource, so KindOf and
// ResourceOf need no switch to extend (a view's type is the view's).
// Read-only after initialisation.
var byType = func() map[reflect.Type]Resource {
	m := make(map[reflect.Type]Resource, len(resources)+len(views))
	for _, r := range Served() {
		m[reflect.TypeOf(r.New())] = r
	}
	return m
}()

// GroupVersion is the resource's apiVersion: "v1" for the core group,
// "<group>/<version>" for the others.
func (r Resource) GroupVersion() string {
	v := r.Version
	if v == "" {
		v = APIVersion
	}
	if r.Group == "" {
		return v
	}
	return r.Group + "/" + v
}

// PathPrefix is the REST path under which the resource is served:
// "/api/v1" or "/apis/<group>/<version>".
func (r Resource) PathPrefix() string {
	if r.Group == "" {
		return "/api/" + r.GroupVersion()
	}
	return "/apis/" + r.GroupVersion()
}

// GroupVersion names one served API group version.
type GroupVersion struct {
	Group, Version string
}

// String is the apiVersion, "<group>/<version>".
func (gv GroupVersion) String() string { return gv.Group + "/" + gv.Version }

// Groups returns the served API groups other than the core group, each
// version once, sorted by group.
func Groups() []GroupVersion {
	seen := map[GroupVersion]bool{}
	var out []GroupVersion
	for _, r := range Served() {
		if r.Group == "" {
			continue
		}
		gv := GroupVersion{Group: r.Group, Version: r.Version}
		if gv.Version == "" {
			gv.Version = APIVersion
		}
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// byGroupVersion indexes the table by group version ("" and "v1" for the
// core group), each list in table order; byPath by group version and plural
// name. Both are read-only after initialisation: every API request looks
// its resource up here.
var byGroupVersion, byPath = func() (map[GroupVersion][]Resource, map[resourceKey]Resource) {
	gvs := map[GroupVersion][]Resource{}
	paths := make(map[resourceKey]Resource, len(resources)+len(views))
	for _, r := range Served() {
		gv := GroupVersion{Group: r.Group, Version: r.Version}
		if gv.Version == "" {
			gv.Version = APIVersion
		}
		gvs[gv] = append(gvs[gv], r)
		paths[resourceKey{gv, r.Name}] = r
	}
	return gvs, paths
}()

// resourceKey names a resource by its group version and plural name.
type resourceKey struct {
	gv   GroupVersion
	name string
}

// GroupResources returns the resources of one group version ("" and "v1"
// for the core group), in table order.
func GroupResources(group, version string) []Resource {
	return append([]Resource(nil), byGroupVersion[GroupVersion{Group: group, Version: version}]...)
}

// ResourceIn finds a resource by its plural name in one group version.
func ResourceIn(group, version, name string) (Resource, bool) {
	r, ok := byPath[resourceKey{GroupVersion{Group: group, Version: version}, name}]
	return r, ok
}

// Resources returns every stored resource, in a stable order. Views are
// not among them (see Views).
func Resources() []Resource { return append([]Resource(nil), resources...) }

// Views returns the resources that are views of stored ones, in a stable order.
func Views() []Resource { return append([]Resource(nil), views...) }

// Served returns every resource the API serves: the stored ones, then
// the views.
func Served() []Resource { return append(Resources(), views...) }

// QualifiedKind is the kind as Kubernetes names it in errors: "Pod" for
// the core group, "Event.events.k8s.io" for another.
func (r Resource) QualifiedKind() string {
	if r.Group == "" {
		return r.Kind
	}
	return r.Kind + "." + r.Group
}

// ResourceByName finds a resource by its plural, singular, kind or short name
// (case-sensitive for kinds, as kubectl accepts "Pod" and "pods").
func ResourceByName(name string) (Resource, bool) {
	for _, r := range resources {
		if r.Name == name || r.Singular == name || r.Kind == name {
			return r, true
		}
		for _, s := range r.ShortNames {
			if s == name {
				return r, true
			}
		}
	}
	return Resource{}, false
}

// ResourceByKind finds a resource by its kind.
func ResourceByKind(kind string) (Resource, bool) {
	for _, r := range resources {
		if r.Kind == kind {
			return r, true
		}
	}
	return Resource{}, false
}

// ResourceOf returns the resource of an object by its Go type.
func ResourceOf(obj Object) (Resource, error) {
	if r, ok := byType[reflect.TypeOf(obj)]; ok {
		return r, nil
	}
	kind := KindOf(obj)
	r, ok := ResourceByKind(kind)
	if !ok {
		return Resource{}, fmt.Errorf("no resource for kind %q", kind)
	}
	return r, nil
}

// KindOf returns the kind of an object from its Go type.
func KindOf(obj Object) string {
	if r, ok := byType[reflect.TypeOf(obj)]; ok {
		return r.Kind
	}
	return obj.GetTypeMeta().Kind
}

// ResourceNames returns the plural names of all resources, sorted.
func ResourceNames() []string {
	var out []string
	for _, r := range resources {
		out = append(out, r.Name)
	}
	sort.Strings(out)
	return out
}

// SetTypeMeta fills kind and apiVersion from the object's Go type.
func SetTypeMeta(obj Object) {
	tm := obj.GetTypeMeta()
	tm.Kind = KindOf(obj)
	if r, err := ResourceOf(obj); err == nil {
		tm.APIVersion = r.GroupVersion()
	} else {
		tm.APIVersion = APIVersion
	}
}

// DeepCopy returns a deep copy of obj by a JSON round trip. It is meant for
// code off the hot paths; hot paths copy the struct and replace whole fields.
func DeepCopy[T Object](obj T) T {
	b, err := json.Marshal(obj)
	if err != nil {
		panic(fmt.Sprintf("deep copy %T: %v", obj, err))
	}
	r, err := ResourceOf(obj)
	if err != nil {
		panic(err)
	}
	out := r.New()
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("deep copy %T: %v", obj, err))
	}
	return out.(T)
}

// Key returns the store key of a namespaced or cluster-scoped name.
func Key(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
