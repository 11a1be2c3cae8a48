package apiserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/encryption"
)

// envelopeB64 is how a stored envelope (k8s:enc:...) starts in JSON.
var envelopeB64 = base64.StdEncoding.EncodeToString([]byte("k8s:enc:"))[:8]

// newSecretEnv is a test cluster whose API server encrypts Secrets with
// the keys of a new EncryptionConfiguration file, returned with its path.
func newSecretEnv(t *testing.T) (*testEnv, *encryption.Keys, string) {
	t.Helper()
	dir := t.TempDir()
	if err := encryption.WriteNew(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, encryption.FileName)
	keys, err := encryption.Load(path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return newTestEnv(t, withServerConfig(func(c *Config) { c.Secrets = keys })), keys, path
}

// secretValues are the clear values every test Secret holds, one per key.
var secretValues = map[string]string{"username": "admin-user-7f3a", "password": "p4ssw0rd-c0rrect-h0rse"}

// assertClear fails unless body shows every value of secretValues in
// clear (base64 in JSON, as Kubernetes shows data) and no envelope.
func assertClear(t *testing.T, what string, body []byte) {
	t.Helper()
	for k, v := range secretValues {
		if !bytes.Contains(body, []byte(base64.StdEncoding.EncodeToString([]byte(v)))) {
			t.Errorf("%s: value of %q missing or not clear: %s", what, k, body)
		}
	}
	if bytes.Contains(body, []byte(envelopeB64)) || bytes.Contains(body, []byte("k8s:enc:")) {
		t.Errorf("%s: answer holds an envelope: %s", what, body)
	}
}

// assertSealed fails unless the stored record of secret name holds no
// value in clear (raw or base64) and only envelopes.
func assertSealed(t *testing.T, e *testEnv, name string) []byte {
	t.Helper()
	rec, err := e.cluster.Store().Get("secrets", "default", name)
	if err != nil {
		t.Fatalf("stored secret %s: %v", name, err)
	}
	raw, err := rec.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range secretValues {
		if bytes.Contains(raw, []byte(v)) || bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString([]byte(v)))) {
			t.Errorf("stored secret %s holds %q in clear: %s", name, v, raw)
		}
	}
	if !bytes.Contains(raw, []byte(envelopeB64)) {
		t.Errorf("stored secret %s holds no envelope: %s", name, raw)
	}
	return raw
}

func testSecret(name string, stringData bool) *v1.Secret {
	s := &v1.Secret{TypeMeta: v1.TypeMeta{Kind: "Secret", APIVersion: "v1"}, ObjectMeta: v1.ObjectMeta{Name: name}}
	if stringData {
		s.StringData = secretValues
		return s
	}
	s.Data = map[string][]byte{}
	for k, v := range secretValues {
		s.Data[k] = []byte(v)
	}
	return s
}

const secretsPath = "/api/v1/namespaces/default/secrets"

