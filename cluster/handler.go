package cluster

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
)

// MasterOrganization is the certificate organization that marks a master;
// only clients presenting such a certificate may call the internal endpoints.
const MasterOrganization = pki.MasterOrganization

// InternalHandler serves the endpoints other masters call: apply (a
// forwarded command) and readindex. The API server mounts it under
// /orch/v1/internal/ on its TLS listener, which must request client
// certificates. Only a master of the Raft configuration may call it (checkPeer).
func (c *Cluster) InternalHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+applyPath, c.serveApply)
	mux.HandleFunc("POST "+applyStreamPath, c.serveApplyStream)
	mux.HandleFunc("POST "+readIndexPath, c.serveReadIndex)
	mux.HandleFunc("POST "+membershipPath, c.serveMembership)
	return c.requireMaster(mux)
}

func (c *Cluster) requireMaster(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			writeStatus(w, v1.NewForbidden("internal endpoints need a master certificate"))
			return
		}
		if se := c.masterPeer(r.TLS.PeerCertificates); se != nil {
			writeStatus(w, se)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// masterPeer checks that certs are a master's of the current Raft
// configuration: nil, or the 403 to answer.
func (c *Cluster) masterPeer(certs []*x509.Certificate) *v1.StatusError {
	if len(certs) == 0 {
		return v1.NewForbidden("internal endpoints need a master certificate")
	}
	if _, err := c.peers.verifyAccepted(certs); err != nil {
		return v1.NewForbidden(fmt.Sprintf("internal endpoints need the certificate of a master of this cluster: %v", err))
	}
	return nil
}

// serveApply takes a batch of forwarded commands (uvarint length + command,
// repeated) and answers with one forwardItem per command, in order.
func (c *Cluster) serveApply(w http.ResponseWriter, r *http.Request) {
	body, err := readRequestBody(r, maxForwardBody)
	if err != nil {
		writeStatus(w, v1.NewBadRequest(fmt.Sprintf("read commands: %v", err)))
		return
	}
	out, se := c.applyBatch(body)
	if se != nil {
		writeStatus(w, se)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	// One body of known length, not chunks: the follower reads it into one buffer.
	w.Header().Set("Content-Length", strconv.Itoa(out.Len()))
	bufs := out.buffers()
	bufs.WriteTo(w)
}

// applyBatch applies a forwarded batch (its frames, as readFrames splits
// them) on the leader and returns the answers, or the Status that refuses
// the whole batch: 400 for a malformed frame, NotLeader on a follower,
// 500 when the answers cannot be encoded.
func (c *Cluster) applyBatch(body []byte) (*answerBuf, *v1.StatusError) {
	cmds, err := readFrames(body)
	if err != nil {
		return nil, v1.NewBadRequest(err.Error())
	}
	if !c.IsLeader() {
		return nil, notLeader("not the leader")
	}
	out, err := c.applyForwarded(cmds)
	if err != nil {
		return nil, v1.NewInternalError(err)
	}
	return out, nil
}

func (c *Cluster) serveReadIndex(w http.ResponseWriter, r *http.Request) {
	if !c.IsLeader() {
		writeStatus(w, notLeader("not the leader"))
		return
	}
	idx, err := c.leaderReadIndex()
	if err != nil {
		writeStatus(w, notLeader(err.Error()))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"index\":%d}\n", idx)
}

func asStatus(err error) *v1.StatusError {
	type unwrapper interface{ Unwrap() []error }
	if u, ok := err.(unwrapper); ok {
		for _, e := range u.Unwrap() {
			if se, ok := e.(*v1.StatusError); ok {
				return se
			}
		}
	}
	return nil
}

func writeStatus(w http.ResponseWriter, e *v1.StatusError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(e.Status.Code))
	json.NewEncoder(w).Encode(e.Status)
}
