package build

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/validation/spec"

	v1 "orch.io/orch/api/v1"
)

// jsonField is one JSON property of a struct, after inlining embedded
// structs as encoding/json does.
type jsonField struct {
	name     string
	field    reflect.StructField
	owner    reflect.Type // the struct that declares the field (for its doc)
	optional bool         // omitempty
}

// jsonFields lists a struct's JSON properties in declaration order.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				out = append(out, jsonFields(et)...)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, field: f, owner: t,
			optional: strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")})
	}
	return out
}

// findField finds a JSON property by name; ok is false if t is nil or has none.
func findField(t reflect.Type, name string) (jsonField, bool) {
	if t == nil || t.Kind() != reflect.Struct {
		return jsonField{}, false
	}
	for _, f := range jsonFields(t) {
		if f.name == name {
			return f, true
		}
	}
	return jsonField{}, false
}

// structDef adds the definition of an orch struct type (once) and returns
// its name. k8s is the Kubernetes type at the same place in the tree, or
// nil; pkg is the package path that names the definition when there is no
// Kubernetes counterpart.
func (b *builder) structDef(t, k8s reflect.Type, pkg string) (string, error) {
	if n := scalarName(t); n != "" {
		return n, nil
	}
	if n, ok := b.names[t]; ok {
		return n, nil
	}
	name := defName(pkg, t.Name())
	if k8s != nil && k8s.Name() != "" {
		name = defName(k8s.PkgPath(), k8s.Name())
		pkg = k8s.PkgPath()
	}
	if other, taken := b.owner[name]; taken && other != t {
		// Two orch types mirror one Kubernetes type: the second keeps
		// its own name, without a counterpart.
		name, k8s = defName(pkg, "orch"+t.Name()), nil
	}
	b.names[t] = name
	b.owner[name] = t
	var kdocs *pkgDocs
	if k8s != nil {
		kdocs = b.k8sDocs(k8s.PkgPath())
	}
	desc := description(b.orch.typeDoc(t))
	if desc == "" && kdocs != nil {
		desc = description(kdocs.typeDoc(k8s))
	}
	s := spec.Schema{SchemaProps: spec.SchemaProps{
		Description: desc, Type: spec.StringOrArray{"object"}, Properties: map[string]spec.Schema{}}}
	for _, f := range jsonFields(t) {
		kf, hasK := findField(k8s, f.name)
		var kt reflect.Type
		kdoc := ""
		if hasK {
			kt = kf.field.Type
			if d := b.k8sDocs(kf.owner.PkgPath()); d != nil {
				kdoc = d.fieldDoc(kf.owner, kf.field.Name)
			}
		}
		fs, err := b.fieldSchema(f.field.Type, kt, pkg)
		if err != nil {
			return "", fmt.Errorf("%s.%s: %w", t.Name(), f.field.Name, err)
		}
		odoc := b.orch.fieldDoc(f.owner, f.field.Name)
		if d := description(odoc); d != "" {
			fs.Description = d
		} else if d := description(kdoc); d != "" {
			fs.Description = d
		} else {
			fs.Description = b.commonDoc(f)
		}
		b.patchExtensions(&fs, f.field, kf.field, hasK, kdoc)
		if err := mirrorDefault(&fs, kdoc); err != nil {
			return "", fmt.Errorf("%s.%s: %w", t.Name(), f.field.Name, err)
		}
		if b.required(f, odoc, kf, hasK, kdoc) {
			s.Required = append(s.Required, f.name)
		}
		s.Properties[f.name] = fs
	}
	b.defs[name] = s
	return name, nil
}

// objectMetaDoc is Kubernetes' description of an object's metadata field.
const objectMetaDoc = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"

// commonDoc describes the fields every object has (apiVersion, kind,
// metadata) as Kubernetes does, for kinds without a Kubernetes counterpart
// and fields Kubernetes leaves undocumented.
func (b *builder) commonDoc(f jsonField) string {
	switch {
	case f.owner == reflect.TypeFor[v1.TypeMeta]():
		if d := b.k8sDocs(metaPkg); d != nil {
			return description(d.fieldDoc(reflect.TypeFor[metav1.TypeMeta](), f.field.Name))
		}
	case f.field.Type == reflect.TypeFor[v1.ObjectMeta]():
		return objectMetaDoc
	}
	return ""
}

// required says whether a property is required: orch always writes it
// (no omitempty, no +optional) and, where Kubernetes has the field, so
// does Kubernetes. orch's "spec" of a pod has no omitempty, but a manifest
// without one is as valid as in Kubernetes (and then fails validation
// with a clear message).
func (b *builder) required(f jsonField, odoc string, kf jsonField, hasK bool, kdoc string) bool {
	if f.optional || hasMarker(odoc, "optional") {
		return false
	}
	if hasK {
		return !kf.optional && !hasMarker(kdoc, "optional") && !hasMarker(kdoc, "default")
	}
	return true
}