// Every answer that carries a Secret shows its values in clear, and the
// store holds only envelopes, whichever path wrote or read it.
func TestSecretReadPathsDecrypt(t *testing.T) {
	e, _, _ := newSecretEnv(t)
	tableAccept := withAccept("application/json;as=Table;v=v1;g=meta.k8s.io")

	// Writes: create with data and with stringData, a dry run, protobuf.
	assertClear(t, "create (data)", e.expectCode(t, http.StatusCreated, http.MethodPost, secretsPath, testSecret("a", false)))
	assertClear(t, "create (stringData)", e.expectCode(t, http.StatusCreated, http.MethodPost, secretsPath, testSecret("b", true)))
	assertClear(t, "create (dry run)", e.expectCode(t, http.StatusCreated, http.MethodPost, secretsPath+"?dryRun=All", testSecret("dry", false)))
	e.expectCode(t, http.StatusNotFound, http.MethodGet, secretsPath+"/dry", nil)
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	pb := &corev1.Secret{TypeMeta: metav1.TypeMeta{Kind: "Secret", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: "pb"}, StringData: secretValues}
	var buf bytes.Buffer
	if err := protobuf.NewSerializer(scheme, scheme).Encode(pb, &buf); err != nil {
		t.Fatal(err)
	}
	assertClear(t, "create (protobuf)", e.expectCode(t, http.StatusCreated, http.MethodPost, secretsPath, buf.Bytes(), withContentType(protobufContentType)))
	for _, n := range []string{"a", "b", "pb"} {
		assertSealed(t, e, n)
	}

	// Watches opened before the changes: plain and Table, from the start.
	w := e.openWatch(t, secretsPath, url.Values{"resourceVersion": {"0"}})
	wt := e.openWatch(t, secretsPath, url.Values{"resourceVersion": {"0"}, "includeObject": {"Object"}}, tableAccept)
	for range 3 {
		ev := w.next(t)
		assertClear(t, "watch initial "+ev.meta.Name, ev.Object)
		evt := wt.next(t)
		assertClear(t, "table watch initial", evt.Object)
	}

	// Reads.
	assertClear(t, "get", e.expectCode(t, http.StatusOK, http.MethodGet, secretsPath+"/a", nil))
	assertClear(t, "get table", e.expectCode(t, http.StatusOK, http.MethodGet, secretsPath+"/a?includeObject=Object", nil, tableAccept))
	list := e.expectCode(t, http.StatusOK, http.MethodGet, secretsPath, nil)
	assertClear(t, "list", list)
	if n := bytes.Count(list, []byte(base64.StdEncoding.EncodeToString([]byte(secretValues["password"])))); n != 3 {
		t.Errorf("list shows the password %d times, want 3", n)
	}
	assertClear(t, "list all namespaces", e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/secrets", nil))
	assertClear(t, "list table", e.expectCode(t, http.StatusOK, http.MethodGet, secretsPath+"?includeObject=Object", nil, tableAccept))
	assertClear(t, "list stale", e.expectCode(t, http.StatusOK, http.MethodGet, secretsPath+"?stale=true", nil))

	// Update: the answer is clear, an unchanged value keeps its envelope.
	before := decode[v1.Secret](t, assertSealed(t, e, "a"))
	cur := decode[v1.Secret](t, e.expectCode(t, http.StatusOK, http.MethodGet, secretsPath+"/a", nil))
	cur.Labels = map[string]string{"updated": "yes"}
	assertClear(t, "update", e.expectCode(t, http.StatusOK, http.MethodPut, secretsPath+"/a", cur))
	after := decode[v1.Secret](t, assertSealed(t, e, "a"))
	for k := range secretValues {
		if !bytes.Equal(before.Data[k], after.Data[k]) {
			t.Errorf("update without a change of %q re-encrypted it", k)
		}
	}
	ev := w.expect(t, v1.Modified, "a")
	assertClear(t, "watch modified", ev.Object)
	assertClear(t, "table watch modified", wt.next(t).Object)

	// Patches start from the clear object: a JSON patch's test of a value
	// passes only against clear text, and a merge patch keeps the others.
	pw := base64.StdEncoding.EncodeToString([]byte(secretValues["password"]))
	jp := `[{"op":"test","path":"/data/password","value":"` + pw + `"},{"op":"add","path":"/metadata/labels/patched","value":"json"}]`
	assertClear(t, "json patch", e.expectCode(t, http.StatusOK, http.MethodPatch, secretsPath+"/a", jp, withContentType("application/json-patch+json")))
	assertClear(t, "merge patch", e.expectCode(t, http.StatusOK, http.MethodPatch, secretsPath+"/a",
		`{"metadata":{"labels":{"patched":"merge"}},"data":{"extra":"eA=="}}`, withContentType("application/merge-patch+json")))
	assertClear(t, "strategic merge patch", e.expectCode(t, http.StatusOK, http.MethodPatch, secretsPath+"/b",
		`{"metadata":{"labels":{"patched":"smp"}}}`, withContentType("application/strategic-merge-patch+json")))
	assertClear(t, "get after patches", e.expectCode(t, http.StatusOK, http.MethodGet, secretsPath+"/a", nil))
	assertSealed(t, e, "a")

	// Server-side apply: a create, then an apply to the live object.
	apply := `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"c"},"stringData":{"username":"` + secretValues["username"] + `","password":"` + secretValues["password"] + `"}}`
	assertClear(t, "apply create", e.expectCode(t, http.StatusCreated, http.MethodPatch, secretsPath+"/c?fieldManager=test", apply, withContentType("application/apply-patch+yaml")))
	apply2 := `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"c","labels":{"applied":"twice"}}}`
	assertClear(t, "apply update", e.expectCode(t, http.StatusOK, http.MethodPatch, secretsPath+"/c?fieldManager=other", apply2, withContentType("application/apply-patch+yaml")))
	assertSealed(t, e, "c")

	// A delete answers with the clear object (Secrets have no
	// deletecollection, as the resource table says).
	assertClear(t, "delete", e.expectCode(t, http.StatusOK, http.MethodDelete, secretsPath+"/c", nil))
	assertClear(t, "watch table deleted after more events", func() []byte {
		for {
			ev := w.next(t)
			assertClear(t, "watch "+ev.Type+" "+ev.meta.Name, ev.Object)
			if ev.Type == v1.Deleted {
				return ev.Object
			}
		}
	}())
}

// An immutable Secret's data is compared in clear: the same values pass
// (though their envelopes would differ), other values are refused.
func TestSecretImmutableComparesClearText(t *testing.T) {
	e, _, _ := newSecretEnv(t)
	s := testSecret("imm", false)
	yes := true
	s.Immutable = &yes
	e.expectCode(t, http.StatusCreated, http.MethodPost, secretsPath, s)
	cur := decode[v1.Secret](t, e.expectCode(t, http.StatusOK, http.MethodGet, secretsPath+"/imm", nil))
	cur.Labels = map[string]string{"a": "b"}
	assertClear(t, "update of an immutable secret", e.expectCode(t, http.StatusOK, http.MethodPut, secretsPath+"/imm", cur))
	cur = decode[v1.Secret](t, e.expectCode(t, http.StatusOK, http.MethodGet, secretsPath+"/imm", nil))
	cur.Data["password"] = []byte("other")
	st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPut, secretsPath+"/imm", cur)
	if !strings.Contains(st.Message, "field is immutable when `immutable` is set") {
		t.Errorf("refusal %q", st.Message)
	}
}

