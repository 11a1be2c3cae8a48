package build

import (
	"net/http"
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/validation/spec"

	v1 "orch.io/orch/api/v1"
)

// The paths describe the REST operations of every resource, with the
// x-kubernetes-group-version-kind and x-kubernetes-action extensions
// kube-apiserver puts on them: kubectl looks up the PATCH operation of a
// kind to learn whether the server validates fields itself (the
// fieldValidation query parameter), and if so leaves validation to it.

// patchTypes are the PATCH bodies the API decodes.
var patchTypes = []string{"application/merge-patch+json", "application/strategic-merge-patch+json", "application/json"}

// queryParam is an inline query parameter.
func queryParam(name, typ, desc string) spec.Parameter {
	return spec.Parameter{ParamProps: spec.ParamProps{Name: name, In: "query", Description: desc},
		SimpleSchema: spec.SimpleSchema{Type: typ}}
}

// pathParam is a required path parameter.
func pathParam(name, desc string) spec.Parameter {
	return spec.Parameter{ParamProps: spec.ParamProps{Name: name, In: "path", Required: true, Description: desc},
		SimpleSchema: spec.SimpleSchema{Type: "string"}}
}

// bodyParam is a required body of a definition.
func bodyParam(def string) spec.Parameter {
	return spec.Parameter{ParamProps: spec.ParamProps{Name: "body", In: "body", Required: true,
		Schema: ptr(refTo(def))}}
}

// writeParams are the query parameters of create, update and patch.
func writeParams() []spec.Parameter {
	return []spec.Parameter{
		queryParam("dryRun", "string", "When present, indicates that modifications should not be persisted. orch refuses it with 400 until dry runs are supported."),
		queryParam("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes. At most 128 characters."),
		queryParam("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict. orch always decodes strictly: an unknown or duplicate field is refused whatever the value."),
	}
}

// operation builds one operation of a resource.
func operation(id, action string, r v1.Resource, version, kind string, params []spec.Parameter, response string) *spec.Operation {
	op := &spec.Operation{OperationProps: spec.OperationProps{
		ID:         id,
		Produces:   []string{"application/json"},
		Schemes:    []string{"https"},
		Parameters: params,
		Responses: &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: map[int]spec.Response{
			http.StatusOK:           {ResponseProps: spec.ResponseProps{Description: "OK", Schema: ptr(refTo(response))}},
			http.StatusUnauthorized: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}},
		}}},
		Tags: []string{tag(r.Group, version)},
	}}
	for _, p := range params {
		if p.In == "body" {
			op.Consumes = []string{"application/json"}
		}
	}
	op.AddExtension(extAction, action)
	op.AddExtension(extGVK, map[string]any{"group": r.Group, "version": version, "kind": kind})
	return op
}

// tag names a group version as kube-apiserver's operation tags do ("core_v1").
func tag(group, version string) string {
	if group == "" {
		group = "core"
	}
	first, _, _ := strings.Cut(group, ".")
	return first + "_" + version
}

// opName is a group version and kind in operation-ID style ("CoreV1Pod").
func opName(group, version, kind string) string {
	g := "core"
	if group != "" {
		g, _, _ = strings.Cut(group, ".")
	}
	return strings.ToUpper(g[:1]) + g[1:] + strings.ToUpper(version[:1]) + version[1:] + kind
}

// allows says whether the resource serves a verb.
func allows(r v1.Resource, verb string) bool {
	return r.Verbs == nil || slices.Contains(r.Verbs, verb)
}

