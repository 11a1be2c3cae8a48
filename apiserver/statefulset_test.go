package apiserver

import (
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

const stsPath = "/apis/apps/v1/namespaces/default/statefulsets"

// A StatefulSet is created under apps/v1 with its defaults and its status
// cleared; its scale answers with the selector; a change of a field other
// than those Kubernetes lets change is refused with its wording; a set
// with volume claim templates is refused naming them.
func TestStatefulSetAPI(t *testing.T) {
	e := newTestEnv(t)
	body := `{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"web"},
	  "spec":{"replicas":2,"serviceName":"nginx","selector":{"matchLabels":{"app":"web"}},
	    "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}},
	  "status":{"replicas":9}}`
	created := decode[v1.StatefulSet](t, e.expectCode(t, http.StatusCreated, http.MethodPost, stsPath, body, withContentType("application/json")))
	if created.Status.Replicas != 0 || created.APIVersion != "apps/v1" || created.Spec.PodManagementPolicy != v1.OrderedReadyPodManagement ||
		created.Spec.UpdateStrategy.Type != v1.RollingUpdateStatefulSetStrategyType || *created.Spec.RevisionHistoryLimit != 10 {
		t.Fatalf("created %+v", created)
	}
	sc := decode[v1.Scale](t, e.expectCode(t, http.StatusOK, http.MethodGet, stsPath+"/web/scale", nil))
	if sc.Spec.Replicas != 2 || sc.Status.Selector != "app=web" {
		t.Fatalf("GET scale = %+v", sc)
	}
	e.expectCode(t, http.StatusOK, http.MethodPatch, stsPath+"/web/scale", `{"spec":{"replicas":4}}`, withContentType(mergePatchType))
	var ss v1.StatefulSet
	if err := e.admin.Get(testCtx(t), "statefulsets", v1.DefaultNamespace, "web", &ss); err != nil || *ss.Spec.Replicas != 4 {
		t.Fatalf("after scale: %+v %v", ss.Spec.Replicas, err)
	}
	tests := []struct {
		name, patch, want string
	}{
		{"policy", `{"spec":{"podManagementPolicy":"Parallel"}}`, "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template'"},
		{"service name", `{"spec":{"serviceName":"other"}}`, "updates to statefulset spec for fields other than"},
		{"max unavailable", `{"spec":{"updateStrategy":{"rollingUpdate":{"maxUnavailable":2}}}}`, "spec.updateStrategy.rollingUpdate.maxUnavailable: Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPatch, stsPath+"/web", tt.patch, withContentType(mergePatchType))
			if !strings.Contains(st.Message, tt.want) {
				t.Errorf("message %q, want %q", st.Message, tt.want)
			}
		})
	}
	claims := strings.Replace(body, `"serviceName":"nginx",`, `"serviceName":"nginx","volumeClaimTemplates":[{"metadata":{"name":"www"},
	  "spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}],`, 1)
	claims = strings.Replace(claims, `"name":"web"`, `"name":"db"`, 1)
	st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPost, stsPath, claims, withContentType("application/json"))
	if !strings.Contains(st.Message, "spec.volumeClaimTemplates: Forbidden: orch has no persistent volumes yet") {
		t.Errorf("claims: %s", st.Message)
	}
	e.expectStatus(t, http.StatusNotFound, http.MethodGet, stsPath+"/db", nil)
}
