package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/apiserver"
	"orch.io/orch/apiserver/bootstrap"
	"orch.io/orch/apiserver/podsecurity"
	"orch.io/orch/apiserver/serviceaccount"
	nodeauth "orch.io/orch/auth/node"
	"orch.io/orch/auth/rbac"
	"orch.io/orch/cluster"
	"orch.io/orch/fsm"
	"orch.io/orch/gossip"
	"orch.io/orch/pki"
	"orch.io/orch/sched"
)

type masterFlags struct {
	sa                            saFlags
	abac                          abacFlags
	tokenFile                     tokenFileFlags
	name, dataDir, pkiDir         string
	apiAddr, raftAddr, gossipAddr string
	gossipJoin                    string
	gossipProbe, gossipTimeout    time.Duration
	clusterCIDR, serviceCIDR      string
	nodeCIDRMaskSize              int
	initialCluster                string
	heartbeat, election, lease    time.Duration
	leaseBatchWindow              time.Duration
	snapshotThreshold             uint64
	snapshotInterval              time.Duration
	feedSize                      int
	feedBytes, logCacheBytes      int64
	raftLogStore                  string
	podGCQuarantine               time.Duration
	gcPercent                     int
	memoryLimit                   int64
	heapHugePages                 int64
	nodeGrace, nodeEviction       time.Duration
	logLevel                      string
	signals, join                 bool
	restore                       string
	snapshotRetain                int
	maxInflight, maxMutating      int
	maxWatches, maxClientWatches  int
	maxConns                      int
	podSecurity                   podsecurity.Config
	podSecurityExempt             string
	clusterSigningDuration        time.Duration
	audit                         auditFlags
	encryption                    encryptionFlags
	events                        eventFlags
}

