package sched

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// EndpointsManagedByAnnotation marks an Endpoints object as written by the
// endpoints controller: only such objects are deleted when their service goes.
const (
	EndpointsManagedByAnnotation = "endpoints.orch.io/managed-by"
	EndpointsManagedByValue      = "orch"
)

// ComputeEndpoints returns the subsets of a service's Endpoints: the pods of
// its namespace that its selector matches, have an IP and are neither
// terminating nor finished, grouped by the ports they resolve. Ready pods
// (or all of them with publishNotReadyAddresses) are under addresses, the
// others under notReadyAddresses. A service without a selector is not
// managed: the result is nil. A managed service without backends gets an
// empty, non-nil slice.
func ComputeEndpoints(svc *v1.Service, pods []*v1.Pod) []v1.EndpointSubset {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	sel := v1.SelectorFromMap(svc.Spec.Selector)
	type group struct {
		ports           []v1.EndpointPort
		ready, notReady []v1.EndpointAddress
	}
	groups := map[string]*group{}
	for _, p := range pods {
		ip := podIP(p)
		// A special IP (loopback, link-local) would send every node's
		// service traffic to itself; the API refuses it in a pod's status,
		// but one may be stored from before.
		if p.Namespace != svc.Namespace || ip == "" || v1.IsSpecialIP(ip) || p.DeletionTimestamp != nil || p.Terminal() ||
			!sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		ports := make([]v1.EndpointPort, 0, len(svc.Spec.Ports))
		for _, sp := range svc.Spec.Ports {
			if n, ok := resolveTargetPort(p, sp); ok {
				ports = append(ports, v1.EndpointPort{Name: sp.Name, Port: n, Protocol: protocolOf(sp.Protocol)})
			}
		}
		if len(svc.Spec.Ports) > 0 && len(ports) == 0 {
			continue // serves none of the service's ports
		}
		key, _ := json.Marshal(ports)
		g := groups[string(key)]
		if g == nil {
			g = &group{ports: ports}
			groups[string(key)] = g
		}
		addr := v1.EndpointAddress{IP: ip,
			TargetRef: &v1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}}
		if p.Spec.NodeName != "" {
			node := p.Spec.NodeName
			addr.NodeName = &node
		}
		if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name {
			addr.Hostname = p.Spec.Hostname
		}
		if p.IsReady() || svc.Spec.PublishNotReadyAddresses {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	type keyed struct {
		key string
		s   v1.EndpointSubset
	}
	all := make([]keyed, 0, len(groups))
	for k, g := range groups {
		sortAddresses(g.ready)
		sortAddresses(g.notReady)
		all = append(all, keyed{k, v1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports}})
	}
	sort.Slice(all, func(i, j int) bool {
		x, y := all[i].s, all[j].s
		if c := comparePorts(x.Ports, y.Ports); c != 0 {
			return c < 0
		}
		if xa, ya := firstIP(x), firstIP(y); xa != ya {
			return xa < ya
		}
		return all[i].key < all[j].key
	})
	out := make([]v1.EndpointSubset, len(all))
	for i, k := range all {
		out[i] = k.s
	}
	return out
}

func podIP(p *v1.Pod) string {
	if p.Status.PodIP != "" {
		return p.Status.PodIP
	}
	if len(p.Status.PodIPs) > 0 {
		return p.Status.PodIPs[0].IP
	}
	return ""
}

func protocolOf(p string) string {
	if p == "" {
		return v1.ProtocolTCP
	}
	return p
}

