package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/cluster"
)

// serveMembership handles the admin's changes to the set of masters:
//
//	POST   /orch/v1/cluster/masters          {"name":..,"raftAddr":..}  add a voter
//	DELETE /orch/v1/cluster/masters/{name}                              remove one
//	POST   /orch/v1/cluster/transfer-leader  {"to":..}                  hand over leadership
//
// Each answers with the members as they are after the change.
func (s *Server) serveMembership(op string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := cluster.MembershipRequest{Op: op}
		switch op {
		case cluster.MembershipRemove:
			req.Name = r.PathValue("name")
		default:
			var body struct {
				Name     string `json:"name"`
				RaftAddr string `json:"raftAddr"`
				To       string `json:"to"`
			}
			b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
			if err == nil && len(b) > 0 {
				err = json.Unmarshal(b, &body)
			}
			if err != nil {
				writeError(w, v1.NewBadRequest(fmt.Sprintf("decode the request: %v", err)))
				return
			}
			req.Name, req.RaftAddr = body.Name, body.RaftAddr
			if op == cluster.MembershipTransfer {
				req.Name = body.To
			}
		}
		if err := s.backend.ChangeMembership(r.Context(), req); err != nil {
			writeError(w, v1.AsStatusError(err))
			return
		}
		s.serveMembers(w, r)
	})
}
