package main

import (
	"fmt"
	"math/bits"
)

// maxSchedNodes is the most simulated nodes schedClusterCIDR can place.
const maxSchedNodes = 1 << 14

// schedClusterCIDR is a cluster CIDR with a /24 for each of n simulated
// nodes: the masters' default, 10.244.0.0/16, holds 256, and the 257th
// node is refused. It stays within 10.0.0.0/10, clear of the default
// service CIDR 10.96.0.0/16.
func schedClusterCIDR(n int) (string, error) {
	if n <= 256 {
		return "10.244.0.0/16", nil
	}
	if n > maxSchedNodes {
		return "", fmt.Errorf("-sched-nodes %d: at most %d simulated nodes fit a cluster CIDR beside the service CIDR", n, maxSchedNodes)
	}
	return fmt.Sprintf("10.0.0.0/%d", 24-bits.Len(uint(n-1))), nil
}
