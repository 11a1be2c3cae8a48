package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
)

// Membership operations.
const (
	MembershipAdd      = "add"
	MembershipRemove   = "remove"
	MembershipTransfer = "transfer"
)

const membershipPath = "/orch/v1/internal/membership"

// MembershipRequest changes the Raft configuration or its leader: add a
// master (Name, RaftAddr) as a voter, remove one (Name), or hand leadership
// to one (Name, or any up-to-date follower when empty).
type MembershipRequest struct {
	Op       string `json:"op"`
	Name     string `json:"name,omitempty"`
	RaftAddr string `json:"raftAddr,omitempty"`
}

// ChangeMembership carries out req on the leader (forwarding it there from
// a follower) and returns once the leader has committed the change.
func (c *Cluster) ChangeMembership(ctx context.Context, req MembershipRequest) error {
	switch req.Op {
	case MembershipAdd:
		if req.Name == "" || req.RaftAddr == "" {
			return v1.NewBadRequest("adding a master needs its name and Raft address")
		}
	case MembershipRemove:
		if req.Name == "" {
			return v1.NewBadRequest("removing a master needs its name")
		}
	case MembershipTransfer:
	default:
		return v1.NewBadRequest(fmt.Sprintf("unknown membership operation %q", req.Op))
	}
	if c.IsLeader() {
		return c.changeMembership(req)
	}
	return c.forwardMembership(ctx, req)
}

func (c *Cluster) changeMembership(req MembershipRequest) error {
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("read raft configuration: %w", err)
	}
	var found *raft.Server
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == req.Name {
			s := s
			found = &s
		}
	}
	timeout := c.cfg.ApplyTimeout
	switch req.Op {
	case MembershipAdd:
		if found != nil {
			return v1.NewAlreadyExists("masters", req.Name)
		}
		if err := c.raft.AddVoter(raft.ServerID(req.Name), raft.ServerAddress(req.RaftAddr), 0, timeout).Error(); err != nil {
			return membershipError("add master "+req.Name, err)
		}
		c.log.Info("master added", "master", req.Name, "raft", req.RaftAddr)
	case MembershipRemove:
		if found == nil {
			return v1.NewNotFound("masters", req.Name)
		}
		if err := c.raft.RemoveServer(raft.ServerID(req.Name), 0, timeout).Error(); err != nil {
			return membershipError("remove master "+req.Name, err)
		}
		c.log.Info("master removed", "master", req.Name)
	case MembershipTransfer:
		var fut raft.Future
		switch {
		case req.Name == "":
			fut = c.raft.LeadershipTransfer()
		case found == nil:
			return v1.NewNotFound("masters", req.Name)
		case req.Name == c.cfg.ID:
			return nil // already leads
		default:
			fut = c.raft.LeadershipTransferToServer(found.ID, found.Address)
		}
		if err := fut.Error(); err != nil {
			return membershipError("transfer leadership", err)
		}
	}
	return nil
}

func membershipError(what string, err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
		// Not done, and another leader may do it: a follower that forwarded
		// the change retries on the next leader.
		return notLeader(fmt.Sprintf("%s: %v; try again", what, err))
	}
	return v1.NewInternalError(fmt.Errorf("%s: %w", what, err))
}

// forwardMembership sends req to the leader's internal endpoint; when the
// master it reached is no longer the leader (right after a transfer or an
// election), it sends it again to the next one.
func (c *Cluster) forwardMembership(ctx context.Context, req MembershipRequest) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ApplyTimeout+5*time.Second)
	defer cancel()
	for {
		moved := c.leaderChange()
		err := c.forwardMembershipOnce(ctx, req)
		if se := (*v1.StatusError)(nil); !errors.As(err, &se) || se.Status.Reason != reasonNotLeader {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-moved:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// forwardMembershipOnce sends req to the master this one takes for the leader.
func (c *Cluster) forwardMembershipOnce(ctx context.Context, req MembershipRequest) error {
	// Right after an election the leader may not be known yet: wait a little.
	addr, ok := c.LeaderAPIAddr()
	for !ok {
		select {
		case <-ctx.Done():
			return v1.NewServiceUnavailable("no leader is known: the masters may have lost their quorum")
		case <-time.After(50 * time.Millisecond):
		}
		addr, ok = c.LeaderAPIAddr()
	}
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+membershipPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.fwd.Do(hreq)
	if err != nil {
		return v1.NewServiceUnavailable(fmt.Sprintf("forward to the leader %s: %v", addr, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var st v1.Status
	if json.Unmarshal(b, &st) == nil && st.Code != 0 {
		return &v1.StatusError{Status: st}
	}
	return v1.NewInternalError(fmt.Errorf("the leader %s answered HTTP %d", addr, resp.StatusCode))
}

// serveMembership runs a forwarded membership change on the leader.
func (c *Cluster) serveMembership(w http.ResponseWriter, r *http.Request) {
	var req MembershipRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeStatus(w, v1.NewBadRequest(fmt.Sprintf("decode membership request: %v", err)))
		return
	}
	if !c.IsLeader() {
		writeStatus(w, notLeader("not the leader"))
		return
	}
	if err := c.changeMembership(req); err != nil {
		writeStatus(w, v1.AsStatusError(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}