// patchExtensions copies patch and list metadata to a property: orch's own
// struct tags when present, otherwise those of the Kubernetes field.
func (b *builder) patchExtensions(s *spec.Schema, of, kf reflect.StructField, hasK bool, kdoc string) {
	strategy, key := of.Tag.Get("patchStrategy"), of.Tag.Get("patchMergeKey")
	if strategy == "" && hasK {
		strategy, key = kf.Tag.Get("patchStrategy"), kf.Tag.Get("patchMergeKey")
	}
	if key != "" {
		s.AddExtension(extPatchMerge, key)
	}
	if strategy != "" {
		s.AddExtension(extPatchStrat, strategy)
	}
	if !hasK || !s.Type.Contains("array") {
		return
	}
	if lt := markers(kdoc, "listType"); len(lt) > 0 {
		s.AddExtension(extListType, lt[0])
		if keys := markers(kdoc, "listMapKey"); lt[0] == "map" && len(keys) > 0 {
			s.AddExtension(extListMapKeys, keys)
		}
	}
}

// mirrorDefault copies a Kubernetes field's +default marker (a JSON value)
// to the schema, as kube-openapi's generator does: server-side apply needs
// the default of a list-map key that a manifest may leave out (a container
// port's protocol, "TCP"). orch defaults the same fields the same way.
func mirrorDefault(s *spec.Schema, kdoc string) error {
	d := markers(kdoc, "default")
	if len(d) == 0 || s.Ref.String() != "" {
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(d[0]), &v); err != nil {
		// Kubernetes also writes references to Go constants (+default=ref(...)),
		// which only its generator resolves: those stay undocumented here.
		return nil
	}
	s.Default = v
	return nil
}

// fieldSchema is the schema of a value of type t; k is the Kubernetes
// type at the same place, or nil.
func (b *builder) fieldSchema(t, k reflect.Type, pkg string) (spec.Schema, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for k != nil && k.Kind() == reflect.Pointer {
		k = k.Elem()
	}
	if n := scalarName(t); n != "" {
		return refTo(n), nil
	}
	str := func(format string) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}, Format: format}}
	}
	num := func(typ, format string) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{typ}, Format: format}}
	}
	switch t.Kind() {
	case reflect.String:
		s := str("")
		if vals := b.enum(t, k); len(vals) > 0 {
			for _, v := range vals {
				s.Enum = append(s.Enum, v)
			}
		}
		return s, nil
	case reflect.Bool:
		return num("boolean", ""), nil
	case reflect.Int32, reflect.Int16, reflect.Int8, reflect.Uint16, reflect.Uint8:
		return num("integer", "int32"), nil
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return num("integer", "int64"), nil
	case reflect.Float32:
		return num("number", "float"), nil
	case reflect.Float64:
		return num("number", "double"), nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return str("byte"), nil
		}
		var ke reflect.Type
		if k != nil && k.Kind() == reflect.Slice {
			ke = k.Elem()
		}
		items, err := b.fieldSchema(t.Elem(), ke, pkg)
		if err != nil {
			return spec.Schema{}, err
		}
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"array"},
			Items: &spec.SchemaOrArray{Schema: &items}}}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return spec.Schema{}, fmt.Errorf("map key %s is not a string", t.Key())
		}
		var ke reflect.Type
		if k != nil && k.Kind() == reflect.Map {
			ke = k.Elem()
		}
		vals, err := b.fieldSchema(t.Elem(), ke, pkg)
		if err != nil {
			return spec.Schema{}, err
		}
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"},
			AdditionalProperties: &spec.SchemaOrBool{Allows: true, Schema: &vals}}}, nil
	case reflect.Struct:
		if k != nil && k.Kind() != reflect.Struct {
			k = nil
		}
		name, err := b.structDef(t, k, pkg)
		if err != nil {
			return spec.Schema{}, err
		}
		return refTo(name), nil
	}
	return spec.Schema{}, fmt.Errorf("type %s (%s) has no OpenAPI schema", t, t.Kind())
}

// enum returns the values of a string type whose constants the source of
// api/v1 declares ("type HostPathType string" and its constants), unless
// the Kubernetes type at the same place exists and is not an enum there
// (ResourceName: "cpu", "memory" and "pods" are examples, not a closed set).
func (b *builder) enum(t, k reflect.Type) []string {
	if t.PkgPath() != reflect.TypeFor[v1.Pod]().PkgPath() {
		return nil
	}
	vals := b.orch.consts[t.Name()]
	if len(vals) == 0 {
		return nil
	}
	if k != nil && k.Name() != "" && k.PkgPath() != "" {
		if d := b.k8sDocs(k.PkgPath()); d != nil && !hasMarker(d.types[k.Name()], "enum") {
			return nil
		}
	}
	return vals
}
