package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"orch.io/orch/fsm"
)

// Cluster is one master's member of the Raft group.
type Cluster struct {
	cfg     Config
	log     *slog.Logger
	fsm     *fsm.FSM
	raft    *raft.Raft
	store   raftStore
	logs    raft.LogStore
	disk    *diskStore
	trans   *raft.NetworkTransport
	peers   *peerCheck
	notify  chan bool
	metrics *metrics
	fwd     *http.Client
	// forwardQ holds writes waiting to be carried to the leader (forward.go).
	forwardQ chan *pendingForward
	// leaderMoved is fired at every leader change Raft observes (leader.go).
	leaderMoved *leaderWatch
	// streams are the forwarding streams this master serves as the leader
	// (forward_stream.go), closed at shutdown.
	streams streamSet

	mu       sync.Mutex
	routines []leaderRoutine
	// term is the Raft term leadership was established in (0 if none).
	term     uint64
	cancel   context.CancelFunc
	leaderWG sync.WaitGroup
	// established is closed once this master finished establishing leadership.
	established chan struct{}

	shutdownOnce sync.Once
}

// leaderRoutine is a named loop that runs only while this master leads.
type leaderRoutine struct {
	name string
	run  func(ctx context.Context)
}

// New opens the data directory and starts the Raft member. A data directory
// without Raft state is bootstrapped with cfg.InitialCluster; one with state
// rejoins from it. Leadership work starts with Run.
func New(cfg Config) (*Cluster, error) {
	if cfg.ID == "" || cfg.RaftAddr == "" || cfg.DataDir == "" {
		return nil, fmt.Errorf("cluster config: ID, RaftAddr and DataDir are required")
	}
	if cfg.ServerTLS == nil || cfg.ClientTLS == nil {
		return nil, fmt.Errorf("cluster config: ServerTLS and ClientTLS are required")
	}
	if cfg.ClientTLS.RootCAs == nil {
		return nil, fmt.Errorf("cluster config: ClientTLS.RootCAs must hold the cluster CA")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("subsystem", "cluster")
	f, err := fsm.NewWithFeed(fsm.FeedLimits{Events: cfg.FeedSize, Bytes: cfg.FeedBytes})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	store, err := openRaftStore(cfg.DataDir, cfg.LogStore)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, log: log, fsm: f, store: store, notify: make(chan bool, 16),
		forwardQ: make(chan *pendingForward, 4*maxForwardBatch), leaderMoved: newLeaderWatch(),
		metrics: newMetrics(cfg.Registerer), established: make(chan struct{}),
		peers: &peerCheck{roots: cfg.ClientTLS.RootCAs}}
	registerFSMMetrics(cfg.Registerer, f.Rejected)
	c.disk = &diskStore{raftStore: store, watch: newDiskWatch(cfg.ID, cfg.DataDir, log, c.metrics.diskFull)}
	if w, ok := store.(walStore); ok {
		c.disk.reserve, c.disk.watch.need = w.reserve, w.reserve.needed
	}
	ok := false
	defer func() {
		if !ok {
			c.closeResources()
		}
	}()
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: slogWriter{log}})
	retain := cfg.SnapshotRetain
	if retain <= 0 {
		retain = 3
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, retain, hlog)
	if err != nil {
		return nil, fmt.Errorf("open snapshots: %w", err)
	}
	layer, err := newTLSStreamLayer(cfg.RaftAddr, cfg.ServerTLS, cfg.ClientTLS, c.peers)
	if err != nil {
		return nil, err
	}
	c.trans = newRaftTransport(layer, hlog)
	cacheEntries, cacheBytes := cfg.LogCacheEntries, cfg.LogCacheBytes
	if cacheEntries <= 0 {
		cacheEntries = DefaultLogCacheEntries
	}
	if cacheBytes <= 0 {
		cacheBytes = DefaultLogCacheBytes
	}
	cache, err := newLogCache(c.disk, cacheEntries, cacheBytes)
	if err != nil {
		return nil, fmt.Errorf("log cache: %w", err)
	}
	registerMemoryGauges(cfg.Registerer, func() int64 { return c.Store().Feed().Bytes() }, cache)
	logs := typedLogStore{LogStore: cache, watch: c.disk.watch}
	c.logs = logs
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.MaxAppendEntries = cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.NotifyCh = c.notify
	rc.Logger = hlog
	has, err := raft.HasExistingState(logs, c.disk, snaps)
	if err != nil {
		return nil, fmt.Errorf("check raft state: %w", err)
	}
	if !has && cfg.RestoreFrom != "" {
		index, err := seedFromBackup(snaps, c.trans, cfg)
		if err != nil {
			return nil, err
		}
		has = true
		log.Info("seeded from a backup", "file", cfg.RestoreFrom, "index", index)
	}
	trans := &campaignTransport{NetworkTransport: c.trans, full: c.disk.watch.Full}
	r, err := raft.NewRaft(rc, f, logs, c.disk, snaps, trans)
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	c.raft = r
	c.peers.raft.Store(r)
	if !has && cfg.Join {
		log.Info("no raft state: waiting for the leader to add this master (orchctl cluster add-master)")
	} else if !has {
		if len(cfg.InitialCluster) == 0 {
			r.Shutdown()
			return nil, fmt.Errorf("data dir %s has no raft state and no initial cluster was given", cfg.DataDir)
		}
		var servers []raft.Server
		for _, p := range cfg.InitialCluster {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.RaftAddr)})
		}
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			r.Shutdown()
			return nil, fmt.Errorf("bootstrap cluster: %w", err)
		}
		log.Info("bootstrapped new cluster", "members", len(servers))
	} else {
		log.Info("rejoining from existing state", "dir", cfg.DataDir)
	}
	c.fwd = &http.Client{Transport: &http.Transport{
		// Checks the master at each address by name (peers.go).
		DialTLSContext:      c.dialMasterAPI,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}}
	ok = true
	return c, nil
}

