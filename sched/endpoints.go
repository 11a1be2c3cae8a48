package sched

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"sort"
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
	// Resync is the longest pause between passes without a change (default 5 s).
	Resync time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// EndpointsController keeps each selector service's Endpoints object in step
// with its pods while this master leads.
type EndpointsController struct {
	cfg EndpointsConfig
}

// NewEndpointsController returns an endpoints controller; Run starts it.
func NewEndpointsController(cfg EndpointsConfig) *EndpointsController {
	if cfg.Resync == 0 {
		cfg.Resync = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "endpoints")
	return &EndpointsController{cfg: cfg}
}

// Run reconciles until ctx ends: a pass whenever the store changes (many
// changes collapse into one pass) and at least every Resync.
func (c *EndpointsController) Run(ctx context.Context) {
	runOnChanges(ctx, c.cfg.Store, c.cfg.Resync, c.cfg.Logger, func(ctx context.Context, store *fsm.Store, _ changes) error {
		_, err := c.Pass(ctx, store)
		return err
	})
}

// Pass reconciles every Endpoints object once, committing all writes in one
// batch entry: it creates missing ones, updates those whose subsets, labels
// or marker differ, and deletes managed ones whose service is gone. Items
// that fail (a conflict with a concurrent write) are retried by the next
// pass. It returns the number of writes that succeeded.
func (c *EndpointsController) Pass(ctx context.Context, store *fsm.Store) (int, error) {
	svcRes, epRes, podsByNS, err := readServiceEndpoints(store, "endpoints")
	if err != nil || podsByNS == nil {
		return 0, err
	}
	existing := make(map[string]*v1.Endpoints, len(epRes.Items))
	for _, r := range epRes.Items {
		ep := r.Object().(*v1.Endpoints)
		existing[v1.Key(ep.Namespace, ep.Name)] = ep
	}
	services := make(map[string]bool, len(svcRes.Items))
	now := v1.NewTime(c.cfg.Now())
	var items []fsm.BatchItem
	add := func(body []byte) {
		items = append(items, fsm.BatchItem{Type: fsm.CommandType(body[0]), Body: body[1:]})
	}
	for _, r := range svcRes.Items {
		svc := r.Object().(*v1.Service)
		key := v1.Key(svc.Namespace, svc.Name)
		services[key] = true
		if len(svc.Spec.Selector) == 0 {
			continue // not ours: its Endpoints are written by hand
		}
		subsets := ComputeEndpoints(svc, podsByNS[svc.Namespace])
		ep := existing[key]
		if ep == nil {
			ep = &v1.Endpoints{
				ObjectMeta: v1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, UID: uuid.NewString(),
					CreationTimestamp: now, Labels: maps.Clone(svc.Labels),
					Annotations: map[string]string{EndpointsManagedByAnnotation: EndpointsManagedByValue}},
				Subsets: subsets,
			}
			body, err := fsm.NewCreate(ep)
			if err != nil {
				return 0, err
			}
			add(body)
			continue
		}
		if subsetsEqual(ep.Subsets, subsets) && maps.Equal(ep.Labels, svc.Labels) && managed(ep) {
			continue
		}
		q := v1.DeepCopy(ep) // keeps the resourceVersion: a compare-and-swap
		q.Subsets = subsets
		q.Labels = maps.Clone(svc.Labels)
		if q.Annotations == nil {
			q.Annotations = map[string]string{}
		}
		q.Annotations[EndpointsManagedByAnnotation] = EndpointsManagedByValue
		body, err := fsm.NewUpdate(q, false)
		if err != nil {
			return 0, err
		}
		add(body)
	}
	for _, r := range epRes.Items {
		ep := r.Object().(*v1.Endpoints)
		if services[v1.Key(ep.Namespace, ep.Name)] || !managed(ep) {
			continue
		}
		body, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "endpoints", Namespace: ep.Namespace,
			Name: ep.Name, UID: ep.UID, ResourceVersion: ep.ResourceVersion, Now: now})
		if err != nil {
			return 0, err
		}
		add(body)
	}
	if len(items) == 0 {
		return 0, nil
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return 0, err
	}
	res, err := c.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return 0, err
	}
	done := 0
	results, _ := res.(fsm.BatchResult)
	for _, r := range results {
		if r.Err != nil {
			c.cfg.Logger.Debug("endpoints write failed; the next pass retries", "err", r.Err)
			continue
		}
		done++
	}
	if len(results) != len(items) {
		return done, fmt.Errorf("endpoints batch: %d results for %d writes", len(results), len(items))
	}
	return done, nil
}

func managed(ep *v1.Endpoints) bool {
	return ep.Annotations[EndpointsManagedByAnnotation] == EndpointsManagedByValue
}

// readServiceEndpoints reads what an endpoints controller reconciles: every
// service, every object of the controller's own resource (endpoints or
// endpointslices), and the pods by namespace. podsByNS is nil when there
// is neither a service nor an object of the resource: nothing to manage,
// and the pods are not read.
func readServiceEndpoints(store *fsm.Store, resource string) (svcs, owned fsm.ListResult, podsByNS map[string][]*v1.Pod, err error) {
	if svcs, err = store.List("services", fsm.ListOptions{}); err != nil {
		return svcs, owned, nil, err
	}
	if owned, err = store.List(resource, fsm.ListOptions{}); err != nil {
		return svcs, owned, nil, err
	}
	if len(svcs.Items) == 0 && len(owned.Items) == 0 {
		return svcs, owned, nil, nil
	}
	pods, err := store.List("pods", fsm.ListOptions{})
	if err != nil {
		return svcs, owned, nil, err
	}
	podsByNS = map[string][]*v1.Pod{}
	for _, r := range pods.Items {
		p := r.Object().(*v1.Pod)
		podsByNS[p.Namespace] = append(podsByNS[p.Namespace], p)
	}
	return svcs, owned, podsByNS, nil
}
