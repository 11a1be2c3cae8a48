package sched

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// EndpointSliceManagedBy is the endpointslice.kubernetes.io/managed-by
// value of the slices the controller keeps (Kubernetes' controller's).
const EndpointSliceManagedBy = "endpointslice-controller.k8s.io"

// MaxEndpointsPerSlice is how many endpoints the controller puts in one
// slice (kube-controller-manager's --max-endpoints-per-slice default).
const MaxEndpointsPerSlice = 100

// EndpointSliceConfig configures the endpoint slice controller.
type EndpointSliceConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the slice writes.
	Proposer Proposer
	// Logger receives the loop's logs.
	Logger *slog.Logger
	// Resync is the longest pause between full passes (default 10 min: a
	// safety net, every change that matters dirties its service).
	Resync time.Duration
	// MaxEndpointsPerSlice is the most endpoints in a slice (default 100).
	MaxEndpointsPerSlice int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Pods is the leader's shared pod informer (nil: the controller's own).
	Pods *Informer
}

// EndpointSliceController keeps the discovery.k8s.io/v1 EndpointSlices of
// every selector service in step with its pods, from the same source as
// the Endpoints (the services and pods of the store), while this master
// leads. As Kubernetes' controller it writes incrementally: an endpoint
// that changes is rewritten in the slice that holds it, new endpoints fill
// the slices that have room before a new slice is made, and a slice whose
// endpoints did not change is not written.
type EndpointSliceController struct {
	cfg  EndpointSliceConfig
	pods *Informer
	// slices finds a service's slices by their service-name label.
	slices *Informer
	retry  retrySet
}

// NewEndpointSliceController returns the controller; Run starts it.
func NewEndpointSliceController(cfg EndpointSliceConfig) *EndpointSliceController {
	if cfg.Resync == 0 {
		cfg.Resync = serviceResync
	}
	if cfg.MaxEndpointsPerSlice <= 0 {
		cfg.MaxEndpointsPerSlice = MaxEndpointsPerSlice
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "endpointslices")
	return &EndpointSliceController{cfg: cfg, pods: informerOr(cfg.Pods, "pods"), slices: NewInformer("endpointslices", nil)}
}

// Run reconciles until ctx ends: a pass over the services the changes
// concern whenever services, pods or slices change (many changes collapse
// into one pass), a full pass at start, after the store is replaced and at
// least every Resync, and a retry soon after writes that failed.
func (c *EndpointSliceController) Run(ctx context.Context) {
	runOnChangesWake(ctx, c.cfg.Store, follows{"services", "endpointslices", "pods"}, c.cfg.Resync, c.retry.wake, c.cfg.Logger, c.pass)
}

// pass runs one pass of the loop. Cost per event: a pod's event reads the
// services of its namespace (O(services in the namespace)); each service
// it dirties (one whose selector matched the pod before or after), and
// each service or managed slice event's service, costs a get, a read of
// its slices through the slice informer and of its pods through the pod
// informer (O(pods of the service)). A full pass does so for every service
// and managed slice's service: it reads every service and slice, and the
// pods of the selector services. The slices carry no node topology, so node events
// concern none.
func (c *EndpointSliceController) pass(ctx context.Context, store *fsm.Store, ch changes) error {
	again, all := c.retry.take()
	if ch.full || all {
		_, err := c.Pass(ctx, store)
		return err
	}
	keys, err := servicesDirtiedBy(store, ch.events, "endpointslices", sliceService)
	if err != nil {
		c.retry.all = true
		return err
	}
	_, err = c.Sync(ctx, store, mergeKeys(keys, again))
	return err
}

// sliceService returns the key of the service a managed slice is of.
func sliceService(r *fsm.Record) []string {
	m := &r.Summary().Meta
	if m.Labels[v1.LabelManagedBy] != EndpointSliceManagedBy || m.Labels[v1.LabelServiceName] == "" {
		return nil
	}
	return []string{v1.Key(m.Namespace, m.Labels[v1.LabelServiceName])}
}

