// Package build generates orch's OpenAPI v2 document from the Go types of
// api/v1: their structure by reflection, their descriptions from the doc
// comments in their source. Where orch's field has no doc comment, and for
// the markers Kubernetes keeps only in comments (+listType, +listMapKey,
// +optional, +enum) and struct tags (patchStrategy, patchMergeKey), the same
// field of k8s.io/api is mirrored: orch's kinds follow core/v1 field for
// field, so kubectl sees the schema names, patch metadata and list types it
// knows. It runs under `go generate` (see package openapi); its output is
// checked in.
package build

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/validation/spec"

	v1 "orch.io/orch/api/v1"
)

// Options say where the sources are.
type Options struct {
	// OrchDir is the source directory of orch.io/orch/api/v1.
	OrchDir string
	// PackageDir returns the source directory of a Go package of
	// k8s.io/api or k8s.io/apimachinery; GoListDir asks the go command.
	PackageDir func(pkgPath string) (string, error)
}

// GoListDir finds a package's source directory with `go list`, which reads
// the module cache go.mod's versions point at.
func GoListDir(pkgPath string) (string, error) {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", pkgPath).Output()
	if err != nil {
		return "", fmt.Errorf("go list %s: %w", pkgPath, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Extension names Kubernetes' OpenAPI documents use.
const (
	extGVK          = "x-kubernetes-group-version-kind"
	extPatchMerge   = "x-kubernetes-patch-merge-key"
	extPatchStrat   = "x-kubernetes-patch-strategy"
	extListType     = "x-kubernetes-list-type"
	extListMapKeys  = "x-kubernetes-list-map-keys"
	extAction       = "x-kubernetes-action"
	metaPkg         = "k8s.io/apimachinery/pkg/apis/meta/v1"
	metaPrefix      = "io.k8s.apimachinery.pkg.apis.meta.v1."
	quantityName    = "io.k8s.apimachinery.pkg.api.resource.Quantity"
	intOrStringName = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
	rawExtName      = "io.k8s.apimachinery.pkg.runtime.RawExtension"
)

// builder accumulates definitions while walking the types.
type builder struct {
	opts Options
	orch *pkgDocs
	k8s  map[string]*pkgDocs // by package path
	// k8sErr is the first Kubernetes source that could not be read: the
	// document would silently lose what it mirrors, so Build fails.
	k8sErr error
	defs   spec.Definitions
	names  map[reflect.Type]string // orch struct type → definition name
	owner  map[string]reflect.Type // definition name → orch struct type
}

// Build returns the OpenAPI v2 document of every resource of api/v1.
func Build(opts Options) (*spec.Swagger, error) {
	if opts.PackageDir == nil {
		opts.PackageDir = GoListDir
	}
	orch, err := parseDocs(opts.OrchDir)
	if err != nil {
		return nil, fmt.Errorf("read orch's api/v1 docs: %w", err)
	}
	b := &builder{opts: opts, orch: orch, k8s: map[string]*pkgDocs{},
		defs: spec.Definitions{}, names: map[reflect.Type]string{}, owner: map[string]reflect.Type{}}
	b.addScalars()
	paths := &spec.Paths{Paths: map[string]spec.PathItem{}}
	for _, r := range v1.Served() {
		if err := b.addResource(r, paths); err != nil {
			return nil, fmt.Errorf("resource %s: %w", r.Name, err)
		}
	}
	if err := b.addMeta(); err != nil {
		return nil, fmt.Errorf("meta types: %w", err)
	}
	if b.k8sErr != nil {
		return nil, b.k8sErr
	}
	return &spec.Swagger{SwaggerProps: spec.SwaggerProps{
		Swagger:     "2.0",
		Info:        &spec.Info{InfoProps: spec.InfoProps{Title: "orch", Version: "v1"}},
		Paths:       paths,
		Definitions: b.defs,
	}}, nil
}

// addScalars adds the definitions of the types that encode as strings:
// Time, MicroTime, Quantity and IntOrString, as Kubernetes describes them,
// and RawExtension, an object of any content.
func (b *builder) addScalars() {
	b.defs[metaPrefix+"Time"] = spec.Schema{SchemaProps: spec.SchemaProps{
		Description: "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON. It is an RFC 3339 date and time in UTC, with second precision.",
		Type:        spec.StringOrArray{"string"}, Format: "date-time"}}
	b.defs[metaPrefix+"MicroTime"] = spec.Schema{SchemaProps: spec.SchemaProps{
		Description: "MicroTime is version of Time with microsecond level precision.",
		Type:        spec.StringOrArray{"string"}, Format: "date-time"}}
	b.defs[quantityName] = spec.Schema{SchemaProps: spec.SchemaProps{
		Description: "Quantity is a fixed-point representation of a number, written as a string: a decimal number with an optional SI suffix (m, k, M, G, T, P, E), binary suffix (Ki, Mi, Gi, Ti, Pi, Ei) or decimal exponent (e3), e.g. \"250m\", \"64Mi\", \"1.5\".",
		Type:        spec.StringOrArray{"string"}}}
	b.defs[metaPrefix+"FieldsV1"] = spec.Schema{SchemaProps: spec.SchemaProps{
		Description: "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.\n\nEach key is either a '.' representing the field itself, and will always map to an empty set, or a string representing a sub-field or item. The string will follow one of these four formats: 'f:<name>', where <name> is the name of a field in a struct, or key in a map 'v:<value>', where <value> is the exact json formatted value of a list item 'i:<index>', where <index> is position of a item in a list 'k:<keys>', where <keys> is a map of  a list item's key fields to their unique values If a key maps to an empty Fields value, the field that key represents is part of the set.\n\nThe exact format is defined in sigs.k8s.io/structured-merge-diff",
		Type:        spec.StringOrArray{"object"}}}
	b.defs[intOrStringName] = spec.Schema{SchemaProps: spec.SchemaProps{
		Description: "IntOrString is a type that can hold an int32 or a string. When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.",
		Type:        spec.StringOrArray{"string"}, Format: "int-or-string"}}
	b.defs[rawExtName] = spec.Schema{SchemaProps: spec.SchemaProps{
		Description: "RawExtension is used to hold extensions in external versions: any JSON value, stored and returned as written.",
		Type:        spec.StringOrArray{"object"}}}
}

// scalarName is the definition name of a type that encodes as a string.
func scalarName(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[v1.Time](), reflect.TypeFor[metav1.Time]():
		return metaPrefix + "Time"
	case reflect.TypeFor[v1.MicroTime](), reflect.TypeFor[metav1.MicroTime]():
		return metaPrefix + "MicroTime"
	case reflect.TypeFor[resource.Quantity]():
		return quantityName
	case reflect.TypeFor[intstr.IntOrString]():
		return intOrStringName
	case reflect.TypeFor[runtime.RawExtension]():
		return rawExtName
	case reflect.TypeFor[v1.FieldsV1](), reflect.TypeFor[metav1.FieldsV1]():
		return metaPrefix + "FieldsV1"
	}
	return ""
}

// gvk is one x-kubernetes-group-version-kind entry.
func gvk(group, version, kind string) []any {
	return []any{map[string]any{"group": group, "version": version, "kind": kind}}
}

// addResource adds the definitions of a resource's kind and list and its paths.
func (b *builder) addResource(r v1.Resource, paths *spec.Paths) error {
	version := r.Version
	if version == "" {
		version = v1.APIVersion
	}
	obj := reflect.TypeOf(r.New()).Elem()
	var k8sObj, k8sList reflect.Type
	if o, err := scheme.Scheme.New(schema.GroupVersionKind{Group: r.Group, Version: version, Kind: r.Kind}); err == nil {
		k8sObj = reflect.TypeOf(o).Elem()
	}
	if o, err := scheme.Scheme.New(schema.GroupVersionKind{Group: r.Group, Version: version, Kind: r.Kind + "List"}); err == nil {
		k8sList = reflect.TypeOf(o).Elem()
	}
	pkg := groupPackage(r.Group, version)
	if k8sObj != nil {
		pkg = k8sObj.PkgPath()
	}
	name, err := b.structDef(obj, k8sObj, pkg)
	if err != nil {
		return err
	}
	def := b.defs[name]
	def.AddExtension(extGVK, gvk(r.Group, version, r.Kind))
	b.defs[name] = def
	if r.Review {
		addReviewPaths(paths, r, name)
		return nil
	}
	listName := name + "List"
	listMeta, err := b.structDef(reflect.TypeFor[v1.ListMeta](), reflect.TypeFor[metav1.ListMeta](), metaPkg)
	if err != nil {
		return err
	}
	list := spec.Schema{SchemaProps: spec.SchemaProps{
		Description: fmt.Sprintf("%sList is a list of %s objects.", r.Kind, r.Kind),
		Type:        spec.StringOrArray{"object"},
		Required:    []string{"items"},
		Properties: map[string]spec.Schema{
			"apiVersion": b.typeMetaProp("APIVersion"),
			"kind":       b.typeMetaProp("Kind"),
			"metadata":   withDesc(refTo(listMeta), "Standard list metadata."),
			"items": withDesc(spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"array"},
				Items: &spec.SchemaOrArray{Schema: ptr(refTo(name))}}}, fmt.Sprintf("List of %s.", r.Name)),
		},
	}}
	if k8sList != nil {
		if d := b.k8sDocs(k8sList.PkgPath()); d != nil {
			if desc := description(d.fieldDoc(k8sList, "Items")); desc != "" {
				list.Properties["items"] = withDesc(list.Properties["items"], desc)
			}
		}
	}
	list.AddExtension(extGVK, gvk(r.Group, version, r.Kind+"List"))
	b.defs[listName] = list
	addPaths(paths, r, version, name, listName)
	return nil
}

