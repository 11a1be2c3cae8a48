package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	v1 "orch.io/orch/api/v1"
)

// GetScale reads the scale subresource of a replication controller.
func (c *Client) GetScale(ctx context.Context, namespace, name string) (*v1.Scale, error) {
	p, err := ResourcePath("replicationcontrollers", namespace, name, "scale")
	if err != nil {
		return nil, fmt.Errorf("get scale: %w", err)
	}
	var s v1.Scale
	if err := c.call(ctx, &request{method: http.MethodGet, path: p}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// UpdateScale writes the scale subresource of a replication controller
// (s.Namespace and s.Name name it). A resourceVersion in s makes it a
// compare-and-swap. s is filled with the result.
func (c *Client) UpdateScale(ctx context.Context, s *v1.Scale) error {
	p, err := ResourcePath("replicationcontrollers", s.Namespace, s.Name, "scale")
	if err != nil {
		return fmt.Errorf("update scale: %w", err)
	}
	// No kind/apiVersion is sent: the contract does not fix which group the
	// server expects for Scale, and both are optional on the wire.
	s.TypeMeta = v1.TypeMeta{}
	return c.Do(ctx, http.MethodPut, p, nil, s, s)
}

// Scale sets the desired replicas of a replication controller through its
// scale subresource, unconditionally.
func (c *Client) Scale(ctx context.Context, namespace, name string, replicas int32) error {
	s := &v1.Scale{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: namespace}, Spec: v1.ScaleSpec{Replicas: replicas}}
	return c.UpdateScale(ctx, s)
}

// Members is the answer of GET /orch/v1/members: the masters of the cluster
// as the answering master sees them.
type Members struct {
	// Leader is the name of the current Raft leader ("" if none is known).
	Leader string `json:"leader"`
	// Members lists every master.
	Members []Member `json:"members"`
}

// Member is one master.
type Member struct {
	// Name is the master's name.
	Name string `json:"name"`
	// RaftAddr is the address of its Raft transport.
	RaftAddr string `json:"raftAddr"`
	// APIAddr is the address of its HTTPS API.
	APIAddr string `json:"apiAddr"`
	// State is "leader", "follower" or "unknown".
	State string `json:"state"`
	// Voter says whether it votes in elections.
	Voter bool `json:"voter"`
	// LastIndex and AppliedIndex are known for the answering master only
	// (0 for the others).
	LastIndex    uint64 `json:"lastIndex"`
	AppliedIndex uint64 `json:"appliedIndex"`
}

// Members lists the masters of the cluster.
func (c *Client) Members(ctx context.Context) (*Members, error) {
	var m Members
	if err := c.call(ctx, &request{method: http.MethodGet, path: "/orch/v1/members"}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// VersionInfo is the answer of GET /version.
type VersionInfo struct {
	// Major, Minor and GitVersion name the release ("1", "0", "v0.1.0");
	// the other fields are optional build details.
	Major      string `json:"major"`
	Minor      string `json:"minor"`
	GitVersion string `json:"gitVersion"`
	GitCommit  string `json:"gitCommit,omitempty"`
	BuildDate  string `json:"buildDate,omitempty"`
	GoVersion  string `json:"goVersion,omitempty"`
	Platform   string `json:"platform"`
}

// Version reads the server's version.
func (c *Client) Version(ctx context.Context) (*VersionInfo, error) {
	var v VersionInfo
	if err := c.call(ctx, &request{method: http.MethodGet, path: "/version"}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// AddMaster adds a master (started with `orchd master --join`) to the Raft
// configuration as a voter and returns the members after the change.
func (c *Client) AddMaster(ctx context.Context, name, raftAddr string) (*Members, error) {
	var m Members
	body := map[string]string{"name": name, "raftAddr": raftAddr}
	if err := c.call(ctx, &request{method: http.MethodPost, path: "/orch/v1/cluster/masters", body: encodeJSON(body)}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// RemoveMaster removes a master from the Raft configuration.
func (c *Client) RemoveMaster(ctx context.Context, name string) (*Members, error) {
	var m Members
	if err := c.call(ctx, &request{method: http.MethodDelete, path: "/orch/v1/cluster/masters/" + url.PathEscape(name)}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// TransferLeader hands leadership to the named master, or to any
// up-to-date one when name is empty.
func (c *Client) TransferLeader(ctx context.Context, name string) (*Members, error) {
	var m Members
	body := map[string]string{"to": name}
	if err := c.call(ctx, &request{method: http.MethodPost, path: "/orch/v1/cluster/transfer-leader", body: encodeJSON(body)}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func encodeJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// Snapshot streams a point-in-time backup of the cluster's store (GET
// /orch/v1/snapshot); check it with v1.ReadBackup.
func (c *Client) Snapshot(ctx context.Context) (io.ReadCloser, error) {
	res, err := c.send(ctx, &request{method: http.MethodGet, path: "/orch/v1/snapshot", stream: true})
	if err != nil {
		return nil, err
	}
	return res.stream, nil
}
