package apiserver

import (
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// A request the token may not make is 403 whatever its query parameters (the
// request is authorized first, as Kubernetes does); one it may make is
// checked for them.
func TestAuthorizationBeforeParameters(t *testing.T) {
	e := newTestEnv(t)
	node := withToken(nodeCredential)
	e.createPod(t, "keep", nil)
	tests := []struct {
		name, method, path string
		body               any
		opts               []reqOpt
		code               int
		reason, says       string
	}{
		{"node create with a bad fieldValidation", http.MethodPost, "/api/v1/namespaces/default/replicationcontrollers?fieldValidation=Loose", newPod("x", nil), []reqOpt{node},
			403, v1.ReasonForbidden, "cannot create resource \"replicationcontrollers\""},
		{"node create with a bad flag", http.MethodPost, "/api/v1/namespaces/default/replicationcontrollers?pretty=maybe", newPod("x", nil), []reqOpt{node},
			403, v1.ReasonForbidden, "cannot create resource \"replicationcontrollers\""},
		{"node scale with a bad resourceVersionMatch", http.MethodPut, "/api/v1/namespaces/default/replicationcontrollers/r/scale?resourceVersionMatch=x",
			v1.Scale{Spec: v1.ScaleSpec{Replicas: 1}}, []reqOpt{node}, 403, v1.ReasonForbidden, "cannot update resource \"replicationcontrollers/scale\""},
		{"node list with a bad watch flag", http.MethodGet, podPath("") + "?fieldSelector=spec.nodeName%3Dn1&watch=yes", nil, []reqOpt{node},
			400, v1.ReasonBadRequest, `watch "yes" must be true or false`},
		{"node watch with a bad resourceVersionMatch", http.MethodGet, podPath("") + "?fieldSelector=spec.nodeName%3Dn1&watch=true&resourceVersionMatch=x", nil, []reqOpt{node},
			400, v1.ReasonBadRequest, "resourceVersionMatch: Unsupported value"},
		{"admin create with a bad fieldValidation", http.MethodPost, podPath("") + "?fieldValidation=Loose", newPod("x", nil), nil,
			400, v1.ReasonBadRequest, "invalid fieldValidation directive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.listRaw(t)
			st := e.expectStatus(t, tt.code, tt.method, tt.path, tt.body, tt.opts...)
			if st.Reason != tt.reason || !strings.Contains(st.Message, tt.says) {
				t.Errorf("got %s %q; want %s containing %q", st.Reason, st.Message, tt.reason, tt.says)
			}
			if after := e.listRaw(t); after != before {
				t.Errorf("the refused request changed the pods:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}
