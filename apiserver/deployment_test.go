package apiserver

import (
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

const deployPath = "/apis/apps/v1/namespaces/default/deployments"

// A Deployment is created under apps/v1 defaulted as apps/v1 defaults it
// and with its status cleared; its scale subresource answers and scales;
// its selector is immutable; both rolling bounds at 0 are refused with
// Kubernetes' wording and change nothing.
func TestDeploymentAPI(t *testing.T) {
	e := newTestEnv(t)
	body := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
	  "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
	    "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}},
	  "status":{"replicas":9}}`
	created := decode[v1.Deployment](t, e.expectCode(t, http.StatusCreated, http.MethodPost, deployPath, body, withContentType("application/json")))
	ru := created.Spec.Strategy.RollingUpdate
	if created.Status.Replicas != 0 || created.APIVersion != "apps/v1" || created.Spec.Strategy.Type != "RollingUpdate" ||
		ru == nil || ru.MaxSurge.String() != "25%" || ru.MaxUnavailable.String() != "25%" ||
		*created.Spec.RevisionHistoryLimit != 10 || *created.Spec.ProgressDeadlineSeconds != 600 {
		t.Fatalf("created %+v", created)
	}
	scalePath := deployPath + "/web/scale"
	sc := decode[v1.Scale](t, e.expectCode(t, http.StatusOK, http.MethodGet, scalePath, nil))
	if sc.Spec.Replicas != 3 || sc.Status.Selector != "app=web" {
		t.Fatalf("GET scale = %+v", sc)
	}
	e.expectCode(t, http.StatusOK, http.MethodPatch, scalePath, `{"spec":{"replicas":5}}`, withContentType(mergePatchType))
	var d v1.Deployment
	if err := e.admin.Get(testCtx(t), "deployments", v1.DefaultNamespace, "web", &d); err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 5 || d.Generation != 2 {
		t.Fatalf("after scale: replicas %d generation %d", *d.Spec.Replicas, d.Generation)
	}
	st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPatch, deployPath+"/web",
		`{"spec":{"strategy":{"rollingUpdate":{"maxSurge":0,"maxUnavailable":"0%"}}}}`, withContentType(mergePatchType))
	if !strings.Contains(st.Message, "spec.strategy.rollingUpdate.maxUnavailable: Invalid value") || !strings.Contains(st.Message, "may not be 0 when `maxSurge` is 0") {
		t.Errorf("both bounds 0: %s", st.Message)
	}
	st = e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPatch, deployPath+"/web",
		`{"spec":{"selector":{"matchLabels":{"tier":"x"}},"template":{"metadata":{"labels":{"tier":"x"}}}}}`, withContentType(mergePatchType))
	if !strings.Contains(st.Message, "spec.selector: Invalid value") || !strings.Contains(st.Message, "field is immutable") {
		t.Errorf("selector change: %s", st.Message)
	}
	var after v1.Deployment
	if err := e.admin.Get(testCtx(t), "deployments", v1.DefaultNamespace, "web", &after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != d.ResourceVersion {
		t.Errorf("a refused patch changed the deployment: rv %s -> %s", d.ResourceVersion, after.ResourceVersion)
	}
}
