package apiserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	kjson "sigs.k8s.io/json"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// request is a parsed resource request.
type request struct {
	// verb is create, get, list, watch, update, patch, delete or (for a
	// resource whose table entry names it) deletecollection.
	verb      string
	resource  v1.Resource
	namespace string
	name      string
	// sub is "", "status", "scale", "binding", "eviction", "log", "exec",
	// "attach", "portforward", "images" or "token".
	sub string
}

// parsePath parses /api/v1/... into a request.
//
//	/api/v1/{resource}[/{name}[/{sub}]]                 cluster-scoped, or list across namespaces
//	/api/v1/namespaces/{ns}/{resource}[/{name}[/{sub}]] namespaced
func parsePath(method, path string, watch bool) (*request, error) {
	group, version := "", v1.APIVersion
	rest, core := strings.CutPrefix(path, "/api/v1/")
	if !core {
		// /apis/{group}/{version}/...
		gvRest, ok := strings.CutPrefix(path, "/apis/")
		parts := strings.SplitN(gvRest, "/", 3)
		if !ok || len(parts) < 3 || parts[0] == "" || parts[1] == "" {
			return nil, v1.NewNotFound("path", path)
		}
		group, version, rest = parts[0], parts[1], parts[2]
	}
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	for _, s := range segs {
		if s == "" {
			return nil, v1.NewNotFound("path", path)
		}
	}
	req := &request{}
	// /api/v1/namespaces/{name}/status is the namespace's own status, not
	// a resource "status" in namespace {name}.
	nsStatus := len(segs) == 3 && segs[2] == "status"
	if segs[0] == "namespaces" && len(segs) >= 3 && !nsStatus {
		req.namespace = segs[1]
		segs = segs[2:]
	}
	r, ok := v1.ResourceIn(group, version, segs[0])
	if !ok {
		return nil, v1.NewNotFound("resource", segs[0])
	}
	req.resource = r
	if req.namespace != "" && !r.Namespaced {
		return nil, v1.NewNotFound("resource", segs[0])
	}
	if len(segs) > 1 {
		req.name = segs[1]
	}
	if len(segs) > 2 {
		req.sub = segs[2]
		if !validSub(r, req.sub) {
			return nil, v1.NewNotFound(r.Name+"/"+req.sub, req.name)
		}
	}
	if len(segs) > 3 {
		return nil, v1.NewNotFound("path", path)
	}
	if r.Namespaced && req.namespace == "" && req.name != "" {
		return nil, v1.NewNotFound("path", path)
	}
	switch {
	case isStreamSub(req.sub) && (method == http.MethodGet || method == http.MethodPost):
		// Authorized as create whatever the method, as Kubernetes does:
		// kubectl's WebSocket clients send GET.
		req.verb = "create"
	case method == http.MethodGet && req.name == "" && watch:
		req.verb = "watch"
	case method == http.MethodGet && req.name == "":
		req.verb = "list"
	case method == http.MethodGet:
		req.verb = "get"
	case method == http.MethodPost && req.name == "":
		req.verb = "create"
	case method == http.MethodPost && (req.sub == "binding" || req.sub == subImages || req.sub == subToken || req.sub == subEviction):
		req.verb = "create"
	case method == http.MethodPut && req.name != "":
		req.verb = "update"
	case method == http.MethodPatch && req.name != "":
		req.verb = "patch"
	case method == http.MethodDelete && req.name != "" && req.sub == "":
		req.verb = "delete"
	case method == http.MethodDelete && req.name == "" && req.sub == "" && slices.Contains(r.Verbs, "deletecollection"):
		req.verb = "deletecollection"
	default:
		return nil, v1.NewMethodNotAllowed(fmt.Sprintf("%s is not supported on %s", method, path))
	}
	if req.sub == "binding" && req.verb != "create" {
		return nil, v1.NewMethodNotAllowed("binding supports POST only")
	}
	if req.sub == subEviction && req.verb != "create" {
		return nil, v1.NewMethodNotAllowed("eviction supports POST only")
	}
	if err := checkProxySub(req); err != nil {
		return nil, err
	}
	return req, nil
}

func validSub(r v1.Resource, sub string) bool {
	switch sub {
	case "status":
		return r.HasStatus
	case "scale":
		return r.HasScale()
	case "binding", subEviction, subEphemeral:
		return r.Name == "pods"
	case subLog, subExec, subAttach, subPortForward:
		return r.Name == "pods"
	case subImages:
		return r.Name == "nodes"
	case subApproval:
		return r.Name == csrResource
	case subToken:
		return r.Name == "serviceaccounts"
	}
	return false
}

