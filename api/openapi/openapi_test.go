package openapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/randfill"

	"orch.io/orch/api/openapi"
	"orch.io/orch/api/openapi/build"
	v1 "orch.io/orch/api/v1"
)

// TestSwaggerUpToDate regenerates the document from api/v1 and fails when
// the checked-in swagger.json differs.
func TestSwaggerUpToDate(t *testing.T) {
	sw, err := build.Build(build.Options{OrchDir: "../v1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := build.Marshal(sw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, openapi.SwaggerJSON()) {
		t.Fatal("api/openapi/swagger.json is stale: run `go generate ./api/openapi` and commit the result")
	}
}

// defName is the definition name of a resource's kind, found by its
// x-kubernetes-group-version-kind extension as kubectl finds it.
func defName(t *testing.T, sw *spec.Swagger, r v1.Resource) string {
	t.Helper()
	var found []string
	for name, s := range sw.Definitions {
		var gvks []map[string]string
		if err := s.Extensions.GetObject("x-kubernetes-group-version-kind", &gvks); err != nil {
			continue
		}
		for _, g := range gvks {
			if g["group"] == r.Group && g["version"] == "v1" && g["kind"] == r.Kind {
				found = append(found, name)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("kind %s has %d definitions with its GVK: %v", r.Kind, len(found), found)
	}
	return found[0]
}

func TestDefinitionNames(t *testing.T) {
	sw, err := openapi.V2()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ kind, want string }{
		{"Pod", "io.k8s.api.core.v1.Pod"},
		{"ReplicationController", "io.k8s.api.core.v1.ReplicationController"},
		{"ClusterRole", "io.k8s.api.rbac.v1.ClusterRole"},
		{"SubjectAccessReview", "io.k8s.api.authorization.v1.SubjectAccessReview"},
		{"CertificateSigningRequest", "io.k8s.api.certificates.v1.CertificateSigningRequest"},
		{"BootstrapToken", "io.orch.bootstrap.v1.BootstrapToken"},
	} {
		r, ok := v1.ResourceByKind(tc.kind)
		if !ok {
			t.Fatalf("no resource %s", tc.kind)
		}
		if got := defName(t, sw, r); got != tc.want {
			t.Errorf("%s is defined as %s, want %s", tc.kind, got, tc.want)
		}
	}
	for _, name := range []string{"ObjectMeta", "ListMeta", "Status", "Time", "OwnerReference", "DeleteOptions"} {
		if _, ok := sw.Definitions["io.k8s.apimachinery.pkg.apis.meta.v1."+name]; !ok {
			t.Errorf("no definition io.k8s.apimachinery.pkg.apis.meta.v1.%s", name)
		}
	}
}

// TestSchemaDetails checks what kubectl reads from the schema: docs of
// orch's own comments, required fields, formats, enums, patch and list
// metadata mirrored from k8s.io/api.
func TestSchemaDetails(t *testing.T) {
	sw, err := openapi.V2()
	if err != nil {
		t.Fatal(err)
	}
	prop := func(def, field string) spec.Schema {
		t.Helper()
		d, ok := sw.Definitions[def]
		if !ok {
			t.Fatalf("no definition %s", def)
		}
		p, ok := d.Properties[field]
		if !ok {
			t.Fatalf("%s has no property %s", def, field)
		}
		return p
	}
	ext := func(s spec.Schema, name string) string {
		v, ok := s.Extensions[name]
		if !ok {
			return ""
		}
		return fmt.Sprint(v)
	}
	const core = "io.k8s.api.core.v1."
	const meta = "io.k8s.apimachinery.pkg.apis.meta.v1."
	for _, tc := range []struct {
		name, got, want string
	}{
		{"Container doc", sw.Definitions[core+"Container"].Description, "Container is one process tree of a pod."},
		{"image doc (orch's)", prop(core+"Container", "image").Description[:26], "The container image to run"},
		{"Container required", fmt.Sprint(sw.Definitions[core+"Container"].Required), "[name]"},
		{"PodSpec required", fmt.Sprint(sw.Definitions[core+"PodSpec"].Required), "[containers]"},
		{"Pod required (spec optional as in Kubernetes)", fmt.Sprint(sw.Definitions[core+"Pod"].Required), "[]"},
		{"containerPort format", prop(core+"ContainerPort", "containerPort").Format, "int32"},
		{"generation format", prop(meta+"ObjectMeta", "generation").Format, "int64"},
		{"creationTimestamp ref", refString(prop(meta+"ObjectMeta", "creationTimestamp")), "#/definitions/" + meta + "Time"},
		{"Time format", sw.Definitions[meta+"Time"].Format, "date-time"},
		{"IntOrString format", sw.Definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"].Format, "int-or-string"},
		{"Quantity type", fmt.Sprint(sw.Definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"].Type), "[string]"},
		{"hostPath type enum", fmt.Sprint(prop(core+"HostPathVolumeSource", "type").Enum), "[ DirectoryOrCreate Directory FileOrCreate File Socket CharDevice BlockDevice]"},
		{"containers merge key", ext(prop(core+"PodSpec", "containers"), "x-kubernetes-patch-merge-key"), "name"},
		{"containers strategy", ext(prop(core+"PodSpec", "containers"), "x-kubernetes-patch-strategy"), "merge"},
		{"containers list type", ext(prop(core+"PodSpec", "containers"), "x-kubernetes-list-type"), "map"},
		{"containers list keys", ext(prop(core+"PodSpec", "containers"), "x-kubernetes-list-map-keys"), "[name]"},
		{"ports list keys", ext(prop(core+"Container", "ports"), "x-kubernetes-list-map-keys"), "[containerPort protocol]"},
		{"protocol default", fmt.Sprint(prop(core+"ContainerPort", "protocol").Default), "TCP"},
		{"command list type", ext(prop(core+"Container", "command"), "x-kubernetes-list-type"), "atomic"},
		{"finalizers strategy", ext(prop(meta+"ObjectMeta", "finalizers"), "x-kubernetes-patch-strategy"), "merge"},
		{"affinity ref", refString(prop(core+"PodSpec", "affinity")), "#/definitions/" + core + "Affinity"},
		{"node selector operator enum", fmt.Sprint(prop(core+"NodeSelectorRequirement", "operator").Enum), "[In NotIn Exists DoesNotExist Gt Lt]"},
		{"PodAffinityTerm required", fmt.Sprint(sw.Definitions[core+"PodAffinityTerm"].Required), "[topologyKey]"},
		{"pod affinity labelSelector ref", refString(prop(core+"PodAffinityTerm", "labelSelector")), "#/definitions/" + meta + "LabelSelector"},
		{"nodeSelectorTerms list type", ext(prop(core+"NodeSelector", "nodeSelectorTerms"), "x-kubernetes-list-type"), "atomic"},
		{"Pod GVK", ext(sw.Definitions[core+"Pod"], "x-kubernetes-group-version-kind"), "[map[group: kind:Pod version:v1]]"},
		{"PodList GVK", ext(sw.Definitions[core+"PodList"], "x-kubernetes-group-version-kind"), "[map[group: kind:PodList version:v1]]"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

// expand inlines every $ref (the validator does not follow references).
// IntOrString becomes "integer or string": JSON Schema's type alone cannot
// say it, and Kubernetes' validators treat the int-or-string format so.
func expand(t *testing.T, s spec.Schema, defs spec.Definitions, depth int) spec.Schema {
	t.Helper()
	if depth > 40 {
		t.Fatal("schema references nest deeper than 40 levels")
	}
	if ref := s.Ref.String(); ref != "" {
		name := strings.TrimPrefix(ref, "#/definitions/")
		d, ok := defs[name]
		if !ok {
			t.Fatalf("reference to the missing definition %s", name)
		}
		if name == "io.k8s.apimachinery.pkg.util.intstr.IntOrString" {
			return spec.Schema{SchemaProps: spec.SchemaProps{AnyOf: []spec.Schema{
				{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"integer"}}},
				{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}}}}}}
		}
		return expand(t, d, defs, depth+1)
	}
	if len(s.Properties) > 0 {
		props := make(map[string]spec.Schema, len(s.Properties))
		for k, p := range s.Properties {
			props[k] = expand(t, p, defs, depth+1)
		}
		s.Properties = props
	}
	if s.Items != nil && s.Items.Schema != nil {
		s.Items = &spec.SchemaOrArray{Schema: ptr(expand(t, *s.Items.Schema, defs, depth+1))}
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: ptr(expand(t, *s.AdditionalProperties.Schema, defs, depth+1))}
	}
	return s
}

// refPattern finds v3 schema references in an encoded document.
var refPattern = regexp.MustCompile(`"\$ref":"#/components/schemas/([^"]+)"`)

func refString(s spec.Schema) string { return s.Ref.String() }

func ptr[T any](v T) *T { return &v }

// filler fills objects with random values that orch can encode (every
// pointer, list and map set, as a valid object of every kind has its
// required lists; strings unique and not empty): times
// within RFC 3339's years, quantities and int-or-strings in their
// canonical forms, enum types from their values.
func filler(seed uint64) *randfill.Filler {
	return randfill.NewWithSeed(int64(seed)).NilChance(0).NumElements(1, 2).Funcs(
		// Names are list-map keys, which a valid object never leaves empty.
		func(s *string, c randfill.Continue) { *s = fmt.Sprintf("s%d-%s", c.Uint64(), c.String(8)) },
		func(tm *v1.Time, c randfill.Continue) {
			*tm = v1.NewTime(time.Unix(c.Int63n(1<<33), 0))
		},
		func(q *resource.Quantity, c randfill.Continue) {
			*q = *resource.NewMilliQuantity(c.Int63n(1<<40), resource.DecimalSI)
		},
		func(x *intstr.IntOrString, c randfill.Continue) {
			if c.Bool() {
				*x = intstr.FromInt32(c.Int31n(65536))
			} else {
				*x = intstr.FromString("http")
			}
		},
		func(o *v1.NodeSelectorOperator, c randfill.Continue) {
			*o = []v1.NodeSelectorOperator{v1.NodeSelectorOpIn, v1.NodeSelectorOpExists}[c.Intn(2)]
		},
		func(h *v1.HostPathType, c randfill.Continue) {
			*h = v1.HostPathType([]string{"", "Directory", "File"}[c.Intn(3)])
		},
		func(k *v1.KeyUsage, c randfill.Continue) {
			*k = v1.KeyUsage([]string{"client auth", "server auth"}[c.Intn(2)])
		},
		func(s *v1.ResourceQuotaScope, c randfill.Continue) {
			*s = v1.ResourceQuotaScope([]string{"BestEffort", "NotTerminating"}[c.Intn(2)])
		},
		func(p *v1.UnhealthyPodEvictionPolicyType, c randfill.Continue) {
			*p = []v1.UnhealthyPodEvictionPolicyType{v1.IfHealthyBudget, v1.AlwaysAllow}[c.Intn(2)]
		},
		func(m *v1.CompletionMode, c randfill.Continue) {
			*m = []v1.CompletionMode{v1.NonIndexedCompletion, v1.IndexedCompletion}[c.Intn(2)]
		},
		func(p *v1.PodReplacementPolicy, c randfill.Continue) {
			*p = []v1.PodReplacementPolicy{v1.TerminatingOrFailed, v1.Failed}[c.Intn(2)]
		},
		func(a *v1.PodFailurePolicyAction, c randfill.Continue) {
			*a = []v1.PodFailurePolicyAction{v1.PodFailurePolicyActionFailJob, v1.PodFailurePolicyActionIgnore}[c.Intn(2)]
		},
		func(o *v1.PodFailurePolicyOnExitCodesOperator, c randfill.Continue) {
			*o = []v1.PodFailurePolicyOnExitCodesOperator{v1.PodFailurePolicyOnExitCodesOpIn, v1.PodFailurePolicyOnExitCodesOpNotIn}[c.Intn(2)]
		},
		func(p *v1.ConcurrencyPolicy, c randfill.Continue) {
			*p = []v1.ConcurrencyPolicy{v1.AllowConcurrent, v1.ForbidConcurrent, v1.ReplaceConcurrent}[c.Intn(3)]
		},
		func(r *runtime.RawExtension, c randfill.Continue) {
			r.Raw = []byte(fmt.Sprintf(`{"spec":{"template":{"metadata":{"labels":{"a":"%d"}}}}}`, c.Intn(100)))
		},
		func(a *v1.UnsatisfiableConstraintAction, c randfill.Continue) {
			*a = []v1.UnsatisfiableConstraintAction{v1.DoNotSchedule, v1.ScheduleAnyway}[c.Intn(2)]
		},
		func(p *v1.NodeInclusionPolicy, c randfill.Continue) {
			*p = []v1.NodeInclusionPolicy{v1.NodeInclusionPolicyHonor, v1.NodeInclusionPolicyIgnore}[c.Intn(2)]
		},
		func(f *v1.FieldsV1, c randfill.Continue) {
			f.Raw = []byte([]string{`{"f:metadata":{"f:labels":{"f:app":{}}}}`, `{"f:spec":{"f:replicas":{}}}`}[c.Intn(2)])
		},
	)
}

// TestKindsValidate fills an object of every kind with random values,
// encodes it as orch does and checks it against its kind's schema (types,
// formats, required fields, enums), then converts it to a typed value with
// the schema as server-side apply does and back, unchanged.
func TestKindsValidate(t *testing.T) {
	sw, err := openapi.V2()
	if err != nil {
		t.Fatal(err)
	}
	tc := typeConverter(t, sw)
	for _, r := range v1.Served() {
		t.Run(r.Kind, func(t *testing.T) {
			name := defName(t, sw, r)
			schema := expand(t, sw.Definitions[name], sw.Definitions, 0)
			validator := validate.NewSchemaValidator(&schema, nil, "", strfmt.Default)
			for seed := range uint64(20) {
				obj := r.New()
				filler(seed).Fill(obj)
				v1.SetTypeMeta(obj)
				m := encode(t, obj)
				if res := validator.Validate(m); !res.IsValid() {
					t.Fatalf("seed %d: a valid %s fails its schema: %v\n%s", seed, r.Kind, res.Errors, mustJSON(m))
				}
				typed, err := tc.ObjectToTyped(&unstructured.Unstructured{Object: m})
				if err != nil {
					t.Fatalf("seed %d: %s does not convert to a typed value: %v\n%s", seed, r.Kind, err, mustJSON(m))
				}
				back := typed.AsValue().Unstructured()
				if !reflect.DeepEqual(normalize(t, back), normalize(t, m)) {
					t.Fatalf("seed %d: %s changed through the typed value:\n%s\n%s", seed, r.Kind, mustJSON(m), mustJSON(back))
				}
			}
		})
	}
}

// TestUnknownFieldsFlagged checks that the schema refuses a field orch's
// types do not have, at the top and nested, naming it.
func TestUnknownFieldsFlagged(t *testing.T) {
	sw, err := openapi.V2()
	if err != nil {
		t.Fatal(err)
	}
	tc := typeConverter(t, sw)
	base := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox"%s}]}%s}`
	for _, c := range []struct {
		name, inContainer, top, want string
	}{
		{"valid", "", "", ""},
		{"nested", `,"imagee":"x"`, "", "imagee"},
		{"top level", "", `,"spek":{}`, "spek"},
		{"case variant", `,"Image":"x"`, "", "Image"},
		{"wrong type", `,"ports":[{"containerPort":"eighty"}]`, "", "containerPort"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(fmt.Appendf(nil, base, c.inContainer, c.top), &m); err != nil {
				t.Fatal(err)
			}
			_, err := tc.ObjectToTyped(&unstructured.Unstructured{Object: m})
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("valid pod refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v, want one naming %q", err, c.want)
			}
		})
	}
}

// typeConverter is server-side apply's view of the schema; it refuses
// fields the schema does not declare.
func typeConverter(t *testing.T, sw *spec.Swagger) managedfields.TypeConverter {
	t.Helper()
	defs := make(map[string]*spec.Schema, len(sw.Definitions))
	for name, s := range sw.Definitions {
		defs[name] = &s
	}
	tc, err := managedfields.NewTypeConverter(defs, false)
	if err != nil {
		t.Fatalf("the schema does not load as server-side apply's types: %v", err)
	}
	return tc
}

// encode encodes an object as orch does and decodes it into plain JSON values.
func encode(t *testing.T, obj any) map[string]any {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	// As the API server decodes: whole numbers as int64, not float64.
	if err := kjson.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// normalize re-encodes a value so numbers compare alike.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := kjson.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// TestEveryFieldDescribed checks that kubectl explain has a description
// for every type and field: orch's doc comment, or Kubernetes' for the same
// field.
func TestEveryFieldDescribed(t *testing.T) {
	sw, err := openapi.V2()
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range sw.Definitions {
		if d.Description == "" {
			t.Errorf("%s has no description", name)
		}
		for p, s := range d.Properties {
			if s.Description == "" {
				t.Errorf("%s.%s has no description", name, p)
			}
		}
	}
}
