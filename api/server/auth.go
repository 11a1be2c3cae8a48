package server

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	v1 "orch.io/orch/api/v1"
)

// Role is what a token may do.
type Role int

// Roles.
const (
	// RoleNone is an unauthenticated caller.
	RoleNone Role = iota
	// RoleNode may read everything, register and update nodes, update the
	// status of pods and nodes, and delete pods (to complete graceful deletes).
	RoleNode
	// RoleAdmin may do everything.
	RoleAdmin
)

type roleKey struct{}

func roleOf(ctx context.Context) Role {
	r, _ := ctx.Value(roleKey{}).(Role)
	return r
}

// authenticate maps the request's bearer token to a role.
func (s *Server) authenticate(r *http.Request) Role {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return RoleNone
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) == 1 {
		return RoleAdmin
	}
	if s.cfg.NodeToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.NodeToken)) == 1 {
		return RoleNode
	}
	return RoleNone
}

func (s *Server) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role := s.authenticate(r)
		if role == RoleNone {
			msg := "Unauthorized: a valid bearer token is required"
			if r.Header.Get("Authorization") != "" {
				msg = "Unauthorized: the bearer token is not valid"
			}
			refuseUnread(w, v1.NewUnauthorized(msg))
			return
		}
		s.admit(w, r.WithContext(context.WithValue(r.Context(), roleKey{}, role)), role, next)
	})
}

// refuseUnread answers err without reading the request's body and closes
// the connection. net/http would otherwise drain the body (up to 256 KiB,
// for as long as the ReadTimeout allows) before it sends the answer, and
// again before it closes the connection: a client that sent only headers
// would wait, and hold the connection, for the whole ReadTimeout.
func refuseUnread(w http.ResponseWriter, err error) {
	w.Header().Set("Connection", "close") // no draining before the answer
	writeError(w, err)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	// No draining after it either: the next read fails at once. An error
	// means the writer takes no deadlines (a test recorder).
	_ = rc.SetReadDeadline(time.Now())
}

// authorize decides whether the role may make the request.
func authorize(role Role, req *request) error {
	switch role {
	case RoleAdmin:
		return nil
	case RoleNode:
		switch {
		case req.verb == "get" || req.verb == "list" || req.verb == "watch":
			return nil
		case req.sub == "status" && (req.resource.Name == "pods" || req.resource.Name == "nodes"):
			return nil
		case req.resource.Name == "nodes" && req.sub == "" && (req.verb == "create" || req.verb == "update" || req.verb == "patch"):
			// A node agent registers its Node and keeps its labels,
			// addresses and agent endpoint current.
			return nil
		case req.resource.Name == "pods" && req.sub == "" && req.verb == "delete":
			// A node agent completes the graceful deletion of a pod it stopped.
			return nil
		}
		return v1.NewForbidden("the node token may read, register and update nodes, update the status of pods and nodes, and delete pods: " +
			req.verb + " " + req.resource.Name + " is not allowed")
	}
	return v1.NewUnauthorized("Unauthorized")
}

// adminOnly refuses every role but admin (for profiling endpoints).
func adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if roleOf(r.Context()) != RoleAdmin {
			writeError(w, v1.NewForbidden("profiling needs the admin token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
