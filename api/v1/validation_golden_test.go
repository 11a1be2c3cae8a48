package v1

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/randfill"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/validate_errors.golden from the code under test")

// goldenObjects returns objects of every served kind, mostly invalid:
// random ones (every field filled or left out at random, half of them
// defaulted first), the zero object of each kind, and the valid objects
// of BenchmarkValidate and of the pod templates, each named by kind and
// number.
func goldenObjects(t *testing.T) ([]string, []Object) {
	t.Helper()
	words := []string{"a", "web", "", "Web_1", "a.b", "-x", "app", "kubernetes.io/x", "10.0.0.1", "80", "http", "TCP", "/p", strings.Repeat("x", 300)}
	f := randfill.NewWithSeed(17).NilChance(0.3).NumElements(0, 3).MaxDepth(10).Funcs(
		func(s *string, c randfill.Continue) {
			if c.Intn(6) == 0 {
				c.FillNoCustom(s)
				return
			}
			*s = words[c.Intn(len(words))]
		},
		func(tm *Time, c randfill.Continue) {
			if c.Intn(5) > 0 {
				*tm = NewTime(time.Unix(c.Int63n(1<<35), 0))
			}
		},
		func(mt *MicroTime, c randfill.Continue) {
			if c.Intn(5) > 0 {
				*mt = NewMicroTime(time.Unix(c.Int63n(1<<35), c.Int63n(1e9)))
			}
		},
		func(q *resource.Quantity, c randfill.Continue) {
			*q = *resource.NewMilliQuantity(c.Int63n(1<<20)-c.Int63n(1<<10), resource.DecimalSI)
		},
		func(x *intstr.IntOrString, c randfill.Continue) {
			if c.Bool() {
				*x = intstr.FromInt32(int32(c.Intn(70000) - 100))
			} else {
				*x = intstr.FromString(words[c.Intn(len(words))])
			}
		},
		func(x *FieldsV1, c randfill.Continue) {
			x.Raw = [][]byte{nil, []byte(`{"f:a":{}}`), []byte(`{"f:metadata":{"f:labels":{".":{},"f:app":{}}}}`)}[c.Intn(3)]
		},
		func(p *int32, c randfill.Continue) {
			*p = int32(c.Intn(2000) - 1000)
		},
		func(p *int64, c randfill.Continue) {
			*p = int64(c.Intn(2000) - 1000)
		},
		func(r *runtime.RawExtension, c randfill.Continue) {
			r.Raw = [][]byte{nil, []byte(`{"a":1}`), []byte(`[1,{"a":[]}]`)}[c.Intn(3)]
		},
	)
	var names []string
	var objs []Object
	add := func(name string, o Object) {
		SetTypeMeta(o)
		names = append(names, name)
		objs = append(objs, o)
	}
	for _, r := range Served() {
		kind := r.Kind + "." + r.Group
		add(kind+"#zero", r.New())
		for i := range 24 {
			o := r.New()
			f.Fill(o)
			if i%2 == 1 {
				Default(o)
			}
			add(fmt.Sprintf("%s#%d", kind, i), o)
		}
	}
	for i, o := range validateBenchObjects() {
		add(fmt.Sprintf("bench#%d", i), o)
	}
	add("validPod", validPod())
	for _, kind := range slices.Sorted(func(yield func(string) bool) {
		for k := range templated {
			if !yield(k) {
				return
			}
		}
	}) {
		add("templated/"+kind, templated[kind](validPod().Spec))
	}
	return names, objs
}

// validateOutcome is what Validate says of obj: its code, kind and
// causes, or "valid". The causes are sorted: the order of those found in a
// map's iteration changes from run to run.
func validateOutcome(obj Object) string {
	err := Validate(obj)
	if err == nil {
		return "valid"
	}
	se, ok := err.(*StatusError)
	if !ok {
		return "error " + err.Error()
	}
	var lines []string
	for _, c := range se.Status.Details.Causes {
		lines = append(lines, fmt.Sprintf("%s %s: %s", c.Type, c.Field, c.Message))
	}
	slices.Sort(lines)
	return fmt.Sprintf("%d %s\n  %s", se.Status.Code, se.Status.Details.Kind, strings.Join(lines, "\n  "))
}

// TestValidateErrorsUnchanged holds every error Validate reports for a
// table of (mostly invalid) objects of every kind to the golden file
// written by an earlier version of the code: its field paths and messages
// are part of the API. The file holds a digest per object; -update
// rewrites it, and -v prints the full outcomes. The random objects follow
// the types: a change of a type or of a served kind changes them, and the
// file is then rewritten (go test -run TestValidateErrorsUnchanged
// ./api/v1/ -args -update) with the new types and the old validation.
func TestValidateErrorsUnchanged(t *testing.T) {
	names, objs := goldenObjects(t)
	var got bytes.Buffer
	for i, o := range objs {
		out := validateOutcome(o)
		if testing.Verbose() {
			t.Logf("%s: %s", names[i], out)
		}
		fmt.Fprintf(&got, "%s %x %d\n", names[i], sha256.Sum256([]byte(out)), strings.Count(out, "\n"))
	}
	path := filepath.Join("testdata", "validate_errors.golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file: %v", err)
	}
	wantLines, gotLines := strings.Split(string(want), "\n"), strings.Split(got.String(), "\n")
	if len(wantLines) != len(gotLines) {
		t.Fatalf("%d outcomes, the golden file has %d: served kinds changed? (see the test's comment)", len(gotLines), len(wantLines))
	}
	for i := range wantLines {
		if wantLines[i] != gotLines[i] {
			t.Errorf("outcome changed: %s, want %s\n%s", gotLines[i], wantLines[i], validateOutcome(objs[i]))
		}
	}
}
