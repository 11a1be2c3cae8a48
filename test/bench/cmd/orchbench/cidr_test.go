package main

import (
	"net"
	"testing"
)

func TestSchedClusterCIDR(t *testing.T) {
	_, service, _ := net.ParseCIDR("10.96.0.0/16")
	for _, tc := range []struct {
		nodes   int
		want    string
		wantErr bool
	}{
		{0, "10.244.0.0/16", false},
		{256, "10.244.0.0/16", false},
		{257, "10.0.0.0/15", false},
		{300, "10.0.0.0/15", false},
		{512, "10.0.0.0/15", false},
		{513, "10.0.0.0/14", false},
		{1000, "10.0.0.0/14", false},
		{maxSchedNodes, "10.0.0.0/10", false},
		{maxSchedNodes + 1, "", true},
	} {
		got, err := schedClusterCIDR(tc.nodes)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("schedClusterCIDR(%d) = %q, %v; want %q (error %v)", tc.nodes, got, err, tc.want, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		_, cidr, err := net.ParseCIDR(got)
		if err != nil {
			t.Fatal(err)
		}
		ones, _ := cidr.Mask.Size()
		if subnets := 1 << (24 - ones); subnets < tc.nodes {
			t.Errorf("%s holds %d /24s, want %d", got, subnets, tc.nodes)
		}
		if cidr.Contains(service.IP) || service.Contains(cidr.IP) {
			t.Errorf("%s overlaps the service CIDR", got)
		}
	}
}
