package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"orch.io/orch/cluster"
	"orch.io/orch/sched"
)

// newKubernetesServiceController wires the leader's kubernetes Service
// controller: its endpoints are the API addresses of the voters of the
// Raft configuration, on this master's API port, whose API accepts
// connections.
func newKubernetesServiceController(c *cluster.Cluster, serviceCIDR string, api net.Addr, log *slog.Logger) (*sched.KubernetesServiceController, error) {
	tcp, ok := api.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("the API listens on %s, not a TCP address", api)
	}
	ctl, err := sched.NewKubernetesServiceController(sched.KubernetesServiceConfig{Store: c.Store, Proposer: c,
		ServiceCIDR: serviceCIDR, APIPort: int32(tcp.Port), Logger: log, Probe: probeAPI,
		Masters: func() ([]string, error) {
			_, members, err := c.Members()
			if err != nil {
				return nil, err
			}
			var addrs []string
			for _, m := range members {
				if m.Voter && m.APIAddr != "" {
					addrs = append(addrs, m.APIAddr)
				}
			}
			return addrs, nil
		}})
	if err != nil {
		return nil, fmt.Errorf("--service-cidr: %w", err)
	}
	return ctl, nil
}

// probeAPI checks that a master's API accepts TCP connections at addr.
func probeAPI(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}
