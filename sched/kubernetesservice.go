package sched

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// The kubernetes Service, as Kubernetes' controlplane bootstrap controller
// names it.
const (
	// KubernetesServiceName is the Service in front of the masters' API.
	KubernetesServiceName = "kubernetes"
	// KubernetesServiceNamespace holds it.
	KubernetesServiceNamespace = v1.DefaultNamespace
	// KubernetesServicePort is its port, named KubernetesServicePortName.
	KubernetesServicePort     = 443
	KubernetesServicePortName = "https"
	// LabelSkipMirror keeps an endpoint slice mirroring controller away
	// from the Endpoints (Kubernetes' endpointslice.kubernetes.io/skip-mirror).
	LabelSkipMirror = "endpointslice.kubernetes.io/skip-mirror"
)

// KubernetesServiceLabels are the labels of the kubernetes Service.
func KubernetesServiceLabels() map[string]string {
	return map[string]string{"component": "apiserver", "provider": "kubernetes"}
}

// DefaultKubernetesServiceResync is how often the leader compares the
// kubernetes Service's endpoints with the Raft configuration (membership
// changes do not reach the change feed).
const DefaultKubernetesServiceResync = time.Second

// DefaultKubernetesServiceProbeGrace is how long a master's API may refuse
// connections before it leaves the kubernetes endpoints.
const DefaultKubernetesServiceProbeGrace = 5 * time.Second

// kubernetesServiceProbeTimeout bounds one probe.
const kubernetesServiceProbeTimeout = time.Second

// FirstServiceIP is the first address of an IPv4 service CIDR, the
// kubernetes Service's ClusterIP (10.96.0.1 for 10.96.0.0/16).
func FirstServiceIP(serviceCIDR string) (string, error) {
	_, cidr, err := net.ParseCIDR(serviceCIDR)
	if err != nil || cidr.IP.To4() == nil {
		return "", fmt.Errorf("service CIDR %q is not an IPv4 CIDR", serviceCIDR)
	}
	if ones, bits := cidr.Mask.Size(); bits-ones < 2 {
		return "", fmt.Errorf("service CIDR %s is too small", serviceCIDR)
	}
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, binary.BigEndian.Uint32(cidr.IP.To4())+1)
	return ip.String(), nil
}

// KubernetesServiceConfig configures the kubernetes Service controller.
type KubernetesServiceConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the writes.
	Proposer Proposer
	// Masters returns the API addresses (host:port) of the masters of the
	// current Raft configuration.
	Masters func() ([]string, error)
	// ServiceCIDR is the service network; the Service's ClusterIP is its
	// first address.
	ServiceCIDR string
	// APIPort is the masters' API port, the Service's target port (each
	// master serves the API on it, as Kubernetes' apiservers share one).
	APIPort int32
	// Probe, if set, checks that a master's API accepts connections at
	// addr; a master whose probes have failed for ProbeGrace leaves the
	// endpoints until one succeeds (Kubernetes drops an apiserver whose
	// lease expires). Nil: every master of the configuration is in.
	Probe func(ctx context.Context, addr string) error
	// ProbeGrace is how long a master's probes may fail before it leaves
	// the endpoints (default DefaultKubernetesServiceProbeGrace).
	ProbeGrace time.Duration
	// Resync is how often the endpoints are compared with Masters without
	// a change (default DefaultKubernetesServiceResync).
	Resync time.Duration
	// Logger receives the controller's logs.
	Logger *slog.Logger
	// Now is the clock of creationTimestamps (default time.Now).
	Now func() time.Time
}

// KubernetesServiceController keeps, while this master leads, the
// Service default/kubernetes (ClusterIP the first address of the service
// CIDR, port https 443 to the API port, no selector), as Kubernetes'
// bootstrap controller: made when missing, made again when deleted, its
// type, ports, selector and labels put back when changed. It keeps its
// Endpoints and EndpointSlice "kubernetes" too, as Kubernetes' endpoint
// reconciler: one ready address per master of the Raft configuration that
// serves the API on a routable IPv4 address and the API port, and whose
// API has answered a probe within ProbeGrace (as Kubernetes drops an
// apiserver whose lease expired). The endpoints controllers leave a
// selectorless Service alone.
type KubernetesServiceController struct {
	cfg       KubernetesServiceConfig
	serviceIP string
	skipped   string // masters left out at the last pass, logged on change
	refused   string // writes refused at the last pass, logged on change
	// lastAnswer is when each master's API last answered a probe (or was
	// first seen); only Run's goroutine (or a test's) touches it.
	lastAnswer map[string]time.Time
}

