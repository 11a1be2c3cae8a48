package apiserver

import (
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

const rsPath = "/apis/apps/v1/namespaces/default/replicasets"

// A ReplicaSet is created under apps/v1 with its status cleared, and its
// scale subresource answers, PATCHes and applies as an RC's does, with the
// set-based selector as the Scale's status.selector.
func TestReplicaSetScale(t *testing.T) {
	e := newTestEnv(t)
	body := `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web"},
	  "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"Exists"}]},
	    "template":{"metadata":{"labels":{"app":"web","tier":"front"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}},
	  "status":{"replicas":9}}`
	created := decode[v1.ReplicaSet](t, e.expectCode(t, http.StatusCreated, http.MethodPost, rsPath, body, withContentType("application/json")))
	if created.Status.Replicas != 0 || created.APIVersion != "apps/v1" || created.Generation != 1 {
		t.Fatalf("created %+v", created)
	}
	scalePath := rsPath + "/web/scale"
	sc := decode[v1.Scale](t, e.expectCode(t, http.StatusOK, http.MethodGet, scalePath, nil))
	if sc.Kind != "Scale" || sc.APIVersion != "autoscaling/v1" || sc.Spec.Replicas != 2 || sc.Status.Selector != "app=web,tier" {
		t.Fatalf("GET scale = %+v", sc)
	}
	replicas := func() (int32, int64) {
		var rs v1.ReplicaSet
		if err := e.admin.Get(testCtx(t), "replicasets", v1.DefaultNamespace, "web", &rs); err != nil {
			t.Fatal(err)
		}
		return *rs.Spec.Replicas, rs.Generation
	}
	tests := []struct {
		name, method, ct string
		body             any
		code             int
		want             int32
	}{
		{"put", http.MethodPut, "application/json", v1.Scale{Spec: v1.ScaleSpec{Replicas: 3}}, http.StatusOK, 3},
		{"merge patch", http.MethodPatch, mergePatchType, `{"spec":{"replicas":4}}`, http.StatusOK, 4},
		{"apply", http.MethodPatch, "application/apply-patch+yaml", `{apiVersion: autoscaling/v1, kind: Scale, spec: {replicas: 5}}`, http.StatusOK, 5},
		{"negative", http.MethodPatch, mergePatchType, `{"spec":{"replicas":-1}}`, http.StatusUnprocessableEntity, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := scalePath
			if tt.ct == "application/apply-patch+yaml" {
				path += "?fieldManager=hpa&force=true" // the earlier scales own .spec.replicas
			}
			b := e.expectCode(t, tt.code, tt.method, path, tt.body, withContentType(tt.ct))
			if tt.code == http.StatusOK && decode[v1.Scale](t, b).Spec.Replicas != tt.want {
				t.Errorf("answer %s", b)
			}
			if got, _ := replicas(); got != tt.want {
				t.Errorf("replicas %d, want %d", got, tt.want)
			}
		})
	}
	if _, gen := replicas(); gen != 4 {
		t.Errorf("generation %d after three scales, want 4", gen)
	}
	// The selector is immutable; pods have no scale.
	st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPatch, rsPath+"/web",
		`{"spec":{"selector":{"matchExpressions":null},"template":{"metadata":{"labels":{"tier":null}}}}}`, withContentType(mergePatchType))
	if !strings.Contains(st.Message, "spec.selector: Invalid value") || !strings.Contains(st.Message, "field is immutable") {
		t.Errorf("selector change: %s", st.Message)
	}
	e.expectStatus(t, http.StatusNotFound, http.MethodGet, "/api/v1/namespaces/default/pods/web/scale", nil)
}
