package audit

import (
	"context"
	"net/http"
	"strings"
	"sync"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Annotations of the authorization decision, as Kubernetes' authorization
// filter writes them.
const (
	DecisionAnnotation = "authorization.k8s.io/decision"
	ReasonAnnotation   = "authorization.k8s.io/reason"
	// TruncatedAnnotation marks an event whose request or response body
	// was larger than the cap and is left out.
	TruncatedAnnotation = "audit.orch.io/truncated"
)

// HeaderAuditID is the response header that carries a request's audit ID.
const HeaderAuditID = "Audit-Id"

// maxUserAgent caps the logged User-Agent, as Kubernetes.
const maxUserAgent = 1024

type recordKey struct{}

// record is the audit state of one request: what the handlers learn about
// it (user, authorization) and what the middleware sees (bodies, code).
type record struct {
	mu sync.Mutex
	// ev holds the fields known when the request arrives.
	ev     auditv1.Event
	path   string
	method string
	user   user.Info
	// impersonator is the authenticated user when user is the one it
	// impersonates (the event's user; user is its impersonatedUser).
	impersonator user.Info
	attrs        authorizer.Attributes
	// objMeta fills what the attributes leave empty of the objectRef.
	objMeta   auditv1.ObjectReference
	evaluated bool
	level     auditv1.Level
	omit      []auditv1.Stage
	// status is set once the response has started.
	status *metav1.Status
	// reqBody and respBody are the captured bodies; a nil slice with the
	// flag set means the body was larger than the cap.
	reqBody, respBody     []byte
	reqTooBig, respTooBig bool
	// h is the middleware that made the record; receivedDone is set once
	// the RequestReceived stage is handled.
	h            *handler
	receivedDone bool
}

func recordFrom(ctx context.Context) *record {
	r, _ := ctx.Value(recordKey{}).(*record)
	return r
}

// SetUser records the authenticated user of the request in ctx. It does
// nothing when the request is not audited.
func SetUser(ctx context.Context, u user.Info) {
	if rec := recordFrom(ctx); rec != nil {
		rec.mu.Lock()
		rec.user = u
		rec.mu.Unlock()
	}
}

// SetImpersonation records that the authenticated user real acts as as
// (Impersonate-* headers): the event's user is real, its impersonatedUser
// as, and the request is authorized as as. It does nothing when the
// request is not audited.
func SetImpersonation(ctx context.Context, real, as user.Info) {
	if rec := recordFrom(ctx); rec != nil {
		rec.mu.Lock()
		rec.impersonator, rec.user = real, as
		rec.mu.Unlock()
	}
}

// SetAuthorization records the request's authorization attributes (they
// give the event its verb and objectRef, and the policy its input) and
// the decision, as the authorization.k8s.io/decision and reason
// annotations. The first call of a request counts: later checks made on
// its behalf (for other attributes) do not change what it is.
func SetAuthorization(ctx context.Context, a authorizer.Attributes, d authorizer.Decision, reason string) {
	rec := recordFrom(ctx)
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.attrs != nil {
		return
	}
	rec.attrs = a
	rec.evaluated = false // the policy now sees the real attributes
	decision := "forbid"
	if d == authorizer.DecisionAllow {
		decision = "allow"
	}
	rec.ev.Annotations[DecisionAnnotation] = decision
	rec.ev.Annotations[ReasonAnnotation] = reason
	rec.received()
}

// received sends the RequestReceived event once, when the request's
// attributes are known (authorized) or its response starts. Call with mu
// held.
func (rec *record) received() {
	if !rec.receivedDone {
		rec.receivedDone = true
		rec.h.emit(rec, auditv1.StageRequestReceived)
	}
}

// SetObject records the namespace, name and uid of the object a request
// wrote; they fill the objectRef where the path did not name them (the
// name of a created object), as Kubernetes fills them from the request
// object.
func SetObject(ctx context.Context, namespace, name string, uid types.UID) {
	if rec := recordFrom(ctx); rec != nil {
		rec.mu.Lock()
		rec.objMeta = auditv1.ObjectReference{Namespace: namespace, Name: name, UID: uid}
		rec.mu.Unlock()
	}
}

// newRecord starts the record of a request received at now.
func newRecord(h *handler, r *http.Request, id string, now metav1.MicroTime) *record {
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent] + "...TRUNCATED"
	}
	var ips []string
	for _, ip := range utilnet.SourceIPs(r) {
		ips = append(ips, ip.String())
	}
	return &record{
		h: h, path: r.URL.Path, method: r.Method,
		ev: auditv1.Event{
			TypeMeta:                 metav1.TypeMeta{Kind: "Event", APIVersion: auditv1.SchemeGroupVersion.String()},
			AuditID:                  typesUID(id),
			RequestURI:               r.URL.RequestURI(),
			SourceIPs:                ips,
			UserAgent:                ua,
			RequestReceivedTimestamp: now,
			Annotations:              map[string]string{},
		},
	}
}

