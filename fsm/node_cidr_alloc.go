package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"net"

	v1 "orch.io/orch/api/v1"
)

// ErrPodCIDRsExhausted is wrapped by FreePodCIDR's error when every subnet
// of the cluster CIDR is held by a node.
var ErrPodCIDRsExhausted = errors.New("no free pod CIDR")

// FreePodCIDR returns the lowest /maskSize subnet of clusterCIDR that no
// pod CIDR of nodes overlaps. Every subnet taken is an error wrapping
// ErrPodCIDRsExhausted, in the words of Kubernetes' range allocator's
// event. The FSM gives registering nodes their subnet with it; the
// leader's node IPAM gives one to a node registered while none was free.
func FreePodCIDR(clusterCIDR string, maskSize int, nodes iter.Seq[*v1.Node]) (string, error) {
	_, cluster, err := net.ParseCIDR(clusterCIDR)
	if err != nil || cluster.IP.To4() == nil {
		return "", v1.NewBadRequest(fmt.Sprintf("cluster CIDR %q is not an IPv4 CIDR", clusterCIDR))
	}
	ones, _ := cluster.Mask.Size()
	if maskSize < ones || maskSize > 30 {
		return "", v1.NewBadRequest(fmt.Sprintf("node CIDR mask /%d does not fit cluster CIDR %s", maskSize, clusterCIDR))
	}
	base := binary.BigEndian.Uint32(cluster.IP.To4())
	count := uint32(1) << (maskSize - ones)
	size := uint32(1) << (32 - maskSize)
	used := make(map[uint32]bool)
	for n := range nodes {
		for _, c := range nodeCIDRs(n) {
			_, sub, err := net.ParseCIDR(c)
			if err != nil || sub.IP.To4() == nil || !cidrsOverlap(sub, cluster) {
				continue
			}
			start := max(binary.BigEndian.Uint32(sub.IP.To4()), base)
			subOnes, _ := sub.Mask.Size()
			end := min(uint64(binary.BigEndian.Uint32(sub.IP.To4()))+uint64(1)<<(32-subOnes)-1, uint64(base)+uint64(count)*uint64(size)-1)
			for i := (start - base) / size; i < count && uint64(base)+uint64(i)*uint64(size) <= end; i++ {
				used[i] = true
			}
		}
	}
	for i := uint32(0); i < count; i++ {
		if !used[i] {
			ip := make(net.IP, 4)
			binary.BigEndian.PutUint32(ip, base+i*size)
			return fmt.Sprintf("%s/%d", ip, maskSize), nil
		}
	}
	return "", fmt.Errorf("%w: no free /%d left in cluster CIDR %s", ErrPodCIDRsExhausted, maskSize, clusterCIDR)
}
