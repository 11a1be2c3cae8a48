package apiserver

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

const rcsPath = "/api/v1/namespaces/default/replicationcontrollers"

// applyRC is an applied configuration of replication controller "web"
// with the given replicas (0: left out) and containers.
func applyRC(replicas int, containers ...string) string {
	var cs []string
	for _, c := range containers {
		cs = append(cs, `{"name":"`+c+`","image":"busybox"}`)
	}
	spec := `"selector":{"app":"web"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[` + strings.Join(cs, ",") + `]}}`
	if replicas > 0 {
		spec = `"replicas":` + itoa(replicas) + `,` + spec
	}
	return `{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"web","namespace":"default"},"spec":{` + spec + `}}`
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

var applyCT = withContentType(applyPatchType)

// managers lists an object's managedFields as "manager/operation[/subresource]".
func managers(m v1.ObjectMeta) []string {
	var out []string
	for _, e := range m.ManagedFields {
		s := e.Manager + "/" + e.Operation
		if e.Subresource != "" {
			s += "/" + e.Subresource
		}
		out = append(out, s)
	}
	return out
}

// owns reports whether manager's entry lists the field path (in FieldsV1
// notation, "f:spec" ... "f:replicas").
func owns(m v1.ObjectMeta, manager string, path ...string) bool {
	for _, e := range m.ManagedFields {
		if e.Manager != manager || e.FieldsV1 == nil {
			continue
		}
		var cur any
		if json.Unmarshal(e.FieldsV1.Raw, &cur) != nil {
			return false
		}
		for _, p := range path {
			mm, ok := cur.(map[string]any)
			if !ok {
				return false
			}
			if cur, ok = mm[p]; !ok {
				return false
			}
		}
		return true
	}
	return false
}

func TestServerSideApply(t *testing.T) {
	e := newTestEnv(t)
	web := rcsPath + "/web"
	getRC := func(t *testing.T) v1.ReplicationController {
		t.Helper()
		return decode[v1.ReplicationController](t, e.expectCode(t, http.StatusOK, http.MethodGet, web, nil))
	}
	containerNames := func(rc v1.ReplicationController) []string {
		var out []string
		for _, c := range rc.Spec.Template.Spec.Containers {
			out = append(out, c.Name)
		}
		return out
	}

	t.Run("apply creates an absent object", func(t *testing.T) {
		b := e.expectCode(t, http.StatusCreated, http.MethodPatch, web+"?fieldManager=a", applyRC(2, "one", "two"), applyCT)
		rc := decode[v1.ReplicationController](t, b)
		if rc.Spec.Replicas == nil || *rc.Spec.Replicas != 2 || len(containerNames(rc)) != 2 {
			t.Fatalf("created %+v", rc.Spec)
		}
		if got := managers(rc.ObjectMeta); len(got) != 1 || got[0] != "a/Apply" {
			t.Fatalf("managedFields %v, want [a/Apply]", got)
		}
		if !owns(rc.ObjectMeta, "a", "f:spec", "f:replicas") || !owns(rc.ObjectMeta, "a", "f:spec", "f:template", "f:spec", "f:containers", `k:{"name":"two"}`) {
			t.Fatalf("a owns too little: %s", b)
		}
	})
	t.Run("a second apply removes the list item it no longer applies", func(t *testing.T) {
		e.expectCode(t, http.StatusOK, http.MethodPatch, web+"?fieldManager=a", applyRC(2, "one", "three"), applyCT)
		if got := strings.Join(containerNames(getRC(t)), ","); got != "one,three" {
			t.Fatalf("containers %s, want one,three", got)
		}
	})
	t.Run("another manager's different value conflicts", func(t *testing.T) {
		before := getRC(t)
		st := e.expectStatus(t, http.StatusConflict, http.MethodPatch, web+"?fieldManager=b", applyRC(3, "one", "three"), applyCT)
		if st.Reason != v1.ReasonConflict || st.Message != `Apply failed with 1 conflict: conflict with "a": .spec.replicas` {
			t.Fatalf("status %+v", st)
		}
		if st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Type != "FieldManagerConflict" ||
			st.Details.Causes[0].Field != ".spec.replicas" || st.Details.Causes[0].Message != `conflict with "a"` {
			t.Fatalf("causes %+v", st.Details)
		}
		if got := getRC(t); got.ResourceVersion != before.ResourceVersion {
			t.Fatal("a conflicting apply changed the object")
		}
	})
	t.Run("the same value is shared without conflict", func(t *testing.T) {
		e.expectCode(t, http.StatusOK, http.MethodPatch, web+"?fieldManager=b", applyRC(2, "one", "three"), applyCT)
		rc := getRC(t)
		if !owns(rc.ObjectMeta, "a", "f:spec", "f:replicas") || !owns(rc.ObjectMeta, "b", "f:spec", "f:replicas") {
			t.Fatalf("replicas not shared: %v", managers(rc.ObjectMeta))
		}
	})
	t.Run("force takes ownership", func(t *testing.T) {
		e.expectCode(t, http.StatusOK, http.MethodPatch, web+"?fieldManager=b&force=true", applyRC(4, "one", "three"), applyCT)
		rc := getRC(t)
		if *rc.Spec.Replicas != 4 || owns(rc.ObjectMeta, "a", "f:spec", "f:replicas") || !owns(rc.ObjectMeta, "b", "f:spec", "f:replicas") {
			t.Fatalf("after force: replicas %d, managers %v", *rc.Spec.Replicas, managers(rc.ObjectMeta))
		}
	})
	t.Run("an update moves ownership to its manager", func(t *testing.T) {
		e.expectCode(t, http.StatusOK, http.MethodPatch, web+"?fieldManager=editor", `{"spec":{"replicas":5}}`,
			withContentType(mergePatchType))
		rc := getRC(t)
		if !owns(rc.ObjectMeta, "editor", "f:spec", "f:replicas") || owns(rc.ObjectMeta, "b", "f:spec", "f:replicas") {
			t.Fatalf("managers after the update %v", managers(rc.ObjectMeta))
		}
		st := e.expectStatus(t, http.StatusConflict, http.MethodPatch, web+"?fieldManager=b", applyRC(4, "one", "three"), applyCT)
		if !strings.Contains(st.Message, `conflict with "editor" using v1: .spec.replicas`) {
			t.Fatalf("message %q", st.Message)
		}
	})
	t.Run("dry run applies nothing", func(t *testing.T) {
		before := getRC(t)
		b := e.expectCode(t, http.StatusOK, http.MethodPatch, web+"?fieldManager=b&force=true&dryRun=All", applyRC(7, "one"), applyCT)
		if rc := decode[v1.ReplicationController](t, b); *rc.Spec.Replicas != 7 {
			t.Fatalf("dry run answer replicas %d", *rc.Spec.Replicas)
		}
		if got := getRC(t); got.ResourceVersion != before.ResourceVersion {
			t.Fatal("a dry run changed the object")
		}
		e.expectCode(t, http.StatusNotFound, http.MethodGet, rcsPath+"/absent", nil)
		e.expectCode(t, http.StatusCreated, http.MethodPatch, rcsPath+"/absent?fieldManager=b&dryRun=All",
			strings.Replace(applyRC(1, "one"), `"name":"web"`, `"name":"absent"`, 1), applyCT)
		e.expectCode(t, http.StatusNotFound, http.MethodGet, rcsPath+"/absent", nil)
	})
}

func TestApplyRefused(t *testing.T) {
	e := newTestEnv(t)
	web := rcsPath + "/web"
	tests := []struct {
		name, path, ct, body string
		code                 int
		msg                  string
	}{
		{"apply without a field manager", web, applyPatchType, applyRC(1, "one"), http.StatusUnprocessableEntity,
			"fieldManager: Required value: is required for apply patch"},
		{"force on a merge patch", web + "?fieldManager=x&force=true", mergePatchType, `{"spec":{"replicas":1}}`, http.StatusUnprocessableEntity,
			"force: Forbidden: may not be specified for non-apply patch"},
		{"force on a create", rcsPath + "?force=true", "application/json", applyRC(1, "one"), http.StatusUnprocessableEntity,
			"force: Forbidden"},
		{"managedFields in an applied configuration", web + "?fieldManager=x", applyPatchType,
			strings.Replace(applyRC(1, "one"), `"namespace":"default"`, `"namespace":"default","managedFields":[{"manager":"x"}]`, 1),
			http.StatusBadRequest, "metadata.managedFields must be nil"},
		{"a field the kind does not have", web + "?fieldManager=x", applyPatchType,
			strings.Replace(applyRC(1, "one"), `"selector"`, `"bogus":1,"selector"`, 1), http.StatusBadRequest, "bogus"},
		{"another kind", web + "?fieldManager=x", applyPatchType,
			strings.Replace(applyRC(1, "one"), `"ReplicationController"`, `"Pod"`, 1), http.StatusBadRequest, ""},
		{"not YAML", web + "?fieldManager=x", applyPatchType, "a: [", http.StatusBadRequest, "error decoding YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodPatch
			if tt.path == rcsPath+"?force=true" {
				method = http.MethodPost
			}
			st := e.expectStatus(t, tt.code, method, tt.path, tt.body, withContentType(tt.ct))
			if !strings.Contains(st.Message, tt.msg) {
				t.Fatalf("message %q, want it to contain %q", st.Message, tt.msg)
			}
			e.expectCode(t, http.StatusNotFound, http.MethodGet, web, nil)
		})
	}
}