// attributes are those the handlers recorded, or, for a request that was
// not authorized (refused before, or a path open to all), a non-resource
// request of its user (system:anonymous when none authenticated, as
// Kubernetes' anonymous user) for its path with the lower-case method.
// Call with mu held.
func (rec *record) attributes() authorizer.Attributes {
	if rec.attrs != nil {
		return rec.attrs
	}
	u := rec.user
	if u == nil {
		u = &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}
	}
	return authorizer.AttributesRecord{User: u, Verb: strings.ToLower(rec.method), Path: rec.path}
}

// evaluate applies the policy to the current attributes. Call with mu held.
func (rec *record) evaluate(p *Policy) {
	if !rec.evaluated {
		rec.level, rec.omit = p.Evaluate(rec.attributes())
		rec.evaluated = true
	}
}

// event builds the event of stage at now, or nil when the policy does not
// log it. Call with mu held.
func (rec *record) event(p *Policy, stage auditv1.Stage, now metav1.MicroTime) *auditv1.Event {
	rec.evaluate(p)
	if rec.level == auditv1.LevelNone || omitted(rec.omit, stage) {
		return nil
	}
	a := rec.attributes()
	ev := rec.ev
	ev.Level, ev.Stage, ev.StageTimestamp = rec.level, stage, now
	ev.Verb = a.GetVerb()
	if u := a.GetUser(); u != nil {
		ev.User = userInfo(u)
		if rec.impersonator != nil {
			imp := ev.User
			ev.User, ev.ImpersonatedUser = userInfo(rec.impersonator), &imp
		}
	}
	if a.IsResourceRequest() {
		ev.ObjectRef = &auditv1.ObjectReference{
			Resource: a.GetResource(), Subresource: a.GetSubresource(),
			Namespace: a.GetNamespace(), Name: a.GetName(),
			APIGroup: a.GetAPIGroup(), APIVersion: a.GetAPIVersion(),
		}
		if ev.ObjectRef.Namespace == "" {
			ev.ObjectRef.Namespace = rec.objMeta.Namespace
		}
		if ev.ObjectRef.Name == "" {
			ev.ObjectRef.Name = rec.objMeta.Name
		}
		ev.ObjectRef.UID = rec.objMeta.UID
	}
	if rec.status != nil {
		st := *rec.status
		ev.ResponseStatus = &st
	}
	ev.Annotations = make(map[string]string, len(rec.ev.Annotations)+1)
	for k, v := range rec.ev.Annotations {
		ev.Annotations[k] = v
	}
	if levelAtLeast(rec.level, auditv1.LevelRequest) && stage != auditv1.StageRequestReceived {
		switch {
		case rec.reqTooBig:
			ev.Annotations[TruncatedAnnotation] = "requestObject"
		case len(rec.reqBody) > 0:
			ev.RequestObject = jsonObject(rec.reqBody)
		}
	}
	if levelAtLeast(rec.level, auditv1.LevelRequestResponse) && stage == auditv1.StageResponseComplete {
		switch {
		case rec.respTooBig:
			ev.Annotations[TruncatedAnnotation] = strings.TrimPrefix(ev.Annotations[TruncatedAnnotation]+",responseObject", ",")
		case len(rec.respBody) > 0:
			ev.ResponseObject = jsonObject(rec.respBody)
		}
	}
	if len(ev.Annotations) == 0 {
		ev.Annotations = nil
	}
	return &ev
}

// jsonObject is a body as an event's object, or nil if it is not JSON (an
// event is a JSON line; Kubernetes logs objects, which are JSON).
func jsonObject(b []byte) *runtime.Unknown {
	if !jsonValid(b) {
		return nil
	}
	return &runtime.Unknown{Raw: append([]byte(nil), b...), ContentType: runtime.ContentTypeJSON}
}

// userInfo is u as an audit event's user.
func userInfo(u user.Info) authnv1.UserInfo {
	out := authnv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: append([]string(nil), u.GetGroups()...)}
	if extra := u.GetExtra(); len(extra) > 0 {
		out.Extra = make(map[string]authnv1.ExtraValue, len(extra))
		for k, v := range extra {
			out.Extra[k] = authnv1.ExtraValue(v)
		}
	}
	return out
}