// Sync reconciles the slices of the services of keys ("<ns>/<name>")
// once, committing all writes in one batch entry, as Pass does for every
// service: the service's slices and pods are read through informers. It
// returns the number of writes that succeeded.
func (c *EndpointSliceController) Sync(ctx context.Context, store *fsm.Store, keys []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	if err := c.pods.Sync(store); err != nil {
		return 0, c.failAll(err)
	}
	if err := c.slices.Sync(store); err != nil {
		return 0, c.failAll(err)
	}
	now := v1.NewTime(c.cfg.Now())
	var w sliceWrites
	for _, key := range keys {
		svc, err := getService(store, key)
		if err != nil {
			return 0, c.failAll(err)
		}
		ns, name, _ := strings.Cut(key, "/")
		recs, err := c.slices.Select(store, ns, labels.SelectorFromSet(labels.Set{
			v1.LabelServiceName: name, v1.LabelManagedBy: EndpointSliceManagedBy}))
		if err != nil {
			return 0, c.failAll(fmt.Errorf("slices of service %s: %w", key, err))
		}
		existing := make([]*v1.EndpointSlice, len(recs))
		for i, r := range recs {
			existing[i] = r.Object().(*v1.EndpointSlice)
		}
		w.key = key
		if svc == nil || len(svc.Spec.Selector) == 0 {
			// Gone, or not a selector service: the slices are written by hand.
			w.deleteAll(existing, now)
			continue
		}
		pods, err := servicePods(store, c.pods, svc)
		if err != nil {
			return 0, c.failAll(err)
		}
		c.reconcile(&w, svc, DesiredEndpoints(svc, pods), existing, now)
	}
	return c.commit(ctx, &w)
}

// Pass reconciles every service's slices once, committing all writes in
// one batch entry; items that fail (a conflict with a concurrent write)
// are retried by a later pass. It returns the number of writes that
// succeeded. It is Sync of every service and of every managed slice's
// service (whose slices are deleted when it is gone): the pods are read
// per service through the pod informer, as EndpointsController.Pass
// reads them, never every pod at once.
func (c *EndpointSliceController) Pass(ctx context.Context, store *fsm.Store) (int, error) {
	keys, err := serviceKeys(store, "endpointslices", sliceService)
	if err != nil {
		return 0, c.failAll(err)
	}
	return c.Sync(ctx, store, keys)
}

// failAll marks every service for a retry when err is set, and returns err.
func (c *EndpointSliceController) failAll(err error) error {
	if err != nil {
		c.retry.all = true
	}
	return err
}

// commit proposes w's writes as one batch entry and marks the services of
// the writes that failed for a retry. It returns the writes that succeeded.
func (c *EndpointSliceController) commit(ctx context.Context, w *sliceWrites) (int, error) {
	if w.err != nil {
		return 0, c.failAll(w.err)
	}
	if len(w.items) == 0 {
		return 0, nil
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: w.items})
	if err != nil {
		return 0, c.failAll(err)
	}
	res, err := c.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		for _, k := range w.keys {
			c.retry.add(k)
		}
		return 0, err
	}
	done := 0
	results, _ := res.(fsm.BatchResult)
	for i, r := range results {
		if r.Err != nil && i < len(w.keys) {
			c.cfg.Logger.Debug("endpoint slice write failed; a later pass retries", "service", w.keys[i], "err", r.Err)
			c.retry.add(w.keys[i])
			continue
		}
		done++
	}
	if len(results) != len(w.items) {
		return done, c.failAll(fmt.Errorf("endpoint slice batch: %d results for %d writes", len(results), len(w.items)))
	}
	return done, nil
}

// sliceWrites collects a pass's writes and the service each is for.
type sliceWrites struct {
	items []fsm.BatchItem
	keys  []string
	// key is the service the writes being added are for.
	key string
	err error
}

func (w *sliceWrites) add(body []byte, err error) {
	if err != nil {
		w.err = err
		return
	}
	w.items = append(w.items, fsm.BatchItem{Type: fsm.CommandType(body[0]), Body: body[1:]})
	w.keys = append(w.keys, w.key)
}

func (w *sliceWrites) deleteAll(slices []*v1.EndpointSlice, now v1.Time) {
	for _, s := range slices {
		w.add(fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "endpointslices", Namespace: s.Namespace,
			Name: s.Name, UID: s.UID, ResourceVersion: s.ResourceVersion, Now: now}))
	}
}

// DesiredEndpoint is one endpoint of a service, with the ports it serves.
type DesiredEndpoint struct {
	// Endpoint is the slice entry.
	Endpoint v1.Endpoint
	// Ports are the slice ports the endpoint serves; PortsKey encodes them.
	Ports    []v1.EndpointSlicePort
	PortsKey string
}

