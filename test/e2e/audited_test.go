package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// auditedRequest is a request a test made and expects in the masters'
// audit logs: by user, HTTP method and path, with the code its client got
// (0: some 2xx, for a client that saw success without its code).
type auditedRequest struct {
	user, method, path string
	code               int
}

// answerCode is the code a client saw: a Status error's, else 0 (a 2xx).
func answerCode(err error) int {
	var st *v1.StatusError
	if errors.As(err, &st) {
		return int(st.Status.Code)
	}
	return 0
}

// verbsOf are the audit verbs an HTTP method of a resource request can be.
func verbsOf(method string) []string {
	switch method {
	case http.MethodGet:
		return []string{"get", "list", "watch"}
	case http.MethodPost:
		return []string{"create"}
	case http.MethodPut:
		return []string{"update"}
	case http.MethodPatch:
		return []string{"patch"}
	case http.MethodDelete:
		return []string{"delete"}
	}
	return []string{strings.ToLower(method)}
}

// waitAudited waits until every request appears, once it completed, in
// one of the masters' audit logs with its user and the right answer
// (Issue 13's done-when 6: every request of the node and RBAC tests is in
// the audit log with the right user and code).
func waitAudited(t *testing.T, c *harness.Cluster, reqs []auditedRequest) {
	t.Helper()
	waitFor(t, 30*time.Second, "the requests in the audit logs", func() (bool, string) {
		var evs []auditv1.Event
		for _, m := range c.Masters {
			if m.AuditLogPath == "" {
				t.Fatalf("master %s has no audit log (harness.Options.AuditLog)", m.Name)
			}
			evs = append(evs, readAuditLog(t, m.AuditLogPath)...)
		}
		for _, r := range reqs {
			if !audited(evs, r) {
				return false, fmt.Sprintf("no event of %s %s %s (code %d) among %d", r.user, r.method, r.path, r.code, len(evs))
			}
		}
		return true, ""
	})
}

func audited(evs []auditv1.Event, r auditedRequest) bool {
	for _, ev := range evs {
		if ev.Stage != auditv1.StageResponseComplete || ev.User.Username != r.user || ev.ResponseStatus == nil {
			continue
		}
		u, err := url.Parse(ev.RequestURI)
		if err != nil || u.Path != r.path {
			continue
		}
		verbOK := false
		for _, v := range verbsOf(r.method) {
			verbOK = verbOK || ev.Verb == v
		}
		code := int(ev.ResponseStatus.Code)
		if verbOK && (code == r.code || r.code == 0 && code >= 200 && code < 300) {
			return true
		}
	}
	return false
}

// waitAuditCount waits until the masters' audit logs hold exactly want
// completed creates of resource by user answered with code.
func waitAuditCount(t *testing.T, c *harness.Cluster, user, resource string, code, want int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%d creates of %s by %s in the audit logs", want, resource, user), func() (bool, string) {
		n := 0
		for _, m := range c.Masters {
			for _, ev := range readAuditLog(t, m.AuditLogPath) {
				if ev.Stage == auditv1.StageResponseComplete && ev.User.Username == user && ev.Verb == "create" &&
					ev.ObjectRef != nil && ev.ObjectRef.Resource == resource && ev.ResponseStatus != nil && int(ev.ResponseStatus.Code) == code {
					n++
				}
			}
		}
		return n == want, fmt.Sprintf("%d found", n)
	})
}