// NewKubernetesServiceController returns the controller; Run starts it.
func NewKubernetesServiceController(cfg KubernetesServiceConfig) (*KubernetesServiceController, error) {
	ip, err := FirstServiceIP(cfg.ServiceCIDR)
	if err != nil {
		return nil, fmt.Errorf("kubernetes service: %w", err)
	}
	if cfg.APIPort <= 0 || cfg.APIPort > 65535 {
		return nil, fmt.Errorf("kubernetes service: API port %d is out of range", cfg.APIPort)
	}
	if cfg.Masters == nil {
		return nil, fmt.Errorf("kubernetes service: no source of the masters' addresses")
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultKubernetesServiceResync
	}
	if cfg.ProbeGrace <= 0 {
		cfg.ProbeGrace = DefaultKubernetesServiceProbeGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "kubernetes-service")
	return &KubernetesServiceController{cfg: cfg, serviceIP: ip, lastAnswer: map[string]time.Time{}}, nil
}

// ServiceIP is the Service's ClusterIP.
func (c *KubernetesServiceController) ServiceIP() string { return c.serviceIP }

// Run reconciles until ctx ends: at start, when the Service, its
// Endpoints or its EndpointSlice change, and every Resync (which notices
// masters joining and leaving).
func (c *KubernetesServiceController) Run(ctx context.Context) {
	clear(c.lastAnswer) // a new term starts with every master in
	runOnChanges(ctx, c.cfg.Store, follows{"services", "endpoints", "endpointslices", "namespaces"}, c.cfg.Resync, c.cfg.Logger, func(ctx context.Context, s *fsm.Store, ch changes) error {
		if !ch.full && !slices.ContainsFunc(ch.events, isKubernetesServiceEvent) {
			return nil
		}
		return c.Pass(ctx, s)
	})
}

// isKubernetesServiceEvent: the Service, its Endpoints or a slice of it,
// or its namespace (made by the leader at start, maybe after the first pass).
func isKubernetesServiceEvent(e fsm.Event) bool {
	if e.Record == nil {
		return false
	}
	switch e.Resource {
	case "services", "endpoints", "endpointslices":
		return e.Record.Key() == v1.Key(KubernetesServiceNamespace, KubernetesServiceName)
	case "namespaces":
		return e.Record.Key() == v1.Key("", KubernetesServiceNamespace)
	}
	return false
}

// Pass writes, in one batch, what the Service, its Endpoints and its
// EndpointSlice lack. Updates carry the resourceVersion they read, so a
// concurrent edit makes them fail and the next pass retry.
func (c *KubernetesServiceController) Pass(ctx context.Context, store *fsm.Store) error {
	if _, err := store.Get("namespaces", "", KubernetesServiceNamespace); err != nil {
		if v1.IsNotFound(err) {
			return nil // made by the leader at start; the next pass sees it
		}
		return fmt.Errorf("look up namespace %s: %w", KubernetesServiceNamespace, err)
	}
	addrs, err := c.cfg.Masters()
	if err != nil {
		return fmt.Errorf("read the masters' addresses: %w", err)
	}
	addrs, silent := c.answering(ctx, addrs)
	ips, skipped := c.endpointIPs(addrs)
	skipped = append(skipped, silent...)
	if s := fmt.Sprint(skipped); s != c.skipped {
		c.skipped = s
		if len(skipped) > 0 {
			c.cfg.Logger.Warn("masters left out of the kubernetes endpoints: their API address is not a routable IPv4 address on the API port, or their API has not answered",
				"masters", skipped, "port", c.cfg.APIPort)
		}
	}
	now := v1.NewTime(c.cfg.Now())
	var cmds [][]byte
	for _, write := range []func(*fsm.Store, []string, v1.Time) ([]byte, error){c.serviceWrite, c.endpointsWrite, c.sliceWrite} {
		cmd, err := write(store, ips, now)
		if err != nil {
			return err
		}
		if cmd != nil {
			cmds = append(cmds, cmd)
		}
	}
	if len(cmds) == 0 {
		return nil
	}
	items := make([]fsm.BatchItem, len(cmds))
	for i, cmd := range cmds {
		items[i] = batchItem(cmd)
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return err
	}
	res, err := c.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return fmt.Errorf("write the kubernetes service: %w", err)
	}
	results, _ := res.(fsm.BatchResult)
	var refused []string
	for _, r := range results {
		// Written meanwhile: the next pass sees it.
		if r.Err != nil && !v1.IsAlreadyExists(r.Err) && !v1.IsConflict(r.Err) && !v1.IsNotFound(r.Err) {
			refused = append(refused, r.Err.Error())
		}
	}
	// A refusal that stays (the ClusterIP taken by another service) is
	// retried every pass but logged once.
	if s := strings.Join(refused, "; "); s != c.refused {
		c.refused = s
		if s != "" {
			c.cfg.Logger.Warn("kubernetes service write refused; retrying every pass", "err", s)
		}
	}
	c.cfg.Logger.Debug("kubernetes service reconciled", "writes", len(items), "endpoints", ips)
	return nil
}

