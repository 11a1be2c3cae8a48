package node

import (
	"context"
	"encoding/json"
	"fmt"
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
			a.followRoutes(ctx, &routeSync{set: rs})
		})
	}
	wg.Wait()
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
	emit := func() {
		cp := make(map[string]*T, len(items))
		for k, v := range items {
			cp[k] = v
		}
		changed(cp)
	}
	followResource(ctx, a, resource, func(raws []json.RawMessage) error {
		next := make(map[string]*T, len(raws))
		for i, raw := range raws {
			obj := new(T)
			if err := json.Unmarshal(raw, obj); err != nil {
				return fmt.Errorf("list %s: decode item %d: %w", resource, i, err)
			}
			m := PT(obj).GetObjectMeta()
			next[v1.Key(m.Namespace, m.Name)] = obj
		}
		items = next
		emit()
		return nil
	}, func(ev client.Event) {
		key := v1.Key(ev.Namespace, ev.Name)
		if ev.Type == v1.Deleted {
			delete(items, key)
		} else {
			obj := new(T)
			if err := json.Unmarshal(ev.Object, obj); err != nil {
				a.log.Error("undecodable event", "resource", resource, "err", err)
				return
			}
			items[key] = obj
		}
		emit()
	})
}

// followResource lists a resource (all namespaces), then watches it from
// the list's resourceVersion until ctx ends: reset gets the listed
// objects' JSON (an error from it is retried as a failed list), apply each
// event of the watch. A broken watch resumes where it was; after 410 Gone
// the resource is listed again.
func followResource(ctx context.Context, a *Agent, resource string, reset func([]json.RawMessage) error, apply func(client.Event)) {
	rv := ""
	for ctx.Err() == nil {
		if rv == "" {
			list, err := a.cfg.Client.List(ctx, resource, "", client.ListOptions{})
			if err == nil {
				err = reset(list.Items)
			}
			if err != nil {
				if ctx.Err() == nil {
					a.log.Warn("list failed; retrying", "resource", resource, "err", err)
				}
				sleepCtx(ctx, time.Second)
				continue
			}
			rv = list.ResourceVersion
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
			apply(ev)
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