// slogWriter adapts raft's hclog output to slog.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn(string(trimNewline(p)), "from", "raft")
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

// FSM returns the replicated state machine.
func (c *Cluster) FSM() *fsm.FSM { return c.fsm }

// Store returns the current store (replaced on snapshot restore).
func (c *Cluster) Store() *fsm.Store { return c.fsm.Store() }

// ID returns this master's name.
func (c *Cluster) ID() string { return c.cfg.ID }

// Raft exposes the raft member for operations and tests.
func (c *Cluster) Raft() *raft.Raft { return c.raft }

// IsLeader reports whether this master is the leader.
func (c *Cluster) IsLeader() bool { return c.raft.State() == raft.Leader }

// Leader returns the leader's ID and Raft address, empty if none is known.
func (c *Cluster) Leader() (id, addr string) {
	a, i := c.raft.LeaderWithID()
	return string(i), string(a)
}

// LeaderAPIAddr returns the leader's API address as registered in the FSM.
func (c *Cluster) LeaderAPIAddr() (string, bool) {
	id, _ := c.Leader()
	if id == "" {
		return "", false
	}
	if id == c.cfg.ID {
		return c.cfg.APIAddr, true
	}
	m, ok := c.Store().Master(id)
	if !ok || m.APIAddr == "" {
		return "", false
	}
	return m.APIAddr, true
}

// TransferLeadership hands leadership to another voter and waits for it.
func (c *Cluster) TransferLeadership() error {
	if !c.IsLeader() {
		return nil
	}
	if err := c.raft.LeadershipTransfer().Error(); err != nil {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	return nil
}

// Shutdown stops leadership work and the Raft member and closes the stores.
func (c *Cluster) Shutdown() error {
	var err error
	c.shutdownOnce.Do(func() {
		c.revokeLeadership()
		if c.raft != nil {
			err = c.raft.Shutdown().Error()
		}
		c.closeResources()
	})
	return err
}

func (c *Cluster) closeResources() {
	c.streams.closeAll()
	if c.trans != nil {
		c.trans.Close()
	}
	if c.store != nil {
		c.store.Close()
	}
	if c.fwd != nil {
		c.fwd.CloseIdleConnections()
	}
}