// kubectl's last-applied annotation holds every value: it is sealed too.
func TestSecretLastAppliedSealed(t *testing.T) {
	e, _, _ := newSecretEnv(t)
	s := testSecret("la", false)
	la, err := json.Marshal(testSecret("la", true))
	if err != nil {
		t.Fatal(err)
	}
	s.Annotations = map[string]string{encryption.LastAppliedAnnotation: string(la)}
	e.expectCode(t, http.StatusCreated, http.MethodPost, secretsPath, s)
	assertSealed(t, e, "la")
	got := decode[v1.Secret](t, e.expectCode(t, http.StatusOK, http.MethodGet, secretsPath+"/la", nil))
	if got.Annotations[encryption.LastAppliedAnnotation] != string(la) {
		t.Errorf("annotation read back as %q, want %q", got.Annotations[encryption.LastAppliedAnnotation], la)
	}
}

// A Secret whose key left the configuration answers 500 naming the key;
// after a rewrite with the new key it reads again.
func TestSecretMissingKey(t *testing.T) {
	e, keys, path := newSecretEnv(t)
	e.expectCode(t, http.StatusCreated, http.MethodPost, secretsPath, testSecret("old", false))
	editFile := func(f func(*apiserverv1.EncryptionConfiguration) error) {
		t.Helper()
		cfg, err := encryption.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f(cfg); err != nil {
			t.Fatal(err)
		}
		if err := encryption.WriteFile(path, cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := keys.Reload(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	editFile(func(c *apiserverv1.EncryptionConfiguration) error { return encryption.AddKey(c, "key2") })
	editFile(func(c *apiserverv1.EncryptionConfiguration) error { return encryption.UseKey(c, "key2") })
	e.expectCode(t, http.StatusCreated, http.MethodPost, secretsPath, testSecret("new", false))
	editFile(func(c *apiserverv1.EncryptionConfiguration) error { return encryption.RemoveKey(c, "key1") })
	st := e.expectStatus(t, http.StatusInternalServerError, http.MethodGet, secretsPath+"/old", nil)
	if !strings.Contains(st.Message, `key "key1"`) || strings.Contains(st.Message, envelopeB64) {
		t.Errorf("500 message %q does not name key1 (or shows the envelope)", st.Message)
	}
	e.expectStatus(t, http.StatusInternalServerError, http.MethodGet, secretsPath, nil)
	assertClear(t, "secret under key2", e.expectCode(t, http.StatusOK, http.MethodGet, secretsPath+"/new", nil))
}