// answering probes every master (at once) and returns the addresses of
// those whose API answered within ProbeGrace, and the others.
func (c *KubernetesServiceController) answering(ctx context.Context, addrs []string) (ok, silent []string) {
	if c.cfg.Probe == nil {
		return addrs, nil
	}
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, kubernetesServiceProbeTimeout)
			defer cancel()
			errs[i] = c.cfg.Probe(pctx, a)
		}()
	}
	wg.Wait()
	now := c.cfg.Now()
	seen := make(map[string]bool, len(addrs))
	for i, a := range addrs {
		seen[a] = true
		if last, known := c.lastAnswer[a]; errs[i] == nil || !known {
			c.lastAnswer[a] = now
		} else if now.Sub(last) >= c.cfg.ProbeGrace {
			silent = append(silent, a)
			continue
		}
		ok = append(ok, a)
	}
	for a := range c.lastAnswer {
		if !seen[a] {
			delete(c.lastAnswer, a)
		}
	}
	return ok, silent
}

// endpointIPs are the sorted, distinct IPs of the masters' API addresses
// that pods can reach on the API port; skipped are the others.
func (c *KubernetesServiceController) endpointIPs(addrs []string) (ips, skipped []string) {
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			skipped = append(skipped, a)
			continue
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is4() || ip.IsLoopback() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() || ip.IsMulticast() ||
			port != strconv.Itoa(int(c.cfg.APIPort)) {
			skipped = append(skipped, a)
			continue
		}
		if !slices.Contains(ips, ip.String()) {
			ips = append(ips, ip.String())
		}
	}
	slices.SortFunc(ips, func(a, b string) int { return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b)) })
	return ips, skipped
}

// servicePorts are the Service's ports.
func (c *KubernetesServiceController) servicePorts() []v1.ServicePort {
	return []v1.ServicePort{{Name: KubernetesServicePortName, Protocol: v1.ProtocolTCP, Port: KubernetesServicePort,
		TargetPort: v1.IntOrString{IntVal: c.cfg.APIPort}}}
}

// serviceWrite creates the Service, or puts back its type, ports,
// selector and labels; nil when it is right.
func (c *KubernetesServiceController) serviceWrite(store *fsm.Store, _ []string, now v1.Time) ([]byte, error) {
	rec, err := store.Get("services", KubernetesServiceNamespace, KubernetesServiceName)
	if v1.IsNotFound(err) {
		svc := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: KubernetesServiceName, Namespace: KubernetesServiceNamespace,
			UID: uuid.NewString(), CreationTimestamp: now, Labels: KubernetesServiceLabels()},
			Spec: v1.ServiceSpec{Type: v1.ServiceTypeClusterIP, Ports: c.servicePorts(), ClusterIP: c.serviceIP,
				SessionAffinity: v1.AffinityNone}}
		v1.Default(svc)
		return fsm.NewCreateService(svc, c.cfg.ServiceCIDR)
	}
	if err != nil {
		return nil, fmt.Errorf("look up the kubernetes service: %w", err)
	}
	cur, ok := rec.Object().(*v1.Service)
	if !ok {
		return nil, fmt.Errorf("services %s holds a %T", rec.Key(), rec.Object())
	}
	if cur.Spec.ClusterIP != c.serviceIP {
		c.cfg.Logger.Warn("the kubernetes service has another ClusterIP than the first of the service CIDR; delete it to have it made again",
			"clusterIP", cur.Spec.ClusterIP, "want", c.serviceIP)
	}
	labelsRight := true
	for k, v := range KubernetesServiceLabels() {
		labelsRight = labelsRight && cur.Labels[k] == v
	}
	if cur.Spec.Type == v1.ServiceTypeClusterIP && slices.Equal(cur.Spec.Ports, c.servicePorts()) && len(cur.Spec.Selector) == 0 && labelsRight {
		return nil, nil
	}
	next := v1.DeepCopy(cur) // keeps the resourceVersion: a compare-and-swap
	next.Spec.Type, next.Spec.Ports, next.Spec.Selector = v1.ServiceTypeClusterIP, c.servicePorts(), nil
	next.Labels = maps.Clone(cur.Labels)
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	maps.Copy(next.Labels, KubernetesServiceLabels())
	c.cfg.Logger.Warn("resetting the kubernetes service", "type", cur.Spec.Type, "ports", cur.Spec.Ports, "selector", cur.Spec.Selector)
	return fsm.NewUpdate(next, false)
}

