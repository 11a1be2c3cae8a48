package apiserver

import (
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

const dsPath = "/apis/apps/v1/namespaces/default/daemonsets"

// A DaemonSet is created under apps/v1 with its status cleared and apps/v1's
// defaults; it has no scale; its selector may not change; a rolling update
// with neither maxUnavailable nor maxSurge, and a status collisionCount
// that goes down, are refused naming the field; its status is written
// through /status only.
func TestDaemonSetAPI(t *testing.T) {
	e := newTestEnv(t)
	body := `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"agent"},
	  "spec":{"selector":{"matchLabels":{"app":"agent"}},
	    "template":{"metadata":{"labels":{"app":"agent"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}},
	  "status":{"desiredNumberScheduled":9}}`
	created := decode[v1.DaemonSet](t, e.expectCode(t, http.StatusCreated, http.MethodPost, dsPath, body, withContentType("application/json")))
	if created.Status.DesiredNumberScheduled != 0 || created.APIVersion != "apps/v1" || created.Generation != 1 ||
		created.Spec.UpdateStrategy.Type != v1.DaemonSetRollingUpdate || created.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable.IntValue() != 1 ||
		*created.Spec.RevisionHistoryLimit != 10 {
		t.Fatalf("created %+v", created)
	}
	e.expectStatus(t, http.StatusNotFound, http.MethodGet, dsPath+"/agent/scale", nil)
	tests := []struct {
		name, patch, field, msg string
	}{
		{"selector", `{"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}}}}}`,
			"spec.selector", "field is immutable"},
		{"both zero", `{"spec":{"updateStrategy":{"rollingUpdate":{"maxUnavailable":0}}}}`,
			"spec.updateStrategy.rollingUpdate.maxUnavailable", "cannot be 0 when maxSurge is 0"},
		{"both set", `{"spec":{"updateStrategy":{"rollingUpdate":{"maxSurge":"10%"}}}}`,
			"spec.updateStrategy.rollingUpdate.maxSurge", "may not be set when maxUnavailable is non-zero"},
		{"OnDelete with rollingUpdate", `{"spec":{"updateStrategy":{"type":"OnDelete"}}}`,
			"spec.updateStrategy.rollingUpdate", "may not be specified when strategy `type` is 'OnDelete'"},
		{"restart Never", `{"spec":{"template":{"spec":{"restartPolicy":"Never"}}}}`,
			"spec.template.spec.restartPolicy", "Unsupported value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPatch, dsPath+"/agent", tt.patch, withContentType(mergePatchType))
			if !strings.Contains(st.Message, tt.field+":") || !strings.Contains(st.Message, tt.msg) {
				t.Errorf("message %q, want %s: %s", st.Message, tt.field, tt.msg)
			}
		})
	}
	// OnDelete without a rollingUpdate is fine.
	e.expectCode(t, http.StatusOK, http.MethodPatch, dsPath+"/agent",
		`{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null}}}`, withContentType(mergePatchType))
	// The status: written through /status, its collisionCount never down.
	e.expectCode(t, http.StatusOK, http.MethodPatch, dsPath+"/agent/status",
		`{"status":{"desiredNumberScheduled":3,"collisionCount":2}}`, withContentType(mergePatchType))
	st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPatch, dsPath+"/agent/status",
		`{"status":{"collisionCount":1}}`, withContentType(mergePatchType))
	if !strings.Contains(st.Message, "status.collisionCount") || !strings.Contains(st.Message, "cannot be decremented") {
		t.Errorf("collisionCount down: %s", st.Message)
	}
	var got v1.DaemonSet
	if err := e.admin.Get(testCtx(t), "daemonsets", v1.DefaultNamespace, "agent", &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.DesiredNumberScheduled != 3 || *got.Status.CollisionCount != 2 || got.Spec.UpdateStrategy.Type != v1.DaemonSetOnDelete {
		t.Fatalf("stored %+v", got)
	}
}
