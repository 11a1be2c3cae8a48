package cluster

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"orch.io/orch/fsm"
)

// Peer is one member of the initial cluster.
type Peer struct {
	ID       string
	RaftAddr string
}

// ParseInitialCluster parses "m1=host:port,m2=host:port,...".
func ParseInitialCluster(s string) ([]Peer, error) {
	var out []Peer
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, addr, ok := strings.Cut(part, "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("initial cluster entry %q: want NAME=HOST:PORT", part)
		}
		if seen[id] {
			return nil, fmt.Errorf("initial cluster: name %q appears twice", id)
		}
		seen[id] = true
		out = append(out, Peer{ID: id, RaftAddr: addr})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("initial cluster is empty")
	}
	return out, nil
}

// Config configures one master's Raft member.
type Config struct {
	// ID is this master's name (its Raft server ID).
	ID string
	// RaftAddr is the address the Raft transport binds and advertises.
	RaftAddr string
	// APIAddr is the host:port of this master's HTTPS API, published to the others.
	APIAddr string
	// DataDir holds the Raft log (raft-wal/ or raft.db) and snapshots/.
	DataDir string
	// InitialCluster bootstraps a new cluster; ignored when DataDir has state.
	InitialCluster []Peer
	// Join starts a master without state as a new member of a running
	// cluster: it bootstraps nothing and waits for the leader to add it.
	Join bool
	// RestoreFrom, on a first start (no state), seeds the new cluster from a
	// backup (orchctl snapshot save): every master of the new cluster starts
	// with the same file and the same InitialCluster.
	RestoreFrom string
	// SnapshotRetain is how many Raft snapshots are kept on disk (3).
	SnapshotRetain int

	// ServerTLS serves the Raft transport (mutual TLS). Its client
	// verification is replaced: a peer must present the certificate of a
	// server of the Raft configuration (peers.go).
	ServerTLS *tls.Config
	// ClientTLS dials peers' Raft transports and leaders' APIs, presenting
	// this master's certificate. RootCAs must hold the cluster CA: a dialed
	// master must present the certificate of the server ID at that address,
	// issued by it directly.
	ClientTLS *tls.Config

	// HeartbeatTimeout, ElectionTimeout and LeaderLeaseTimeout tune failure
	// detection (see DefaultConfig for the measured choice).
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// CommitTimeout bounds how long followers may wait to learn a commit index.
	CommitTimeout time.Duration
	// MaxAppendEntries caps entries per AppendEntries RPC and the apply batch.
	MaxAppendEntries int
	// SnapshotInterval, SnapshotThreshold and TrailingLogs control snapshots.
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	TrailingLogs      uint64
	// ApplyTimeout bounds one write (enqueue to commit).
	ApplyTimeout time.Duration
	// FeedSize is the number of change events kept for watches.
	FeedSize int
	// FeedBytes bounds the bytes of the change events kept for watches
	// (fsm.FeedLimits.Bytes; 0: fsm.DefaultFeedBytes).
	FeedBytes int64
	// LogCacheEntries and LogCacheBytes bound the in-memory cache of recent
	// Raft log entries in front of raft.db (0: DefaultLogCacheEntries,
	// DefaultLogCacheBytes).
	LogCacheEntries int
	LogCacheBytes   int64
	// LogStore is the Raft log store a new data dir gets: LogStoreWAL
	// ("" too) or LogStoreBoltDB (logstore.go). A data dir keeps the kind
	// it was created with: "" opens the one it holds, another is refused.
	LogStore string

	// Logger receives the cluster's logs.
	Logger *slog.Logger
	// Registerer receives the cluster's metrics (nil: not registered).
	Registerer prometheus.Registerer
}

// DefaultConfig returns the tuned defaults. Heartbeat and election timeouts
// of 300 ms (raft's defaults are 1 s) bring write unavailability after a
// leader kill under one second on loopback; see the README's measurements.
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:   300 * time.Millisecond,
		ElectionTimeout:    300 * time.Millisecond,
		LeaderLeaseTimeout: 200 * time.Millisecond,
		CommitTimeout:      20 * time.Millisecond,
		MaxAppendEntries:   512,
		SnapshotInterval:   60 * time.Second,
		SnapshotThreshold:  16384,
		TrailingLogs:       10240,
		ApplyTimeout:       10 * time.Second,
		FeedSize:           50000,
		FeedBytes:          fsm.DefaultFeedBytes,
		LogCacheEntries:    DefaultLogCacheEntries,
		LogCacheBytes:      DefaultLogCacheBytes,
	}
}
