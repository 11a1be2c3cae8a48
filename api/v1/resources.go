package v1

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
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
		New: func() Object { return &Event{} }},
	{Group: PolicyGroup, Name: "poddisruptionbudgets", Singular: "poddisruptionbudget", Kind: "PodDisruptionBudget",
		ShortNames: []string{"pdb"}, Namespaced: true, HasStatus: true,
		New: func() Object { return &PodDisruptionBudget{} }},
	{Group: BatchGroup, Name: "jobs", Singular: "job", Kind: "Job", Namespaced: true, HasStatus: true,
		Categories: categoryAll, New: func() Object { return &Job{} }},
	{Group: BatchGroup, Name: "cronjobs", Singular: "cronjob", Kind: "CronJob", ShortNames: []string{"cj"}, Namespaced: true,
		HasStatus: true, Categories: categoryAll, New: func() Object { return &CronJob{} }},
}

// categoryAll puts a resource in `kubectl get all`, as Kubernetes puts its
// workloads (pods, replication controllers and later kinds) and services.
var categoryAll = []string{"all"}

// reviewVerbs are the verbs of a review: it is answered, never stored.
var reviewVerbs = []string{"create"}

// kindByType maps each resource's Go type to its kind, so KindOf needs no
// switch to extend. Read-only after initialisation.
var kindByType = func() map[reflect.Type]string {
	m := make(map[reflect.Type]string, len(resources))
	for _, r := range resources {
		m[reflect.TypeOf(r.New())] = r.Kind
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
	for _, r := range resources {
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
	paths := make(map[resourceKey]Resource, len(resources))
	for _, r := range resources {
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

// Resources returns every supported resource, in a stable order.
func Resources() []Resource { return append([]Resource(nil), resources...) }

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
	kind := KindOf(obj)
	r, ok := ResourceByKind(kind)
	if !ok {
		return Resource{}, fmt.Errorf("no resource for kind %q", kind)
	}
	return r, nil
}

// KindOf returns the kind of an object from its Go type.
func KindOf(obj Object) string {
	if k, ok := kindByType[reflect.TypeOf(obj)]; ok {
		return k
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
	if r, ok := ResourceByKind(tm.Kind); ok {
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