// resolveTargetPort returns the pod port a service port sends to: the number,
// the named container port of the same protocol, or the service port itself
// when targetPort is unset.
func resolveTargetPort(p *v1.Pod, sp v1.ServicePort) (int32, bool) {
	tp := sp.TargetPort
	if tp.Type == intstr.Int {
		if tp.IntVal == 0 {
			return sp.Port, true
		}
		return tp.IntVal, true
	}
	if tp.StrVal == "" {
		return sp.Port, true
	}
	proto := protocolOf(sp.Protocol)
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == tp.StrVal && protocolOf(cp.Protocol) == proto {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

func sortAddresses(a []v1.EndpointAddress) {
	sort.Slice(a, func(i, j int) bool {
		if a[i].IP != a[j].IP {
			return a[i].IP < a[j].IP
		}
		return refName(a[i]) < refName(a[j])
	})
}

func refName(a v1.EndpointAddress) string {
	if a.TargetRef == nil {
		return ""
	}
	return a.TargetRef.Name
}

func comparePorts(x, y []v1.EndpointPort) int {
	switch {
	case len(x) == 0 && len(y) == 0:
		return 0
	case len(x) == 0:
		return -1
	case len(y) == 0:
		return 1
	}
	a, b := x[0], y[0]
	switch {
	case a.Name != b.Name:
		return cmpStr(a.Name, b.Name)
	case a.Port != b.Port:
		if a.Port < b.Port {
			return -1
		}
		return 1
	case a.Protocol != b.Protocol:
		return cmpStr(a.Protocol, b.Protocol)
	}
	return 0
}

func cmpStr(a, b string) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

func firstIP(s v1.EndpointSubset) string {
	if len(s.Addresses) > 0 {
		return s.Addresses[0].IP
	}
	if len(s.NotReadyAddresses) > 0 {
		return s.NotReadyAddresses[0].IP
	}
	return ""
}

// subsetsEqual compares subsets semantically: by their JSON, an empty list
// equal to none.
func subsetsEqual(a, b []v1.EndpointSubset) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// EndpointsConfig configures the endpoints controller.
type EndpointsConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the Endpoints writes.
	Proposer Proposer
	// Logger receives the loop's logs.
	Logger *slog.Logger
	// Resync is the longest pause between full passes (default 10 min: a
	// safety net, every change that matters dirties its service).
	Resync time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Pods is the leader's shared pod informer (nil: the controller's own).
	Pods *Informer
}

// EndpointsController keeps each selector service's Endpoints object in step
// with its pods while this master leads.
type EndpointsController struct {
	cfg   EndpointsConfig
	pods  *Informer
	retry retrySet
}

// NewEndpointsController returns an endpoints controller; Run starts it.
func NewEndpointsController(cfg EndpointsConfig) *EndpointsController {
	if cfg.Resync == 0 {
		cfg.Resync = serviceResync
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "endpoints")
	return &EndpointsController{cfg: cfg, pods: informerOr(cfg.Pods, "pods")}
}

// Run reconciles until ctx ends: a pass over the services the changes
// concern whenever the store changes (many changes collapse into one
// pass), a full pass at start, after the store is replaced and at least
// every Resync, and a retry soon after writes that failed.
func (c *EndpointsController) Run(ctx context.Context) {
	runOnChangesWake(ctx, c.cfg.Store, follows{"services", "endpoints", "pods"}, c.cfg.Resync, c.retry.wake, c.cfg.Logger, c.pass)
}

// pass runs one pass of the loop. Cost per event: a pod's event reads the
// services of its namespace (O(services in the namespace)); each service
// it dirties (one whose selector matched the pod before or after), and
// each service or Endpoints event's service, costs two gets and a read of
// that service's pods through the pod informer (O(pods of the service)).
// A full pass does so for every service and Endpoints object: it reads
// every service and Endpoints, and the pods of the selector services.
func (c *EndpointsController) pass(ctx context.Context, store *fsm.Store, ch changes) error {
	again, all := c.retry.take()
	if ch.full || all {
		_, err := c.Pass(ctx, store)
		return err
	}
	keys, err := servicesDirtiedBy(store, ch.events, "endpoints", func(r *fsm.Record) []string { return []string{r.Key()} })
	if err != nil {
		c.retry.all = true
		return err
	}
	_, err = c.Sync(ctx, store, mergeKeys(keys, again))
	return err
}

// Sync reconciles the Endpoints of the services of keys ("<ns>/<name>")
// once, committing all writes in one batch entry, as Pass does for every
// service: the service's pods are read through the pod informer. It
// returns the number of writes that succeeded.
func (c *EndpointsController) Sync(ctx context.Context, store *fsm.Store, keys []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	if err := c.pods.Sync(store); err != nil {
		c.retry.all = true
		return 0, err
	}
	now := v1.NewTime(c.cfg.Now())
	var w epWrites
	for _, key := range keys {
		svc, err := getService(store, key)
		if err != nil {
			return 0, c.failAll(err)
		}
		ns, name, _ := strings.Cut(key, "/")
		var ep *v1.Endpoints
		switch r, err := store.Get("endpoints", ns, name); {
		case err == nil:
			ep = r.Object().(*v1.Endpoints)
		case !v1.IsNotFound(err):
			return 0, c.failAll(fmt.Errorf("endpoints %s: %w", key, err))
		}
		var pods []*v1.Pod
		if svc != nil && len(svc.Spec.Selector) > 0 {
			if pods, err = servicePods(store, c.pods, svc); err != nil {
				return 0, c.failAll(err)
			}
		}
		if err := w.reconcile(key, svc, ep, pods, now); err != nil {
			return 0, c.failAll(err)
		}
	}
	return c.commit(ctx, &w)
}