func TestManagedFieldsOnWrites(t *testing.T) {
	e := newTestEnv(t)
	create := e.expectCode(t, http.StatusCreated, http.MethodPost, rcsPath+"?fieldManager=creator", applyRC(1, "one"))
	rc := decode[v1.ReplicationController](t, create)
	if got := managers(rc.ObjectMeta); len(got) != 1 || got[0] != "creator/Update" || rc.ManagedFields[0].Time == nil ||
		rc.ManagedFields[0].APIVersion != "v1" || rc.ManagedFields[0].FieldsType != "FieldsV1" {
		t.Fatalf("managedFields after create %+v", rc.ManagedFields)
	}
	// An update without fieldManager is the User-Agent's up to its "/".
	two := int32(2)
	rc.Spec.Replicas = &two
	rc.ManagedFields = nil
	b := e.expectCode(t, http.StatusOK, http.MethodPut, rcsPath+"/web", rc, func(r *http.Request) { r.Header.Set("User-Agent", "my-tool/1.2 (linux)") })
	rc = decode[v1.ReplicationController](t, b)
	if !owns(rc.ObjectMeta, "my-tool", "f:spec", "f:replicas") || owns(rc.ObjectMeta, "creator", "f:spec", "f:replicas") {
		t.Fatalf("managedFields after update %v", managers(rc.ObjectMeta))
	}
	if !owns(rc.ObjectMeta, "creator", "f:spec", "f:selector") {
		t.Fatalf("the creator lost the fields it still owns: %v", managers(rc.ObjectMeta))
	}
	// A status update is tracked with its subresource.
	rc.Status.Replicas = 1
	b = e.expectCode(t, http.StatusOK, http.MethodPut, rcsPath+"/web/status?fieldManager=ctl", rc)
	rc = decode[v1.ReplicationController](t, b)
	if !owns(rc.ObjectMeta, "ctl", "f:status", "f:replicas") || !strings.Contains(strings.Join(managers(rc.ObjectMeta), ","), "ctl/Update/status") {
		t.Fatalf("managedFields after status %v", managers(rc.ObjectMeta))
	}
	// Reset fields, as the kinds' strategies in Kubernetes: a write to the
	// resource does not own its status, a status write does not own the spec.
	if owns(rc.ObjectMeta, "creator", "f:status") || owns(rc.ObjectMeta, "my-tool", "f:status") {
		t.Fatalf("a write to the resource owns its status: %v", managers(rc.ObjectMeta))
	}
	rc.Spec.Replicas = &two
	rc.Status.Replicas = 2
	b = e.expectCode(t, http.StatusOK, http.MethodPut, rcsPath+"/web/status?fieldManager=ctl", rc)
	if rc = decode[v1.ReplicationController](t, b); owns(rc.ObjectMeta, "ctl", "f:spec") {
		t.Fatalf("a status write owns the spec: %v", managers(rc.ObjectMeta))
	}
	// Sending empty managedFields resets them, as in Kubernetes.
	var m map[string]any
	json.Unmarshal(b, &m)
	m["metadata"].(map[string]any)["managedFields"] = []any{}
	b = e.expectCode(t, http.StatusOK, http.MethodPut, rcsPath+"/web?fieldManager=x", m)
	if rc = decode[v1.ReplicationController](t, b); len(rc.ManagedFields) != 0 {
		t.Fatalf("managedFields after reset %v", managers(rc.ObjectMeta))
	}
}

