package hollow

import (
	"context"
	"net"
	"sync"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/net/proxy"
	"orch.io/orch/node"
)

// Proxy is a node.ServiceProxy that builds and renders the node's iptables
// ruleset with net/proxy's code (the iptables-restore text of the chains
// that changed since the last sync) and applies nothing. As the real
// proxier, Update never blocks and Run syncs at most once per interval,
// always the latest state.
type Proxy struct {
	in       proxy.RulesInput
	interval time.Duration
	wake     chan struct{}

	mu      sync.Mutex
	updated bool
	rules   *proxy.Ruleset
	stats   ProxyStats
}

// ProxyStats describe a Proxy's syncs.
type ProxyStats struct {
	// Syncs counts the rulesets built; Bytes the iptables-restore text
	// rendered by all of them.
	Syncs, Bytes int
	// Chains and Rules are the last ruleset's size.
	Chains, Rules int
	// Services is how many services the last sync saw.
	Services int
}

var _ node.ServiceProxy = (*Proxy)(nil)

// NewProxy returns a proxy for a node with the given addresses (NodePorts)
// in the cluster's pod network; interval is its minimum sync interval
// (0: 1 s, the real proxier's).
func NewProxy(clusterCIDR *net.IPNet, nodeIPs []net.IP, interval time.Duration) *Proxy {
	if interval <= 0 {
		interval = time.Second
	}
	return &Proxy{in: proxy.RulesInput{ClusterCIDR: clusterCIDR, NodeIPs: nodeIPs}, interval: interval,
		wake: make(chan struct{}, 1)}
}

// Update takes the full set of services and endpoints (not modified after)
// and wakes Run.
func (p *Proxy) Update(services []*v1.Service, endpoints []*v1.Endpoints) {
	p.mu.Lock()
	p.in.Services, p.in.Endpoints, p.updated = services, endpoints, true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run renders the ruleset after updates until ctx ends.
func (p *Proxy) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		p.Sync()
		// Updates meanwhile wait: at most one sync per interval.
		t := time.NewTimer(p.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Sync builds and renders the latest state now, if an update came since
// the last sync.
func (p *Proxy) Sync() {
	p.mu.Lock()
	in, updated, prev := p.in, p.updated, p.rules
	p.updated = false
	p.mu.Unlock()
	if !updated {
		return
	}
	rs := proxy.BuildRules(in)
	text, _ := rs.RenderChanged(prev)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = rs
	p.stats.Syncs++
	p.stats.Bytes += len(text)
	p.stats.Chains, p.stats.Rules, p.stats.Services = rs.NumChains(), rs.NumRules(), len(in.Services)
}

// Stats returns the syncs so far.
func (p *Proxy) Stats() ProxyStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Ruleset returns the last ruleset built (nil before the first sync).
func (p *Proxy) Ruleset() *proxy.Ruleset {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rules
}
