package tables

import (
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

// leasePrinter prints Leases as Kubernetes' printLease.
var leasePrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Holder", "string", 0, "HolderIdentity contains the identity of the holder of a current lease."),
		ageColumn,
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		l := obj.(*v1.Lease)
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		return []any{l.Name, holder, age(l.CreationTimestamp, now)}, nil
	},
}

// endpointSlicePrinter prints EndpointSlices as Kubernetes'
// printEndpointSlice: the ports, and the first three addresses.
var endpointSlicePrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("AddressType", "string", 0, "Type of address carried by this EndpointSlice"),
		col("Ports", "string", 0, "Ports allowed by this EndpointSlice"),
		col("Endpoints", "string", 0, "Endpoints in this EndpointSlice"),
		ageColumn,
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		s := obj.(*v1.EndpointSlice)
		return []any{s.Name, s.AddressType, slicePorts(s.Ports), sliceEndpoints(s.Endpoints), age(s.CreationTimestamp, now)}, nil
	},
}

// slicePorts is Kubernetes' formatDiscoveryPorts.
func slicePorts(ports []v1.EndpointSlicePort) string {
	if len(ports) == 0 {
		return "<unset>"
	}
	var out []string
	for i, p := range ports {
		if i == 3 {
			return strings.Join(out, ",") + " + " + strconv.Itoa(len(ports)-3) + " more..."
		}
		if p.Port == nil {
			out = append(out, "<unset>")
			continue
		}
		out = append(out, strconv.Itoa(int(*p.Port)))
	}
	return strings.Join(out, ",")
}

// sliceEndpoints is Kubernetes' formatDiscoveryEndpoints.
func sliceEndpoints(eps []v1.Endpoint) string {
	var out []string
	total := 0
	for _, e := range eps {
		for _, a := range e.Addresses {
			if total < 3 {
				out = append(out, a)
			}
			total++
		}
	}
	switch {
	case total == 0:
		return "<unset>"
	case total > 3:
		return strings.Join(out, ",") + " + " + strconv.Itoa(total-3) + " more..."
	}
	return strings.Join(out, ",")
}
