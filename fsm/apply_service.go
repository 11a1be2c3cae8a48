package fsm

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net"
	"strconv"

	v1 "orch.io/orch/api/v1"
)

// NodePort range (Kubernetes' default; validation enforces it too).
const (
	NodePortMin = 30000
	NodePortMax = 32767
)

// CreateServiceRequest creates a Service and allocates its addresses: a
// ClusterIP from ServiceCIDR (unless the spec asks for one, which must be
// free and inside the range, or for "None") and a NodePort for every port of
// a NodePort service that names none (a named one must be free). Allocation
// happens in the FSM so that every master picks the same addresses and two
// services never share one; the range travels in the command so masters
// configured differently cannot diverge.
type CreateServiceRequest struct {
	ServiceCIDR string          `json:"serviceCIDR"`
	Object      json.RawMessage `json:"object"`
}

// NewCreateService encodes a CreateServiceCommand for svc.
func NewCreateService(svc *v1.Service, serviceCIDR string) ([]byte, error) {
	v1.SetTypeMeta(svc)
	m := svc.GetObjectMeta()
	m.Generation, m.ResourceVersion = 1, ""
	raw, err := json.Marshal(svc)
	if err != nil {
		return nil, fmt.Errorf("encode service %s: %w", svc.Name, err)
	}
	return Encode(CreateServiceCommand, CreateServiceRequest{ServiceCIDR: serviceCIDR, Object: raw})
}

func applyCreateService(w *writeTxn, body []byte) any {
	var req CreateServiceRequest
	if res, ok := w.decode(body, &req); !ok {
		return res
	}
	svc := &v1.Service{}
	if res, ok := w.decode(req.Object, svc); !ok {
		return res
	}
	if w.exists("services", v1.Key(svc.Namespace, svc.Name)) {
		return Result{Err: v1.NewAlreadyExists("services", svc.Name)}
	}
	used := usedServiceAddresses(w, "")
	if err := allocateClusterIP(svc, req.ServiceCIDR, used); err != nil {
		return Result{Err: err}
	}
	if err := allocateNodePorts(svc, nil, used); err != nil {
		return Result{Err: err}
	}
	raw, err := json.Marshal(svc)
	if err != nil {
		panic(fmt.Sprintf("fsm: encode service at index %d: %v", w.index, err))
	}
	frame := CreateRequest{Resource: "services", Namespace: svc.Namespace, Name: svc.Name, UID: svc.UID, Object: raw}.appendFrame(nil)
	return applyCreate(w, frame)
}

// serviceAddresses answers which service holds a ClusterIP or a NodePort,
// through the services table's indexes (no scan of every service), leaving
// out the service skip (an update's own).
type serviceAddresses struct {
	w    *writeTxn
	skip string
}

// usedServiceAddresses looks up what every service but skip holds.
func usedServiceAddresses(w *writeTxn, skip string) serviceAddresses {
	return serviceAddresses{w: w, skip: skip}
}

// ipOwner returns the service holding ip.
func (u serviceAddresses) ipOwner(ip string) (string, bool) {
	return u.owner(indexClusterIP, ip)
}

// portOwner returns the service holding node port p.
func (u serviceAddresses) portOwner(p int32) (string, bool) {
	return u.owner(indexNodePort, strconv.Itoa(int(p)))
}

func (u serviceAddresses) owner(index, key string) (string, bool) {
	it, err := u.w.txn.Get("services", index, key)
	if err != nil {
		panic(fmt.Sprintf("fsm: look up services by %s: %v", index, err))
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if k := raw.(*Record).Key(); k != u.skip {
			return k, true
		}
	}
	return "", false
}

func serviceInvalid(svc *v1.Service, field, msg string) error {
	return v1.NewInvalid("Service", svc.Name, []v1.StatusCause{{Type: "FieldValueInvalid", Field: field, Message: msg}})
}