// DesiredEndpoints returns a selector service's endpoints, sorted by pod
// name: the pods of its namespace that its selector matches, have an IPv4
// address and are not finished, each with the service ports it resolves.
// Unlike the Endpoints, terminating pods are kept, with
// terminating=true and ready=false (serving says whether they are still
// ready), as Kubernetes' slices.
func DesiredEndpoints(svc *v1.Service, pods []*v1.Pod) []DesiredEndpoint {
	sel := v1.SelectorFromMap(svc.Spec.Selector)
	var out []DesiredEndpoint
	for _, p := range pods {
		ip := podIP(p)
		if p.Namespace != svc.Namespace || ip == "" || v1.IsSpecialIP(ip) || p.Terminal() || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		if a, err := netip.ParseAddr(ip); err != nil || !a.Is4() {
			continue // the slices are IPv4
		}
		ports := make([]v1.EndpointSlicePort, 0, len(svc.Spec.Ports))
		for _, sp := range svc.Spec.Ports {
			n, ok := resolveTargetPort(p, sp)
			if !ok {
				continue
			}
			name, proto := sp.Name, protocolOf(sp.Protocol)
			ports = append(ports, v1.EndpointSlicePort{Name: &name, Port: &n, Protocol: &proto, AppProtocol: sp.AppProtocol})
		}
		if len(svc.Spec.Ports) > 0 && len(ports) == 0 {
			continue // serves none of the service's ports
		}
		// As Kubernetes' podToEndpoint: serving is the pod's readiness;
		// ready is that and not terminating, or always with
		// publishNotReadyAddresses.
		terminating := p.DeletionTimestamp != nil
		serving := p.IsReady()
		ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
		ep := v1.Endpoint{Addresses: []string{ip},
			Conditions: v1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
			TargetRef:  &v1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}}
		if p.Spec.NodeName != "" {
			node := p.Spec.NodeName
			ep.NodeName = &node
		}
		if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name {
			h := p.Spec.Hostname
			ep.Hostname = &h
		}
		out = append(out, DesiredEndpoint{Endpoint: ep, Ports: ports, PortsKey: portsKey(ports)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Endpoint.TargetRef.Name < out[j].Endpoint.TargetRef.Name })
	return out
}

func portsKey(ports []v1.EndpointSlicePort) string {
	b, _ := json.Marshal(ports)
	return string(b)
}

// endpointKey identifies an endpoint across passes: its pod.
func endpointKey(e *v1.Endpoint) string {
	if e.TargetRef != nil {
		return e.TargetRef.Namespace + "/" + e.TargetRef.Name + "/" + e.TargetRef.UID
	}
	if len(e.Addresses) > 0 {
		return "ip/" + e.Addresses[0]
	}
	return ""
}

// reconcile adds to w the writes that bring one service's slices to its
// desired endpoints, touching as few slices as it can.
func (c *EndpointSliceController) reconcile(w *sliceWrites, svc *v1.Service, desired []DesiredEndpoint, existing []*v1.EndpointSlice, now v1.Time) {
	// Slices of another service of that name (deleted and made again)
	// or of another address type are replaced.
	var mine []*v1.EndpointSlice
	for _, s := range existing {
		if ownedBy(s, svc) && s.AddressType == v1.AddressTypeIPv4 {
			mine = append(mine, s)
		} else {
			w.deleteAll([]*v1.EndpointSlice{s}, now)
		}
	}
	if len(desired) == 0 {
		c.placeholder(w, svc, mine, now)
		return
	}
	// Desired endpoints by ports key, then by endpoint key.
	want := map[string]map[string]v1.Endpoint{}
	portsOf := map[string][]v1.EndpointSlicePort{}
	var keys []string
	for _, d := range desired {
		if want[d.PortsKey] == nil {
			want[d.PortsKey] = map[string]v1.Endpoint{}
			portsOf[d.PortsKey] = d.Ports
			keys = append(keys, d.PortsKey)
		}
		want[d.PortsKey][endpointKey(&d.Endpoint)] = d.Endpoint
	}
	sort.Strings(keys)
	bySet := map[string][]*v1.EndpointSlice{}
	for _, s := range mine {
		k := portsKey(s.Ports)
		if want[k] == nil || len(s.Endpoints) == 0 {
			w.deleteAll([]*v1.EndpointSlice{s}, now) // ports no longer served, or a placeholder
			continue
		}
		bySet[k] = append(bySet[k], s)
	}
	for _, k := range keys {
		c.reconcilePortSet(w, svc, portsOf[k], want[k], bySet[k], now)
	}
}