// addPaths adds the collection, item and status paths of a stored resource.
func addPaths(paths *spec.Paths, r v1.Resource, version, def, listDef string) {
	prefix, ns, nsParams := r.PathPrefix(), "", []spec.Parameter(nil)
	if r.Namespaced {
		ns = "Namespaced"
		prefix += "/namespaces/{namespace}"
		nsParams = []spec.Parameter{pathParam("namespace", "object name and auth scope, such as for teams and projects")}
	}
	name := opName(r.Group, version, r.Kind)
	coll := spec.PathItem{PathItemProps: spec.PathItemProps{Parameters: nsParams}}
	if allows(r, "list") {
		coll.Get = operation("list"+name+ns, "list", r, version, r.Kind, []spec.Parameter{
			queryParam("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
			queryParam("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
			queryParam("limit", "integer", "limit is a maximum number of responses to return for a list call."),
			queryParam("continue", "string", "The continue option should be set when retrieving more results from the server."),
			queryParam("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from."),
			queryParam("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."),
		}, listDef)
	}
	if allows(r, "create") {
		coll.Post = operation("create"+name+ns, "post", r, version, r.Kind, append([]spec.Parameter{bodyParam(def)}, writeParams()...), def)
	}
	if allows(r, "deletecollection") && r.Verbs != nil {
		// kube-apiserver's "deleteCoreV1CollectionNamespacedEvent".
		gv := strings.TrimSuffix(name, r.Kind)
		coll.Delete = operation("delete"+gv+"Collection"+ns+r.Kind, "deletecollection", r, version, r.Kind, []spec.Parameter{
			{ParamProps: spec.ParamProps{Name: "body", In: "body", Schema: ptr(refTo(metaPrefix + "DeleteOptions"))}},
			queryParam("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
			queryParam("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
			queryParam("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted."),
			queryParam("propagationPolicy", "string", "Whether and how garbage collection will be performed."),
		}, metaPrefix+"Status") // as kube-apiserver describes it; the answer is the list of objects deleted
	}
	paths.Paths[prefix+"/"+r.Name] = coll

	itemParams := append([]spec.Parameter{pathParam("name", "name of the "+r.Kind)}, nsParams...)
	item := spec.PathItem{PathItemProps: spec.PathItemProps{Parameters: itemParams}}
	if allows(r, "get") {
		item.Get = operation("read"+name+ns, "get", r, version, r.Kind, nil, def)
	}
	if allows(r, "update") {
		item.Put = operation("replace"+name+ns, "put", r, version, r.Kind, append([]spec.Parameter{bodyParam(def)}, writeParams()...), def)
	}
	if allows(r, "patch") {
		item.Patch = patchOperation("patch"+name+ns, r, version, def)
	}
	if allows(r, "delete") {
		item.Delete = operation("delete"+name+ns, "delete", r, version, r.Kind, []spec.Parameter{
			{ParamProps: spec.ParamProps{Name: "body", In: "body", Schema: ptr(refTo(metaPrefix + "DeleteOptions"))}},
			queryParam("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted."),
			queryParam("propagationPolicy", "string", "Whether and how garbage collection will be performed."),
		}, metaPrefix+"Status")
	}
	paths.Paths[prefix+"/"+r.Name+"/{name}"] = item

	if r.HasStatus {
		status := spec.PathItem{PathItemProps: spec.PathItemProps{Parameters: itemParams}}
		status.Get = operation("read"+name+ns+"Status", "get", r, version, r.Kind, nil, def)
		status.Put = operation("replace"+name+ns+"Status", "put", r, version, r.Kind, append([]spec.Parameter{bodyParam(def)}, writeParams()...), def)
		status.Patch = patchOperation("patch"+name+ns+"Status", r, version, def)
		paths.Paths[prefix+"/"+r.Name+"/{name}/status"] = status
	}
}

// patchOperation is a PATCH of an object (or its status).
func patchOperation(id string, r v1.Resource, version, def string) *spec.Operation {
	op := operation(id, "patch", r, version, r.Kind,
		append([]spec.Parameter{bodyParam(metaPrefix + "Patch")}, writeParams()...), def)
	op.Consumes = patchTypes
	return op
}

// addReviewPaths adds the create-only path of an access review.
func addReviewPaths(paths *spec.Paths, r v1.Resource, def string) {
	version := r.Version
	if version == "" {
		version = v1.APIVersion
	}
	op := operation("create"+opName(r.Group, version, r.Kind), "post", r, version, r.Kind,
		append([]spec.Parameter{bodyParam(def)}, writeParams()...), def)
	paths.Paths[r.PathPrefix()+"/"+r.Name] = spec.PathItem{PathItemProps: spec.PathItemProps{Post: op}}
}

// addMeta adds the definitions the paths refer to: Status, DeleteOptions and Patch.
func (b *builder) addMeta() error {
	if _, err := b.structDef(reflect.TypeFor[v1.Status](), reflect.TypeFor[metav1.Status](), metaPkg); err != nil {
		return err
	}
	if _, err := b.structDef(reflect.TypeFor[v1.DeleteOptions](), reflect.TypeFor[metav1.DeleteOptions](), metaPkg); err != nil {
		return err
	}
	b.defs[metaPrefix+"Patch"] = spec.Schema{SchemaProps: spec.SchemaProps{
		Description: "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
		Type:        spec.StringOrArray{"object"}}}
	return nil
}