func newMasterCommand() *cobra.Command {
	d := cluster.DefaultConfig()
	f := &masterFlags{}
	cmd := &cobra.Command{
		Use:   "master",
		Short: "Run a master: a Raft member, the HTTPS API and (when leading) the control loops",
		Long: `Run one orch master. Three masters on three machines tolerate the loss of one.

The first start with an empty --data-dir bootstraps the cluster from
--initial-cluster (the same list on every master); later starts rejoin from
the data directory and ignore it. A single-entry --initial-cluster makes a
one-master cluster.

On SIGTERM or SIGINT a leading master hands leadership to another master
before it stops, so writes pause for milliseconds rather than an election.`,
		Example: `  orchd master --name m1 --data-dir /var/lib/orch/m1 --pki-dir /etc/orch/pki \
    --api-addr 127.0.0.1:6443 --raft-addr 127.0.0.1:7001 --gossip-addr 127.0.0.1:7946 \
    --initial-cluster m1=127.0.0.1:7001,m2=127.0.0.1:7002,m3=127.0.0.1:7003`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runMaster(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "this master's name, unique in the cluster (required)")
	fl.StringVar(&f.dataDir, "data-dir", "", "directory for the Raft log and snapshots (required)")
	fl.StringVar(&f.pkiDir, "pki-dir", "", "directory with ca.crt, this master's master-NAME.crt and .key (`orchd pki issue master`), the tokens and gossip.key; ca.key need not be there (required)")
	fl.StringVar(&f.apiAddr, "api-addr", "127.0.0.1:6443", "host:port of the HTTPS API (also published to the other masters)")
	fl.StringVar(&f.raftAddr, "raft-addr", "127.0.0.1:7001", "host:port of the Raft transport (mutual TLS)")
	fl.StringVar(&f.gossipAddr, "gossip-addr", "", "IP:port of this master in the gossip pool (nodes find the masters through it; empty: no gossip)")
	fl.StringVar(&f.gossipJoin, "gossip-join", "", "comma-separated IP:port of gossip members to join (other masters)")
	fl.DurationVar(&f.gossipProbe, "gossip-probe-interval", 0, "gossip failure-detection probe interval (0: 1 s)")
	fl.DurationVar(&f.gossipTimeout, "gossip-probe-timeout", 0, "gossip probe timeout (0: 500 ms)")
	fl.StringVar(&f.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "the pod network; each node gets a free subnet of it when it registers")
	fl.IntVar(&f.nodeCIDRMaskSize, "node-cidr-mask-size", 24, "prefix length of each node's pod subnet")
	fl.StringVar(&f.serviceCIDR, "service-cidr", "10.96.0.0/16", "the service network: each service gets a ClusterIP from it")
	fl.StringVar(&f.initialCluster, "initial-cluster", "", "NAME=RAFTADDR,... of every master, to bootstrap a new cluster")
	fl.StringVar(&f.restore, "restore", "", "on the first start (empty --data-dir), start the new cluster from this backup ('orchctl snapshot save'); give every master the same file and --initial-cluster")
	fl.IntVar(&f.snapshotRetain, "snapshot-retain", 3, "Raft snapshots kept in --data-dir (one is taken every --snapshot-threshold entries)")
	fl.BoolVar(&f.join, "join", false, "start with an empty --data-dir as a new member of a running cluster: wait for 'orchctl cluster add-master NAME RAFTADDR'")
	fl.DurationVar(&f.heartbeat, "heartbeat-timeout", d.HeartbeatTimeout, "Raft heartbeat timeout: a follower that hears nothing this long starts an election")
	fl.DurationVar(&f.election, "election-timeout", d.ElectionTimeout, "Raft election timeout")
	fl.DurationVar(&f.lease, "leader-lease-timeout", d.LeaderLeaseTimeout, "a leader that cannot reach a quorum this long steps down")
	fl.Uint64Var(&f.snapshotThreshold, "snapshot-threshold", d.SnapshotThreshold, "log entries between snapshots")
	fl.DurationVar(&f.snapshotInterval, "snapshot-interval", d.SnapshotInterval, "how often (with up to as much again of jitter) the log is checked against --snapshot-threshold")
	fl.IntVar(&f.feedSize, "watch-window", d.FeedSize, "change events kept for watches; older resourceVersions get 410 Gone")
	fl.Var(newBytesFlag(&f.feedBytes, d.FeedBytes), "watch-feed-bytes", "bytes of change events kept for watches (each event counts its object before and after); older resourceVersions get 410 Gone")
	fl.Var(newBytesFlag(&f.logCacheBytes, d.LogCacheBytes), "raft-log-cache-bytes", "bytes of recent Raft log entries kept in memory in front of raft.db (at most 1024 entries either way)")
	fl.StringVar(&f.raftLogStore, "raft-log-store", "", "the Raft log store of a new data dir: wal (raft-wal/, the default: about a quarter of bolt's CPU per batch of entries; keeps a segment's room, 17 MiB, in reserve for a full disk) or boltdb (raft.db); a data dir keeps the store it was created with, and without this flag a master uses the one its data dir holds")
	fl.DurationVar(&f.podGCQuarantine, "pod-gc-quarantine", sched.DefaultPodGCQuarantine, "pods bound to a node that does not exist are force-deleted once the node has been missing this long (a registering node keeps its pods)")
	fl.DurationVar(&f.leaseBatchWindow, "lease-batch-window", apiserver.DefaultLeaseBatchWindow, "an update of a Lease waits this long for others to share one Raft entry with (node heartbeats); negative: no batching")
	fl.DurationVar(&f.nodeGrace, "node-grace", 40*time.Second, "a node silent this long becomes Ready=Unknown and gets the node.orch.io/unreachable NoSchedule taint")
	fl.DurationVar(&f.nodeEviction, "node-eviction-timeout", 5*time.Minute, "a node silent this long has its pods deleted, so their controllers replace them elsewhere")
	fl.IntVar(&f.maxInflight, "max-requests-inflight", apiserver.DefaultMaxRequestsInFlight, "the most read-only API requests served at once; more get 429 (watches, logs and image uploads are not counted; 0: no limit)")
	fl.IntVar(&f.maxMutating, "max-mutating-requests-inflight", apiserver.DefaultMaxMutatingRequestsInFlight, "the most mutating API requests served at once; more get 429 (0: no limit)")
	fl.IntVar(&f.maxClientWatches, "max-watches-per-client", apiserver.DefaultMaxWatchesPerClient, "the most open watches of one client (a user); more get 429 (0: no limit)")
	fl.IntVar(&f.maxWatches, "max-watches", apiserver.DefaultMaxWatches, "the most open watches of this master; more get 429 (0: no limit)")
	fl.IntVar(&f.maxConns, "max-connections", apiserver.DefaultMaxConnections, "the most connections the API holds open; more wait to be accepted (0: no limit)")
	psd := podsecurity.DefaultConfig()
	fl.StringVar(&f.podSecurity.Enforce, "pod-security-enforce", psd.Enforce, "Pod Security level (privileged, baseline or restricted, optionally :VERSION such as restricted:v1.30) refused in namespaces without a pod-security.kubernetes.io/enforce label")
	fl.StringVar(&f.podSecurity.Warn, "pod-security-warn", psd.Warn, "Pod Security level whose violations are returned as warnings in namespaces without a pod-security.kubernetes.io/warn label")
	fl.StringVar(&f.podSecurity.Audit, "pod-security-audit", psd.Audit, "Pod Security level whose violations are logged in namespaces without a pod-security.kubernetes.io/audit label")
	fl.StringVar(&f.podSecurityExempt, "pod-security-exempt-namespaces", strings.Join(psd.ExemptNamespaces, ","), "comma-separated namespaces that Pod Security does not check (cluster add-ons)")
	fl.DurationVar(&f.clusterSigningDuration, "cluster-signing-duration", sched.DefaultClusterSigningDuration, "the longest lifetime of the certificates the leader signs for certificate signing requests (a request's expirationSeconds may ask for less)")
	f.audit.register(fl)
	f.events.register(fl)
	fl.IntVar(&f.gcPercent, "gc-percent", 200, "Go GC target percentage (ignored when GOGC is set): higher spends less CPU on GC and more memory")
	fl.Var(newBytesOrZeroFlag(&f.heapHugePages, defaultHeapHugePages), "heap-huge-pages", "Go heap address space advised for transparent huge pages at start, where the system's THP setting is madvise: the store then grows into 2 MiB pages rather than 4 KiB ones, a fault each (0: none)")
	fl.Var(newBytesOrZeroFlag(&f.memoryLimit, 0), "memory-limit", "soft limit of the memory the Go runtime uses (e.g. 900Mi; ignored when GOMEMLIMIT is set; 0: none): near it the GC runs more often than --gc-percent asks and returns free memory to the system; set it below the master's memory budget, above what it holds (see orchbench -only memory)")
	f.sa.register(fl)
	f.encryption.register(fl)
	f.abac.register(fl)
	f.tokenFile.register(fl)
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.BoolVar(&f.signals, "handle-signals", true, "stop on SIGTERM and SIGINT (orchd dev stops its master itself)")
	fl.MarkHidden("handle-signals")
	for _, req := range []string{"name", "data-dir", "pki-dir"} {
		cmd.MarkFlagRequired(req)
	}
	return cmd
}

func runMaster(ctx context.Context, f *masterFlags) error {
	log, err := newLogger(f.logLevel)
	if err != nil {
		return err
	}
	log = log.With("master", f.name)
	for flag, v := range map[string]string{"pod-security-enforce": f.podSecurity.Enforce, "pod-security-warn": f.podSecurity.Warn, "pod-security-audit": f.podSecurity.Audit} {
		if _, _, err := podsecurity.ParseLevelVersion(v); err != nil {
			return fmt.Errorf("--%s: %w", flag, err)
		}
	}
	adviseHeap(log, f.heapHugePages)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(f.gcPercent)
	}
	if f.memoryLimit < 0 {
		return fmt.Errorf("--memory-limit %d: must not be negative", f.memoryLimit)
	}
	if f.memoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(f.memoryLimit)
	}
	bundle, err := pki.LoadMaster(f.pkiDir, f.name)
	if err != nil {
		return err
	}
	peerServer, err := bundle.PeerServerTLS()
	if err != nil {
		return err
	}
	peerClient, err := bundle.PeerClientTLS()
	if err != nil {
		return err
	}
	apiTLS, err := bundle.APIServerTLS()
	if err != nil {
		return err
	}
	var peers []cluster.Peer
	if f.initialCluster != "" {
		if peers, err = cluster.ParseInitialCluster(f.initialCluster); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", f.apiAddr)
	if err != nil {
		return fmt.Errorf("listen on --api-addr %s: %w", f.apiAddr, err)
	}
	defer ln.Close()
	reg := prometheus.NewRegistry()
	cc := cluster.DefaultConfig()
	cc.ID, cc.RaftAddr, cc.APIAddr, cc.DataDir = f.name, f.raftAddr, ln.Addr().String(), f.dataDir
	cc.InitialCluster, cc.Join, cc.RestoreFrom, cc.SnapshotRetain = peers, f.join, f.restore, f.snapshotRetain
	cc.ServerTLS, cc.ClientTLS = peerServer, peerClient
	cc.HeartbeatTimeout, cc.ElectionTimeout, cc.LeaderLeaseTimeout = f.heartbeat, f.election, f.lease
	cc.SnapshotThreshold, cc.SnapshotInterval, cc.FeedSize = f.snapshotThreshold, f.snapshotInterval, f.feedSize
	cc.FeedBytes, cc.LogCacheBytes = f.feedBytes, f.logCacheBytes
	cc.LogStore = f.raftLogStore
	cc.Logger, cc.Registerer = log, reg
	c, err := cluster.New(cc)
	if err != nil {
		return err
	}
	c.OnLeader("default-namespaces", func(ctx context.Context) { ensureNamespaces(ctx, c, log) })
	c.OnLeader("rbac-defaults", (&rbac.Defaults{Store: c.Store, Proposer: c, Logger: log}).Run)
	recs := newLeaderRecorders(f.events, c, log)
	registerEventMetrics(reg, recs.all())
	for name, rec := range recs.all() {
		c.OnLeader("events-"+name, rec.Run)
	}
	// One pod informer (the pods' index keys, fed by the change feed) serves
	// every controller that reads pods.
	podInformer := sched.NewInformer("pods", nil)
	c.OnLeader("event-ttl", sched.NewEventTTL(sched.EventTTLConfig{Store: c.Store, Proposer: c, Logger: log, TTL: f.events.ttl}).Run)
	c.OnLeader("scheduler", sched.NewScheduler(sched.SchedulerConfig{Store: c.Store, Proposer: c, Logger: log, Recorder: recs.scheduler}).Run)
	psCfg := f.podSecurity
	psCfg.ExemptNamespaces = append([]string{}, splitList(f.podSecurityExempt)...)
	// The replication manager's pods skip the API: it admits them itself.
	rmPodSecurity, err := podsecurity.New(psCfg, podsecurity.StoreOf(c.Store), log.With("controller", "replication"), nil)
	if err != nil {
		c.Shutdown()
		return err
	}
	rm := sched.NewReplicationManager(sched.ReplicationConfig{Store: c.Store, Proposer: c, Logger: log, AdmitPod: rmPodSecurity.AdmitPod,
		Recorder: recs.replication, Pods: podInformer})
	registerReplicationMetrics(reg, rm)
	registerCertificateMetrics(reg, bundle)
	c.OnLeader("replication", rm.Run)
	c.OnLeader("garbagecollector", sched.NewGarbageCollector(sched.GarbageCollectorConfig{Store: c.Store, Proposer: c, Logger: log}).Run)
	c.OnLeader("namespace", sched.NewNamespaceController(sched.NamespaceConfig{Store: c.Store, Proposer: c, Logger: log}).Run)
	c.OnLeader("podgc", sched.NewPodGC(sched.PodGCConfig{Store: c.Store, Proposer: c, Logger: log, Quarantine: f.podGCQuarantine}).Run)
	c.OnLeader("endpoints", sched.NewEndpointsController(sched.EndpointsConfig{Store: c.Store, Proposer: c, Logger: log,
		Pods: podInformer}).Run)
	c.OnLeader("endpointslices", sched.NewEndpointSliceController(sched.EndpointSliceConfig{Store: c.Store, Proposer: c, Logger: log,
		Pods: podInformer}).Run)
	c.OnLeader("node-ipam", sched.NewNodeIPAM(sched.NodeIPAMConfig{Store: c.Store, Proposer: c, ClusterCIDR: f.clusterCIDR,
		MaskSize: f.nodeCIDRMaskSize, Recorder: recs.cidrAllocator, Logger: log}).Run)
	c.OnLeader("root-ca-publisher", sched.NewRootCAPublisher(sched.RootCAConfig{Store: c.Store, Proposer: c, CAPEM: bundle.CAPEM, Logger: log}).Run)
	kubeSvc, err := newKubernetesServiceController(c, f.serviceCIDR, ln.Addr(), log)
	if err != nil {
		c.Shutdown()
		return err
	}
	c.OnLeader("kubernetes-service", kubeSvc.Run)
	c.OnLeader("serviceaccounts", sched.NewServiceAccountsController(sched.ServiceAccountsConfig{Store: c.Store, Proposer: c, Logger: log}).Run)
	c.OnLeader("disruption", sched.NewDisruptionController(sched.DisruptionConfig{Store: c.Store, Proposer: c, Logger: log,
		Pods: podInformer}).Run)
	// The job controller's pods skip the API too.
	jobPodSecurity, err := podsecurity.New(psCfg, podsecurity.StoreOf(c.Store), log.With("controller", "job"), nil)
	if err != nil {
		c.Shutdown()
		return err
	}
	c.OnLeader("job", sched.NewJobController(sched.JobConfig{Store: c.Store, Proposer: c, Logger: log, AdmitPod: jobPodSecurity.AdmitPod,
		Recorder: recs.job, Pods: podInformer}).Run)
	// The stateful set controller's pods skip the API too.
	ssPodSecurity, err := podsecurity.New(psCfg, podsecurity.StoreOf(c.Store), log.With("controller", "statefulset"), nil)
	if err != nil {
		c.Shutdown()
		return err
	}
	c.OnLeader("statefulset", sched.NewStatefulSetController(sched.StatefulSetConfig{Store: c.Store, Proposer: c, Logger: log,
		AdmitPod: ssPodSecurity.AdmitPod, Recorder: recs.statefulSet, Pods: podInformer}).Run)
	c.OnLeader("cronjob", sched.NewCronJobController(sched.CronJobConfig{Store: c.Store, Proposer: c, Logger: log,
		Recorder: recs.cronJob}).Run)
	c.OnLeader("deployment", sched.NewDeploymentController(sched.DeploymentConfig{Store: c.Store, Proposer: c, Logger: log,
		Recorder: recs.deployment, Pods: podInformer}).Run)
	// The daemon set controller's pods skip the API too.
	dsPodSecurity, err := podsecurity.New(psCfg, podsecurity.StoreOf(c.Store), log.With("controller", "daemonset"), nil)
	if err != nil {
		c.Shutdown()
		return err
	}
	c.OnLeader("daemonset", sched.NewDaemonSetController(sched.DaemonSetConfig{Store: c.Store, Proposer: c, Logger: log,
		AdmitPod: dsPodSecurity.AdmitPod, Recorder: recs.daemonSet, Pods: podInformer}).Run)
	var liveness *gossip.Liveness
	var keyring apiserver.Keyring
	lc := sched.NodeLifecycleConfig{Store: c.Store, Proposer: c, Logger: log, Grace: f.nodeGrace, EvictionTimeout: f.nodeEviction,
		Recorder: recs.nodeLifecycle}
	if f.gossipAddr != "" {
		signer, err := gossipSigner(bundle)
		if err != nil {
			c.Shutdown()
			return err
		}
		pool, err := gossip.NewPool(gossip.Config{Name: f.name, BindAddr: f.gossipAddr, Key: bundle.GossipKey,
			KeyringFile: filepath.Join(f.dataDir, gossip.KeyringFileName), Signer: signer, Roots: bundle.CAPool,
			Role: gossip.RoleMaster, APIAddr: "https://" + ln.Addr().String(), Logger: log,
			ProbeInterval: f.gossipProbe, ProbeTimeout: f.gossipTimeout})
		if err != nil {
			c.Shutdown()
			return err
		}
		if err := pool.Start(ctx); err != nil {
			c.Shutdown()
			return err
		}
		defer func() {
			_ = pool.Leave(2 * time.Second)
			_ = pool.Shutdown()
		}()
		if seeds := splitList(f.gossipJoin); len(seeds) > 0 {
			// Other masters may start later: keep trying in the background.
			go func() {
				if n, err := pool.Join(ctx, seeds); err != nil {
					log.Warn("join the gossip pool", "err", err)
				} else {
					log.Info("joined the gossip pool", "contacted", n)
				}
			}()
		}
		// Liveness follows the pool for the master's whole life, so a new
		// leader starts with a warm view.
		liveness = gossip.NewLiveness(pool, log, 2*time.Second)
		lc.Alive = liveness.Alive
		keyring = pool
	}
	c.OnLeader("node-lifecycle", sched.NewNodeLifecycle(lc).Run)
	c.OnLeader("csrapproving", sched.NewCSRApprover(sched.CSRApprovingConfig{Store: c.Store, Proposer: c, Logger: log}).Run)
	c.OnLeader("csrsigning", sched.NewCSRSigner(sched.CSRSigningConfig{Store: c.Store, Proposer: c, Logger: log,
		Signer: loadCSRSigner(f.pkiDir, log), Duration: f.clusterSigningDuration}).Run)
	c.OnLeader("csrcleaner", sched.NewCSRCleaner(sched.CSRCleaningConfig{Store: c.Store, Proposer: c, Logger: log}).Run)

	sc := apiserver.DefaultConfig()
	sc.Addr, sc.TLS = ln.Addr().String(), apiTLS
	sc.LeaseBatchWindow = f.leaseBatchWindow
	sc.AdminToken, sc.AgentCertificate = bundle.AdminToken, bundle.Master.GetClientCertificate
	sc.Authorizers = append(sc.Authorizers, nodeauth.NewAuthorizer(nodeauth.StorePods{Store: c.Store,
		Barrier: func(ctx context.Context) error { _, err := c.ReadBarrier(ctx); return err }}))
	sc.ClientCAs = bundle.CAPool
	sc.Logger, sc.Registry, sc.Version, sc.BuildDate = log, reg, version, buildDate
	sc.Keyring = keyring
	sc.ClusterCIDR, sc.NodeCIDRMaskSize, sc.ServiceCIDR = f.clusterCIDR, f.nodeCIDRMaskSize, f.serviceCIDR
	sc.MaxRequestsInFlight, sc.MaxMutatingRequestsInFlight = f.maxInflight, f.maxMutating
	sc.MaxWatches, sc.MaxWatchesPerClient, sc.MaxConnections = f.maxWatches, f.maxClientWatches, f.maxConns
	sc.PodSecurity = psCfg
	rbacAuthz := rbac.New(c.Store)
	sc.Authorizers = append(sc.Authorizers, rbacAuthz)
	sc.RBAC = rbacAuthz
	sc.Authenticators = append(sc.Authenticators, &bootstrap.Authenticator{Store: c.Store, Barrier: c.ReadBarrier, Logger: log})
	sc.Authorizers = append(sc.Authorizers, bootstrap.InterimAuthorizer{})
	auditLog, auditPolicy, err := f.audit.open(log, reg)
	if err != nil {
		c.Shutdown()
		return err
	}
	if auditLog != nil {
		sc.AuditSink, sc.AuditPolicy = auditLog, auditPolicy
	}
	secretKeys, err := f.encryption.configure(&sc, f.pkiDir, log, reg)
	if err != nil {
		c.Shutdown()
		return err
	}
	if err := f.sa.configure(&sc, f.pkiDir, serviceaccount.OpenedSecrets{StoreGetter: c.Store, Open: secretCodec(secretKeys).Open}); err != nil {
		c.Shutdown()
		return err
	}
	legacyTokens, err := sched.NewLegacyTokensController(sched.LegacyTokensConfig{Store: c.Store, Proposer: c,
		Sign: sc.ServiceAccounts.Signer.IssueLegacy, CAPEM: bundle.CAPEM, Secrets: secretCodec(secretKeys), Logger: log})
	if err != nil {
		c.Shutdown()
		return err
	}
	c.OnLeader("legacy-tokens", legacyTokens.Run)
	if err := f.abac.configure(&sc); err != nil {
		c.Shutdown()
		return err
	}
	if err := f.tokenFile.configure(&sc); err != nil {
		c.Shutdown()
		return err
	}
	api, err := apiserver.New(sc, c)
	if err != nil {
		c.Shutdown()
		return err
	}
	// The audit log outlives the API server, so that the events of the
	// last requests are written before the master exits.
	auditCtx, stopAudit := context.WithCancel(context.Background())
	auditDone := make(chan struct{})
	go func() {
		defer close(auditDone)
		if auditLog != nil {
			auditLog.Run(auditCtx)
		}
	}()
	defer func() { stopAudit(); <-auditDone }()

	if f.signals {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		defer stop()
	}
	runCtx, cancelRun := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.Run(runCtx) }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		pki.WarnExpiring(runCtx, log, bundle, pki.ExpiryWarnWithin, pki.ExpiryWarnEvery)
	}()
	if secretKeys != nil && f.encryption.reload > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); secretKeys.Run(runCtx, f.encryption.reload) }()
	}
	if liveness != nil {
		wg.Add(1)
		go func() { defer wg.Done(); liveness.Run(runCtx) }()
	}
	apiErr := make(chan error, 1)
	go func() { defer wg.Done(); apiErr <- api.Serve(runCtx, ln) }()
	log.Info("master started", "api", ln.Addr().String(), "raft", f.raftAddr, "data", f.dataDir)

	select {
	case <-ctx.Done():
		log.Info("stopping")
	case err = <-apiErr:
		log.Error("api server stopped", "err", err)
	}
	if c.IsLeader() {
		start := time.Now()
		if terr := c.TransferLeadership(); terr != nil {
			log.Warn("leadership transfer before stop failed", "err", terr)
		} else {
			log.Info("leadership transferred", "took", time.Since(start))
		}
	}
	cancelRun()
	wg.Wait()
	if serr := c.Shutdown(); serr != nil && !errors.Is(serr, context.Canceled) {
		log.Warn("raft shutdown", "err", serr)
	}
	log.Info("stopped")
	return err
}