// reconcilePortSet handles the slices of one port set: it keeps each
// existing endpoint where it is (updated if it changed), removes the gone
// ones, fills the room of the slices being written anyway, then of the
// others, then makes new slices; slices left empty are deleted.
func (c *EndpointSliceController) reconcilePortSet(w *sliceWrites, svc *v1.Service, ports []v1.EndpointSlicePort,
	want map[string]v1.Endpoint, slices []*v1.EndpointSlice, now v1.Time) {
	sort.Slice(slices, func(i, j int) bool { return slices[i].Name < slices[j].Name })
	type work struct {
		s       *v1.EndpointSlice
		eps     []v1.Endpoint
		changed bool
	}
	placed := map[string]bool{}
	var all []*work
	for _, s := range slices {
		wk := &work{s: s}
		for _, e := range s.Endpoints {
			k := endpointKey(&e)
			d, ok := want[k]
			if !ok || placed[k] {
				wk.changed = true // gone, or a duplicate
				continue
			}
			placed[k] = true
			if !v1.JSONEqual(d, e) {
				wk.changed = true
			}
			wk.eps = append(wk.eps, d)
		}
		if !v1.JSONEqual(s.Labels, sliceLabels(svc)) {
			wk.changed = true
		}
		all = append(all, wk)
	}
	var fresh []string
	for k := range want {
		if !placed[k] {
			fresh = append(fresh, k)
		}
	}
	sort.Strings(fresh)
	limit := c.cfg.MaxEndpointsPerSlice
	fill := func(wk *work) {
		for len(fresh) > 0 && len(wk.eps) < limit {
			wk.eps = append(wk.eps, want[fresh[0]])
			fresh = fresh[1:]
			wk.changed = true
		}
	}
	// Slices written anyway first, then the fullest of the rest (fewer
	// slices), as Kubernetes' reconciler.
	for _, wk := range all {
		if wk.changed && len(wk.eps) > 0 {
			fill(wk)
		}
	}
	rest := append([]*work(nil), all...)
	sort.SliceStable(rest, func(i, j int) bool { return len(rest[i].eps) > len(rest[j].eps) })
	for _, wk := range rest {
		if !wk.changed && len(wk.eps) < limit {
			fill(wk)
		}
	}
	for _, wk := range all {
		switch {
		case len(wk.eps) == 0:
			w.deleteAll([]*v1.EndpointSlice{wk.s}, now)
		case wk.changed:
			q := v1.DeepCopy(wk.s) // keeps the resourceVersion: a compare-and-swap
			q.Endpoints = wk.eps
			q.Ports = ports
			q.Labels = sliceLabels(svc)
			w.add(fsm.NewUpdate(q, false))
		}
	}
	for len(fresh) > 0 {
		n := min(len(fresh), limit)
		eps := make([]v1.Endpoint, 0, n)
		for _, k := range fresh[:n] {
			eps = append(eps, want[k])
		}
		fresh = fresh[n:]
		w.add(fsm.NewCreate(c.newSlice(svc, eps, ports, now)))
	}
}

// placeholder keeps exactly one empty slice for a service without
// endpoints, as Kubernetes does.
func (c *EndpointSliceController) placeholder(w *sliceWrites, svc *v1.Service, mine []*v1.EndpointSlice, now v1.Time) {
	kept := false
	for _, s := range mine {
		if !kept && len(s.Endpoints) == 0 && len(s.Ports) == 0 {
			kept = true
			if !v1.JSONEqual(s.Labels, sliceLabels(svc)) {
				q := v1.DeepCopy(s)
				q.Labels = sliceLabels(svc)
				w.add(fsm.NewUpdate(q, false))
			}
			continue
		}
		w.deleteAll([]*v1.EndpointSlice{s}, now)
	}
	if !kept {
		w.add(fsm.NewCreate(c.newSlice(svc, []v1.Endpoint{}, []v1.EndpointSlicePort{}, now)))
	}
}

// newSlice is a new slice of svc, named <service>-<5 random characters>
// as Kubernetes names them, owned by the service.
func (c *EndpointSliceController) newSlice(svc *v1.Service, eps []v1.Endpoint, ports []v1.EndpointSlicePort, now v1.Time) *v1.EndpointSlice {
	yes := true
	prefix := svc.Name
	if len(prefix) > 57 {
		prefix = prefix[:57]
	}
	return &v1.EndpointSlice{
		ObjectMeta: v1.ObjectMeta{Name: v1.GenerateName(prefix + "-"), Namespace: svc.Namespace, UID: uuid.NewString(),
			CreationTimestamp: now, GenerateName: prefix + "-", Labels: sliceLabels(svc),
			OwnerReferences: []v1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
				Controller: &yes, BlockOwnerDeletion: &yes}}},
		AddressType: v1.AddressTypeIPv4, Endpoints: eps, Ports: ports,
	}
}

// sliceLabels are the service's labels plus the slice's two own labels
// (Kubernetes copies the service's labels onto its slices).
func sliceLabels(svc *v1.Service) map[string]string {
	l := make(map[string]string, len(svc.Labels)+2)
	for k, v := range svc.Labels {
		l[k] = v
	}
	l[v1.LabelServiceName] = svc.Name
	l[v1.LabelManagedBy] = EndpointSliceManagedBy
	return l
}

func ownedBy(s *v1.EndpointSlice, svc *v1.Service) bool {
	ref := s.ControllerRef()
	return ref != nil && ref.Kind == "Service" && ref.UID == svc.UID
}