func TestScaleManagedFields(t *testing.T) {
	e := newTestEnv(t)
	e.expectCode(t, http.StatusCreated, http.MethodPatch, rcsPath+"/web?fieldManager=a", applyRC(2, "one"), applyCT)
	scale := rcsPath + "/web/scale"
	getRC := func(t *testing.T) v1.ReplicationController {
		t.Helper()
		return decode[v1.ReplicationController](t, e.expectCode(t, http.StatusOK, http.MethodGet, rcsPath+"/web", nil))
	}
	tests := []struct {
		name, method, query, ct, body string
		code                          int
		replicas                      int32
		owner                         string // the manager owning .spec.replicas after
		msg                           string
	}{
		{"an apply of another replicas conflicts with the applier", http.MethodPatch, "?fieldManager=hpa", applyPatchType,
			`{apiVersion: autoscaling/v1, kind: Scale, spec: {replicas: 3}}`, http.StatusConflict, 2, "a",
			`Apply failed with 1 conflict: conflict with "a": .spec.replicas`},
		{"a forced apply takes .spec.replicas", http.MethodPatch, "?fieldManager=hpa&force=true", applyPatchType,
			`{apiVersion: autoscaling/v1, kind: Scale, spec: {replicas: 3}}`, http.StatusOK, 3, "hpa", ""},
		{"an apply of another kind", http.MethodPatch, "?fieldManager=hpa", applyPatchType,
			`{apiVersion: v1, kind: Pod, spec: {replicas: 6}}`, http.StatusBadRequest, 3, "hpa", "not autoscaling/v1 Scale"},
		{"an apply of more than replicas", http.MethodPatch, "?fieldManager=hpa", applyPatchType,
			`{apiVersion: autoscaling/v1, kind: Scale, spec: {replicas: 6, bogus: 1}}`, http.StatusBadRequest, 3, "hpa", "spec.replicas only"},
		{"a merge patch of the scale is an update with subresource scale", http.MethodPatch, "?fieldManager=kubectl-scale", mergePatchType,
			`{"spec":{"replicas":4}}`, http.StatusOK, 4, "kubectl-scale", ""},
		{"a put of the scale too", http.MethodPut, "?fieldManager=scaler", "application/json",
			`{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web","namespace":"default"},"spec":{"replicas":5}}`, http.StatusOK, 5, "scaler", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := getRC(t)
			code, b := e.do(t, tt.method, scale+tt.query, tt.body, withContentType(tt.ct))
			if code != tt.code {
				t.Fatalf("got %d %s, want %d", code, b, tt.code)
			}
			if tt.msg != "" {
				if st := decode[v1.Status](t, b); !strings.Contains(st.Message, tt.msg) {
					t.Fatalf("message %q, want it to contain %q", st.Message, tt.msg)
				}
			}
			rc := getRC(t)
			if *rc.Spec.Replicas != tt.replicas || !owns(rc.ObjectMeta, tt.owner, "f:spec", "f:replicas") {
				t.Fatalf("replicas %d, managers %v; want %d owned by %s", *rc.Spec.Replicas, managers(rc.ObjectMeta), tt.replicas, tt.owner)
			}
			if tt.code != http.StatusOK && rc.ResourceVersion != before.ResourceVersion {
				t.Fatal("a refused write changed the controller")
			}
			for _, m := range rc.ManagedFields {
				if m.Manager == tt.owner && tt.owner != "a" && m.Subresource != "scale" {
					t.Fatalf("entry of %s has subresource %q, want scale", m.Manager, m.Subresource)
				}
			}
		})
	}
}