// endpointsWrite creates or updates the Endpoints: one subset of every
// IP on the API port, labelled so that no mirroring happens.
func (c *KubernetesServiceController) endpointsWrite(store *fsm.Store, ips []string, now v1.Time) ([]byte, error) {
	var subsets []v1.EndpointSubset
	if len(ips) > 0 {
		s := v1.EndpointSubset{Ports: []v1.EndpointPort{{Name: KubernetesServicePortName, Port: c.cfg.APIPort, Protocol: v1.ProtocolTCP}}}
		for _, ip := range ips {
			s.Addresses = append(s.Addresses, v1.EndpointAddress{IP: ip})
		}
		subsets = []v1.EndpointSubset{s}
	}
	labels := map[string]string{LabelSkipMirror: "true"}
	rec, err := store.Get("endpoints", KubernetesServiceNamespace, KubernetesServiceName)
	if v1.IsNotFound(err) {
		ep := &v1.Endpoints{ObjectMeta: v1.ObjectMeta{Name: KubernetesServiceName, Namespace: KubernetesServiceNamespace,
			UID: uuid.NewString(), CreationTimestamp: now, Labels: labels}, Subsets: subsets}
		v1.Default(ep)
		return fsm.NewCreate(ep)
	}
	if err != nil {
		return nil, fmt.Errorf("look up the kubernetes endpoints: %w", err)
	}
	cur, ok := rec.Object().(*v1.Endpoints)
	if !ok {
		return nil, fmt.Errorf("endpoints %s holds a %T", rec.Key(), rec.Object())
	}
	if subsetsEqual(cur.Subsets, subsets) && maps.Equal(cur.Labels, labels) {
		return nil, nil
	}
	next := v1.DeepCopy(cur)
	next.Subsets, next.Labels = subsets, labels
	return fsm.NewUpdate(next, false)
}

// sliceWrite creates or updates the EndpointSlice "kubernetes": one ready
// endpoint per IP and the API port.
func (c *KubernetesServiceController) sliceWrite(store *fsm.Store, ips []string, now v1.Time) ([]byte, error) {
	endpoints := make([]v1.Endpoint, 0, len(ips))
	for _, ip := range ips {
		endpoints = append(endpoints, v1.Endpoint{Addresses: []string{ip}, Conditions: v1.EndpointConditions{Ready: valuePtr(true)}})
	}
	ports := []v1.EndpointSlicePort{{Name: valuePtr(KubernetesServicePortName), Protocol: valuePtr(v1.ProtocolTCP), Port: valuePtr(c.cfg.APIPort)}}
	labels := map[string]string{v1.LabelServiceName: KubernetesServiceName}
	rec, err := store.Get("endpointslices", KubernetesServiceNamespace, KubernetesServiceName)
	if v1.IsNotFound(err) {
		s := &v1.EndpointSlice{ObjectMeta: v1.ObjectMeta{Name: KubernetesServiceName, Namespace: KubernetesServiceNamespace,
			UID: uuid.NewString(), CreationTimestamp: now, Labels: labels}, AddressType: v1.AddressTypeIPv4,
			Endpoints: endpoints, Ports: ports}
		v1.Default(s)
		return fsm.NewCreate(s)
	}
	if err != nil {
		return nil, fmt.Errorf("look up the kubernetes endpoint slice: %w", err)
	}
	cur, ok := rec.Object().(*v1.EndpointSlice)
	if !ok {
		return nil, fmt.Errorf("endpointslices %s holds a %T", rec.Key(), rec.Object())
	}
	if cur.AddressType != v1.AddressTypeIPv4 {
		// The type cannot change: delete it, the next pass makes it again.
		return fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "endpointslices", Namespace: cur.Namespace,
			Name: cur.Name, UID: cur.UID, ResourceVersion: cur.ResourceVersion, Now: now})
	}
	if reflect.DeepEqual(cur.Endpoints, endpoints) && reflect.DeepEqual(cur.Ports, ports) && maps.Equal(cur.Labels, labels) {
		return nil, nil
	}
	next := v1.DeepCopy(cur)
	next.Endpoints, next.Ports, next.Labels = endpoints, ports, labels
	return fsm.NewUpdate(next, false)
}

func valuePtr[T any](v T) *T { return &v }