// typeMetaProp is the schema of apiVersion or kind, described as Kubernetes does.
func (b *builder) typeMetaProp(field string) spec.Schema {
	s := spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}}}
	if d := b.k8sDocs(metaPkg); d != nil {
		s.Description = description(d.fieldDoc(reflect.TypeFor[metav1.TypeMeta](), field))
	}
	return s
}

// groupPackage is the Go package path a group's types would have in
// k8s.io/api, used to name the definitions of orch types that have no
// Kubernetes counterpart: "k8s.io/api/core/v1", "k8s.io/api/rbac/v1"; a
// group outside k8s.io ("bootstrap.orch.io") keeps its own name.
func groupPackage(group, version string) string {
	switch {
	case group == "":
		return "k8s.io/api/core/" + version
	case strings.HasSuffix(group, ".k8s.io"):
		first, _, _ := strings.Cut(group, ".")
		return "k8s.io/api/" + first + "/" + version
	}
	return group + "/" + version
}

// defName is a definition name in Kubernetes' style: the package path with
// its host reversed, then the type name ("io.k8s.api.core.v1.Pod").
func defName(pkgPath, typeName string) string {
	host, rest, _ := strings.Cut(pkgPath, "/")
	parts := strings.Split(host, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	out := strings.Join(parts, ".")
	if rest != "" {
		out += "." + strings.ReplaceAll(rest, "/", ".")
	}
	return out + "." + typeName
}

// k8sDocs returns the parsed docs of a Kubernetes package; nil when its
// source cannot be read, which Build then reports.
func (b *builder) k8sDocs(pkgPath string) *pkgDocs {
	if d, ok := b.k8s[pkgPath]; ok {
		return d
	}
	dir, err := b.opts.PackageDir(pkgPath)
	var d *pkgDocs
	if err == nil {
		d, err = parseDocs(dir)
	}
	if err != nil && b.k8sErr == nil {
		b.k8sErr = fmt.Errorf("read the source of %s: %w", pkgPath, err)
	}
	b.k8s[pkgPath] = d
	return d
}

// refTo is a schema that refers to a definition.
func refTo(name string) spec.Schema {
	return spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef("#/definitions/" + name)}}
}

// withDesc returns s with a description.
func withDesc(s spec.Schema, desc string) spec.Schema {
	s.Description = desc
	return s
}

func ptr[T any](v T) *T { return &v }

// Marshal encodes a document as the checked-in file holds it: indented
// JSON with sorted keys and a final newline, so regenerating an unchanged
// document gives the same bytes.
func Marshal(sw *spec.Swagger) ([]byte, error) {
	raw, err := json.Marshal(sw)
	if err != nil {
		return nil, fmt.Errorf("encode OpenAPI v2: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("indent OpenAPI v2: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