// allocateClusterIP honours a requested ClusterIP or picks a free one. The
// pick starts at a point given by a hash of the service's name and probes
// upwards, so it is deterministic yet spread over the range.
func allocateClusterIP(svc *v1.Service, serviceCIDR string, used serviceAddresses) error {
	ip := svc.Spec.ClusterIP
	if ip == v1.ClusterIPNone {
		svc.Spec.ClusterIPs = []string{v1.ClusterIPNone}
		return nil
	}
	_, cidr, err := net.ParseCIDR(serviceCIDR)
	if err != nil || cidr.IP.To4() == nil {
		return v1.NewBadRequest(fmt.Sprintf("service CIDR %q is not an IPv4 CIDR", serviceCIDR))
	}
	ones, bits := cidr.Mask.Size()
	size := uint32(1) << (bits - ones)
	if size < 4 {
		return v1.NewBadRequest(fmt.Sprintf("service CIDR %s is too small", serviceCIDR))
	}
	base := binary.BigEndian.Uint32(cidr.IP.To4())
	if ip != "" {
		parsed := net.ParseIP(ip).To4()
		if parsed == nil || !cidr.Contains(parsed) {
			return serviceInvalid(svc, "spec.clusterIP", fmt.Sprintf("spec.clusterIP: Invalid value: %q: provided IP is not in the valid range (%s)", ip, serviceCIDR))
		}
		if off := binary.BigEndian.Uint32(parsed) - base; off == 0 || off == size-1 {
			return serviceInvalid(svc, "spec.clusterIP", fmt.Sprintf("spec.clusterIP: Invalid value: %q: the network and broadcast addresses cannot be used", ip))
		}
		if owner, ok := used.ipOwner(ip); ok {
			return serviceInvalid(svc, "spec.clusterIP", fmt.Sprintf("spec.clusterIP: Invalid value: %q: provided IP is already allocated (to %s)", ip, owner))
		}
		svc.Spec.ClusterIPs = []string{ip}
		return nil
	}
	h := fnv.New32a()
	h.Write([]byte(v1.Key(svc.Namespace, svc.Name)))
	usable := size - 2 // no network or broadcast address
	start := h.Sum32() % usable
	for i := uint32(0); i < usable; i++ {
		off := 1 + (start+i)%usable
		cand := make(net.IP, 4)
		binary.BigEndian.PutUint32(cand, base+off)
		if _, taken := used.ipOwner(cand.String()); !taken {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = cand.String(), []string{cand.String()}
			return nil
		}
	}
	return serviceInvalid(svc, "spec.clusterIP", fmt.Sprintf("no free ClusterIP left in %s", serviceCIDR))
}

// allocateNodePorts gives every port of a NodePort service a node port: the
// requested one if free, the one it had before (old) if any, else a free one
// picked like a ClusterIP.
func allocateNodePorts(svc, old *v1.Service, used serviceAddresses) error {
	if svc.Spec.Type != v1.ServiceTypeNodePort {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
		return nil
	}
	mine := map[int32]bool{}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.NodePort == 0 && old != nil {
			for _, op := range old.Spec.Ports {
				if op.NodePort != 0 && op.Name == p.Name && op.Protocol == p.Protocol {
					p.NodePort = op.NodePort
				}
			}
		}
		if p.NodePort == 0 {
			continue
		}
		field := fmt.Sprintf("spec.ports[%d].nodePort", i)
		if owner, ok := used.portOwner(p.NodePort); ok || mine[p.NodePort] {
			if !ok {
				owner = "another port of this service"
			}
			return serviceInvalid(svc, field, fmt.Sprintf("%s: Invalid value: %d: provided port is already allocated (to %s)", field, p.NodePort, owner))
		}
		mine[p.NodePort] = true
	}
	h := fnv.New32a()
	h.Write([]byte(v1.Key(svc.Namespace, svc.Name)))
	span := uint32(NodePortMax - NodePortMin + 1)
	next := h.Sum32() % span
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		for tries := uint32(0); p.NodePort == 0; tries++ {
			if tries == span {
				return serviceInvalid(svc, fmt.Sprintf("spec.ports[%d].nodePort", i), "no free node port left in 30000-32767")
			}
			cand := int32(NodePortMin + next%span)
			next++
			if _, taken := used.portOwner(cand); !taken && !mine[cand] {
				p.NodePort = cand
				mine[cand] = true
			}
		}
	}
	return nil
}
