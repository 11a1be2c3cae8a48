package node

import (
	"context"
	"errors"
	"net"
	"testing"

	"orch.io/orch/net/podnet"
)

// recordingRoutes is a RouteSetter that records each call.
type recordingRoutes struct {
	calls [][]podnet.Route
	err   error
}

func (r *recordingRoutes) SetRoutes(_ context.Context, routes []podnet.Route) error {
	r.calls = append(r.calls, routes)
	return r.err
}

func route(cidr, via string) podnet.Route {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		panic(err)
	}
	return podnet.Route{CIDR: n, Via: net.ParseIP(via)}
}

func TestRouteSyncAppliesChangesOnly(t *testing.T) {
	a := route("10.244.1.0/24", "192.168.0.2")
	b := route("10.244.2.0/24", "192.168.0.3")
	failure := errors.New("netlink: busy")
	type step struct {
		routes  []podnet.Route
		err     error // what SetRoutes answers
		applied bool
		wantErr bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		// A lone node has no routes; its heartbeats change nothing.
		{"no routes, repeated", []step{{nil, nil, true, false}, {nil, nil, false, false}, {[]podnet.Route{}, nil, false, false}}},
		{"same routes, repeated", []step{{[]podnet.Route{a}, nil, true, false}, {[]podnet.Route{route("10.244.1.0/24", "192.168.0.2")}, nil, false, false}}},
		{"a change", []step{{[]podnet.Route{a}, nil, true, false}, {[]podnet.Route{a, b}, nil, true, false}, {[]podnet.Route{a, b}, nil, false, false}}},
		{"back to none", []step{{[]podnet.Route{a}, nil, true, false}, {nil, nil, true, false}, {nil, nil, false, false}}},
		{"a failure is retried", []step{{[]podnet.Route{a}, failure, false, true}, {[]podnet.Route{a}, nil, true, false}, {[]podnet.Route{a}, nil, false, false}}},
		{"a failure after a sync is retried", []step{{nil, nil, true, false}, {[]podnet.Route{a}, failure, false, true}, {nil, nil, true, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rr := &recordingRoutes{}
			s := &routeSync{set: rr}
			calls := 0
			for i, st := range tc.steps {
				rr.err = st.err
				applied, err := s.sync(context.Background(), st.routes)
				if applied != st.applied || (err != nil) != st.wantErr {
					t.Fatalf("step %d: applied %v, err %v; want %v, error %v", i, applied, err, st.applied, st.wantErr)
				}
				if applied || err != nil {
					calls++
				}
				if len(rr.calls) != calls {
					t.Fatalf("step %d: %d SetRoutes calls, want %d", i, len(rr.calls), calls)
				}
			}
		})
	}
}