// ensureNamespaces creates the default namespace and kube-node-lease (the
// nodes' heartbeat leases) once a leader is established.
func ensureNamespaces(ctx context.Context, c *cluster.Cluster, log interface{ Warn(string, ...any) }) {
	for _, name := range []string{v1.DefaultNamespace, v1.NodeLeaseNamespace} {
		for {
			if _, err := c.Store().Get("namespaces", "", name); err == nil {
				break
			}
			ns := &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: name, UID: uuid.NewString(),
				CreationTimestamp: v1.NewTime(time.Now())}}
			v1.Default(ns)
			cmd, err := fsm.NewCreate(ns)
			if err != nil {
				log.Warn("encode namespace", "err", err)
				return
			}
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err = c.Apply(actx, cmd)
			cancel()
			if err == nil || v1.IsAlreadyExists(err) {
				break
			}
			log.Warn("create namespace", "namespace", name, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// loadCSRSigner returns the signer of certificate signing requests:
// signer.crt and signer.key of the PKI directory when present (an
// intermediate CA, `orchd pki issue signer`; its certificate is appended to
// each issued one), else the cluster CA; nil when this master has neither
// key (it then does not sign).
func loadCSRSigner(dir string, log *slog.Logger) sched.Signer {
	if ca, err := pki.LoadCA(filepath.Join(dir, "signer.crt"), filepath.Join(dir, "signer.key")); err == nil {
		return sched.CASigner{CA: ca, Chain: ca.CertPEM}
	} else if !errors.Is(err, os.ErrNotExist) {
		log.Warn("signer.crt/signer.key unusable; signing with the cluster CA", "err", err)
	}
	ca, err := pki.LoadClusterCA(dir)
	if err != nil {
		log.Debug("no CA key", "err", err) // the signer says so once when it would start
		return nil
	}
	return sched.CASigner{CA: ca}
}
