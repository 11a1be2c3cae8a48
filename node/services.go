package node

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"sort"
	"sync"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/net/podnet"
)

// ServiceProxy programs the node's service rules from the full set of
// services and endpoints (net/proxy implements it). Update must not block.
type ServiceProxy interface {
	Update(services []*v1.Service, endpoints []*v1.Endpoints)
}

// ServiceDNS answers cluster names from the full set of services and
// endpoints (the addresses of headless services); net/dns implements it.
// Update must not block.
type ServiceDNS interface {
	Update(services []*v1.Service, endpoints []*v1.Endpoints)
}

// RouteSetter keeps the node's routes to the other nodes' pod CIDRs
// (net/podnet implements it).
type RouteSetter interface {
	SetRoutes(ctx context.Context, routes []podnet.Route) error
}

// watchCluster follows nodes, services and endpoints: nodes become routes
// to their pod CIDRs, services and endpoints feed the proxy and the DNS,
// services the containers' environments.
func (a *Agent) watchCluster(ctx context.Context) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var services map[string]*v1.Service
	var endpoints map[string]*v1.Endpoints
	push := func() {
		mu.Lock()
		defer mu.Unlock()
		if services == nil || endpoints == nil {
			return // both lists first, so the proxy never sees half the cluster
		}
		svcs, eps := values(services), values(endpoints)
		if a.cfg.Proxy != nil {
			a.cfg.Proxy.Update(svcs, eps)
		}
		if a.cfg.DNS != nil {
			a.cfg.DNS.Update(svcs, eps)
		}
	}
	run := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	// Services are followed whatever else the node does: containers'
	// environments hold them.
	a.serviceEnvState.mu.Lock()
	a.serviceEnvState.watched = true
	a.serviceEnvState.mu.Unlock()
	// An agent restarted while no master answers starts containers with
	// the services it last read (saved as it read them), as it runs its
	// pods from their saved specs.
	if err := a.serviceEnvState.load(a.servicesPath()); err != nil {
		a.log.Warn("read the saved services", "err", err)
	}
	run(func() {
		watchResource(ctx, a, "services", func(m map[string]*v1.Service) {
			a.serviceEnvState.setServices(m)
			if err := a.serviceEnvState.save(a.servicesPath()); err != nil {
				a.log.Warn("save the services", "err", err)
			}
			mu.Lock()
			services = m
			mu.Unlock()
			push()
		})
	})
	if a.cfg.Proxy != nil || a.cfg.DNS != nil {
		run(func() {
			watchResource(ctx, a, "endpoints", func(m map[string]*v1.Endpoints) {
				mu.Lock()
				endpoints = m
				mu.Unlock()
				push()
			})
		})
	} else {
		endpoints = map[string]*v1.Endpoints{}
	}
	if rs, ok := a.network.(RouteSetter); ok {
		run(func() {
			routing := &routeSync{set: rs}
			watchResource(ctx, a, "nodes", func(m map[string]*v1.Node) {
				routes := a.nodeRoutes(m)
				applied, err := routing.sync(ctx, routes)
				if err != nil {
					a.log.Warn("routes to other nodes", "err", err)
					return
				}
				if !applied {
					return
				}
				a.log.Info("routes to other nodes", "routes", len(routes))
			})
		})
	}
	wg.Wait()
}

// nodeRoutes are the host-gw routes to every other Ready node's pod CIDR
// through that node's InternalIP.
func (a *Agent) nodeRoutes(nodes map[string]*v1.Node) []podnet.Route {
	var out []podnet.Route
	for _, n := range nodes {
		if n.Name == a.cfg.Name || n.Spec.PodCIDR == "" {
			continue
		}
		if r := n.Status.Condition(v1.NodeReady); r == nil || r.Status != v1.ConditionTrue {
			continue
		}
		var ip net.IP
		for _, addr := range n.Status.Addresses {
			if addr.Type == "InternalIP" {
				ip = net.ParseIP(addr.Address)
			}
		}
		_, cidr, err := net.ParseCIDR(n.Spec.PodCIDR)
		if ip == nil || err != nil {
			continue
		}
		out = append(out, podnet.Route{CIDR: cidr, Via: ip})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CIDR.String() < out[j].CIDR.String() })
	return out
}

// routeSync applies the routes to other nodes when they change. Nodes
// change every few seconds (heartbeats) while their routes do not.
type routeSync struct {
	set RouteSetter
	// last is what the node holds once synced; no routes at all is a state
	// like any other, not "unknown".
	last   []podnet.Route
	synced bool
}

// sync applies routes unless the node already holds them; it reports
// whether it applied them. After an error the next call applies again.
func (s *routeSync) sync(ctx context.Context, routes []podnet.Route) (bool, error) {
	if s.synced && slices.EqualFunc(routes, s.last, sameRoute) {
		return false, nil
	}
	s.synced = false
	if err := s.set.SetRoutes(ctx, routes); err != nil {
		return false, err
	}
	s.last, s.synced = routes, true
	return true, nil
}

func sameRoute(a, b podnet.Route) bool {
	return a.CIDR.String() == b.CIDR.String() && a.Via.Equal(b.Via)
}

// watchResource keeps a full copy of a resource (all namespaces) and calls
// changed with it after the initial list and after every change. It resumes
// broken watches and relists after 410 Gone. changed owns the map it gets.
func watchResource[T any, PT interface {
	*T
	v1.Object
}](ctx context.Context, a *Agent, resource string, changed func(map[string]*T)) {
	items := map[string]*T{}
	rv := ""
	emit := func() {
		cp := make(map[string]*T, len(items))
		for k, v := range items {
			cp[k] = v
		}
		changed(cp)
	}
	for ctx.Err() == nil {
		if rv == "" {
			list, listRV, err := client.ListTyped[T](ctx, a.cfg.Client, resource, "", client.ListOptions{})
			if err != nil {
				if ctx.Err() == nil {
					a.log.Warn("list failed; retrying", "resource", resource, "err", err)
				}
				sleepCtx(ctx, time.Second)
				continue
			}
			items = make(map[string]*T, len(list))
			for i := range list {
				m := PT(&list[i]).GetObjectMeta()
				items[v1.Key(m.Namespace, m.Name)] = &list[i]
			}
			rv = listRV
			emit()
		}
		w, err := a.cfg.Client.Watch(ctx, resource, "", client.WatchOptions{ResourceVersion: rv})
		if err != nil {
			if v1.IsGone(err) {
				rv = ""
			} else if ctx.Err() == nil {
				a.log.Warn("watch failed; retrying", "resource", resource, "err", err)
			}
			sleepCtx(ctx, time.Second)
			continue
		}
		for ev := range w.Events() {
			key := v1.Key(ev.Namespace, ev.Name)
			if ev.Type == v1.Deleted {
				delete(items, key)
			} else {
				obj := new(T)
				if err := json.Unmarshal(ev.Object, obj); err != nil {
					a.log.Error("undecodable event", "resource", resource, "err", err)
					continue
				}
				items[key] = obj
			}
			emit()
		}
		rv = w.ResourceVersion()
		if v1.IsGone(w.Err()) {
			rv = ""
		}
		w.Stop()
	}
}

func values[T any](m map[string]*T) []*T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*T, 0, len(m))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}