// Pass reconciles every Endpoints object once, committing all writes in one
// batch entry: it creates missing ones, updates those whose subsets, labels
// or marker differ, and deletes managed ones whose service is gone. Items
// that fail (a conflict with a concurrent write) are retried by a later
// pass. It returns the number of writes that succeeded.
//
// It is Sync of every service and every Endpoints object's service: each
// service's pods are read through the pod informer, one service at a time,
// so a pass holds the decoded pods of one service, never every pod of the
// store (a leader at 150,000 pods decoded and held them all on each
// resync, ~300 MB with the endpoint slices' pass).
func (c *EndpointsController) Pass(ctx context.Context, store *fsm.Store) (int, error) {
	keys, err := serviceKeys(store, "endpoints", func(r *fsm.Record) []string { return []string{r.Key()} })
	if err != nil {
		return 0, c.failAll(err)
	}
	return c.Sync(ctx, store, keys)
}

// failAll marks every service for a retry when err is set, and returns err.
func (c *EndpointsController) failAll(err error) error {
	if err != nil {
		c.retry.all = true
	}
	return err
}

// epWrites collects a pass's Endpoints writes and the service each is for.
type epWrites struct {
	items []fsm.BatchItem
	keys  []string
}

// reconcile adds the write, if any, that brings the Endpoints ep (nil: none)
// of the service key (svc nil: none) to the subsets of pods.
func (w *epWrites) reconcile(key string, svc *v1.Service, ep *v1.Endpoints, pods []*v1.Pod, now v1.Time) error {
	var body []byte
	var err error
	switch {
	case svc == nil:
		if ep == nil || !managed(ep) {
			return nil
		}
		body, err = fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "endpoints", Namespace: ep.Namespace,
			Name: ep.Name, UID: ep.UID, ResourceVersion: ep.ResourceVersion, Now: now})
	case len(svc.Spec.Selector) == 0:
		return nil // not ours: its Endpoints are written by hand
	case ep == nil:
		body, err = fsm.NewCreate(&v1.Endpoints{
			ObjectMeta: v1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, UID: uuid.NewString(),
				CreationTimestamp: now, Labels: maps.Clone(svc.Labels),
				Annotations: map[string]string{EndpointsManagedByAnnotation: EndpointsManagedByValue}},
			Subsets: ComputeEndpoints(svc, pods),
		})
	default:
		subsets := ComputeEndpoints(svc, pods)
		if subsetsEqual(ep.Subsets, subsets) && maps.Equal(ep.Labels, svc.Labels) && managed(ep) {
			return nil
		}
		q := v1.DeepCopy(ep) // keeps the resourceVersion: a compare-and-swap
		q.Subsets = subsets
		q.Labels = maps.Clone(svc.Labels)
		if q.Annotations == nil {
			q.Annotations = map[string]string{}
		}
		q.Annotations[EndpointsManagedByAnnotation] = EndpointsManagedByValue
		body, err = fsm.NewUpdate(q, false)
	}
	if err != nil {
		return err
	}
	w.items = append(w.items, fsm.BatchItem{Type: fsm.CommandType(body[0]), Body: body[1:]})
	w.keys = append(w.keys, key)
	return nil
}

// commit proposes w's writes as one batch entry and marks the services of
// the writes that failed for a retry. It returns the writes that succeeded.
func (c *EndpointsController) commit(ctx context.Context, w *epWrites) (int, error) {
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
			c.cfg.Logger.Debug("endpoints write failed; a later pass retries", "endpoints", w.keys[i], "err", r.Err)
			c.retry.add(w.keys[i])
			continue
		}
		done++
	}
	if len(results) != len(w.items) {
		return done, c.failAll(fmt.Errorf("endpoints batch: %d results for %d writes", len(results), len(w.items)))
	}
	return done, nil
}

func managed(ep *v1.Endpoints) bool {
	return ep.Annotations[EndpointsManagedByAnnotation] == EndpointsManagedByValue
}

// serviceKeys returns the keys ("<ns>/<name>") a full pass of an
// endpoints controller reconciles, sorted: every service's, and those owned
// returns for each object of the controller's own resource (endpoints or
// endpointslices), whose service may be gone. It reads no pod and decodes
// no object (owned reads summaries).
func serviceKeys(store *fsm.Store, resource string, owned func(r *fsm.Record) []string) ([]string, error) {
	svcs, err := store.List("services", fsm.ListOptions{})
	if err != nil {
		return nil, err
	}
	objs, err := store.List(resource, fsm.ListOptions{})
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(svcs.Items)+len(objs.Items))
	for _, r := range svcs.Items {
		keys = append(keys, r.Key())
	}
	for _, r := range objs.Items {
		keys = append(keys, owned(r)...)
	}
	return mergeKeys(keys, nil), nil
}