// readBody reads a request body within the size limit and checks its depth.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, allowed ...string) ([]byte, error) {
	if len(allowed) == 0 {
		allowed = []string{"application/json"}
	}
	// A media type sent exactly as allowed (what clients send) needs no
	// parsing.
	if ct := r.Header.Get("Content-Type"); ct != "" && !slices.Contains(allowed, ct) {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, v1.NewUnsupportedMediaType(fmt.Sprintf("bad Content-Type %q: %v", ct, err))
		}
		ok := false
		for _, a := range allowed {
			ok = ok || mt == a
		}
		if !ok {
			return nil, v1.NewUnsupportedMediaType(fmt.Sprintf("Content-Type %q is not supported here (use %s)", mt, strings.Join(allowed, " or ")))
		}
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), r.ContentLength, s.cfg.MaxBodyBytes)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, v1.NewRequestTooLarge(fmt.Sprintf("the request body is larger than the limit of %d bytes", s.cfg.MaxBodyBytes))
		}
		return nil, v1.NewBadRequest(fmt.Sprintf("read request body: %v", err))
	}
	if err := checkDepth(body, s.cfg.MaxJSONDepth); err != nil {
		return nil, err
	}
	return body, nil
}

// readAll is io.ReadAll of a body whose Content-Length is size (-1:
// unknown) into one buffer of that size when it is within max.
func readAll(r io.Reader, size, max int64) ([]byte, error) {
	if size <= 0 || size > max {
		return io.ReadAll(r)
	}
	var buf bytes.Buffer
	buf.Grow(int(size) + bytes.MinRead) // room for the read that sees EOF
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// checkDepth rejects JSON nested deeper than max, before any decoder recurses into it.
// A string is skipped to its closing quote with bytes.IndexByte (most of a
// body is the text of its keys and values), a quote after an odd run of
// backslashes being escaped.
func checkDepth(b []byte, max int) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end := stringEnd(b, i+1)
			if end < 0 {
				return nil // unterminated: the decoder refuses it
			}
			i = end
		case '{', '[':
			depth++
			if depth > max {
				return v1.NewBadRequest(fmt.Sprintf("the request body is nested deeper than the limit of %d levels", max))
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// stringEnd returns the index of the quote that closes the JSON string whose
// text starts at b[from], or -1.
func stringEnd(b []byte, from int) int {
	for {
		n := bytes.IndexByte(b[from:], '"')
		if n < 0 {
			return -1
		}
		q := from + n
		backslashes := 0
		for j := q - 1; j >= from && b[j] == '\\'; j-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return q
		}
		from = q + 1
	}
}

// decodeStrict decodes JSON into out as Kubernetes does with
// fieldValidation=Strict: keys match field names exactly (a case variant
// such as "Name" is an unknown field), and unknown or duplicate keys are
// refused with 400 naming every such field, so orch never reads a body
// differently from a Kubernetes API server.
func decodeStrict(body []byte, out any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return v1.NewBadRequest("the request body is empty")
	}
	strict, err := kjson.UnmarshalStrict(body, out)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if ok, off := kjson.SyntaxErrorOffset(err); ok {
			msg = fmt.Sprintf("%s (at byte %d)", msg, off)
		}
		return v1.NewBadRequest("the request body does not decode: " + msg)
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = strings.TrimPrefix(e.Error(), "json: ")
		}
		return v1.NewBadRequest("strict decoding error: " + strings.Join(msgs, ", "))
	}
	return nil
}

// decodeObject strictly decodes a body into a new object of the request's
// resource and checks its kind, apiVersion, namespace and name against the
// path. A view's object comes back converted to the stored kind.
func decodeObject(req *request, body []byte) (v1.Object, error) {
	if isNull(body) {
		// null decodes into an empty object without error: an update would
		// wipe the stored spec or status.
		return nil, v1.NewBadRequest(fmt.Sprintf("the request body must be a %s object, not null", req.resource.Kind))
	}
	obj := req.resource.New()
	// A body fsm.DecodeRequest cannot prove it reads as the strict decoder
	// does (a duplicate or unknown field among others) is read by
	// decodeStrict, which gives the error.
	if !fsm.DecodeRequest(body, obj) {
		if err := decodeStrict(body, obj); err != nil {
			return nil, err
		}
	}
	tm := obj.GetTypeMeta()
	if tm.Kind != "" && tm.Kind != req.resource.Kind {
		return nil, v1.NewBadRequest(fmt.Sprintf("the body's kind %q does not match the path's %q", tm.Kind, req.resource.Kind))
	}
	if gv := req.resource.GroupVersion(); tm.APIVersion != "" && tm.APIVersion != gv {
		return nil, v1.NewBadRequest(fmt.Sprintf("apiVersion %q is not supported (use %q)", tm.APIVersion, gv))
	}
	m := obj.GetObjectMeta()
	if req.resource.Namespaced {
		if m.Namespace == "" {
			m.Namespace = req.namespace
		} else if m.Namespace != req.namespace {
			return nil, v1.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace of the path (%s)", m.Namespace, req.namespace))
		}
	}
	if req.name != "" && m.Name != req.name {
		// As Kubernetes: an update names its object, and the name must be the path's.
		return nil, v1.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.Name, req.name))
	}
	if v := req.resource.View; v != nil {
		// A view's object is stored (and admitted and validated) as the
		// stored kind.
		obj = v.ToStored(obj)
	}
	return obj, nil
}
