package gossip

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type staticMembers []Member

func (s staticMembers) Members() []Member { return s }

// fakeMembership answers with masters (or err) and counts the readings
// and the servers each went through.
type fakeMembership struct {
	mu      sync.Mutex
	masters []ConfirmedMaster
	err     error
	calls   int
	via     [][]string
}

func (f *fakeMembership) fetch(_ context.Context, servers []string) ([]ConfirmedMaster, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.via = append(f.via, slices.Clone(servers))
	return f.masters, f.err
}

// warnCounter counts the Warn records whose message contains substr.
func warnCounter(substr string) (*slog.Logger, func() int) {
	var mu sync.Mutex
	n := 0
	l := slog.New(&recordHandler{record: func(r slog.Record) {
		if r.Level == slog.LevelWarn && strings.Contains(r.Message, substr) {
			mu.Lock()
			n++
			mu.Unlock()
		}
	}})
	return l, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func master(name, api string) Member {
	return Member{Name: name, Role: RoleMaster, APIAddr: api, State: MemberAlive}
}

func TestMasterDiscoveryKeepsOnlyConfirmedClaims(t *testing.T) {
	membership := []ConfirmedMaster{{"m1", "127.0.0.1:6443"}, {"m2", "https://127.0.0.2:6443/"}, {"m3", ""}}
	tests := []struct {
		name    string
		members staticMembers
		want    []string
		ignored int // claims logged as ignored
	}{{
		name:    "masters in the membership",
		members: staticMembers{master("m1", "https://127.0.0.1:6443"), master("m2", "https://127.0.0.2:6443"), {Name: "n1", Role: RoleNode, State: MemberAlive}},
		want:    []string{"https://127.0.0.1:6443", "https://127.0.0.2:6443"},
	}, {
		name:    "a rogue claiming the master role",
		members: staticMembers{master("m1", "https://127.0.0.1:6443"), master("rogue", "https://127.0.0.9:6443")},
		want:    []string{"https://127.0.0.1:6443"},
		ignored: 1,
	}, {
		name:    "a rogue using a master's name with its own address",
		members: staticMembers{master("m2", "https://127.0.0.9:6443")},
		want:    nil,
		ignored: 1,
	}, {
		name:    "a master with no registered API address",
		members: staticMembers{master("m3", "https://127.0.0.3:6443")},
		ignored: 1,
	}, {
		name:    "a dead master",
		members: staticMembers{{Name: "m1", Role: RoleMaster, APIAddr: "https://127.0.0.1:6443", State: MemberDead}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeMembership{masters: membership}
			logger, ignored := warnCounter("ignoring a gossip member")
			d := NewMasterDiscovery(tt.members, f.fetch, logger)
			for range 3 {
				got, err := d.MasterAPIs(context.Background(), nil)
				if err != nil || !slices.Equal(got, tt.want) {
					t.Fatalf("MasterAPIs: %v, %v; want %v", got, err, tt.want)
				}
			}
			if got := ignored(); got != tt.ignored {
				t.Fatalf("%d ignored claims logged, want %d (once each)", got, tt.ignored)
			}
		})
	}
}

func TestMasterDiscoveryReadsTheMembershipSparingly(t *testing.T) {
	f := &fakeMembership{masters: []ConfirmedMaster{{"m1", "127.0.0.1:6443"}}}
	members := staticMembers{master("m1", "https://127.0.0.1:6443"), master("rogue", "https://127.0.0.9:6443")}
	d := NewMasterDiscovery(members, f.fetch, nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return now }
	ask := func() []string {
		t.Helper()
		got, err := d.MasterAPIs(context.Background(), []string{"https://127.0.0.1:6443"})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	ask()
	if f.calls != 1 || !slices.Equal(f.via[0], []string{"https://127.0.0.1:6443", "https://127.0.0.9:6443"}) {
		t.Fatalf("first reading: %d calls via %v; want 1 via the known server first", f.calls, f.via)
	}
	now = now.Add(membershipRetryAfter / 2)
	ask()
	if f.calls != 1 {
		t.Fatalf("an unconfirmed claim made the node read the membership again after %v", membershipRetryAfter/2)
	}
	now = now.Add(membershipRetryAfter)
	ask()
	if f.calls != 2 {
		t.Fatalf("%d calls, want a second reading after %v", f.calls, membershipRetryAfter)
	}
	// A failed reading keeps the last membership.
	f.err = errors.New("unreachable")
	now = now.Add(membershipMaxAge + time.Second)
	if got := ask(); !slices.Equal(got, []string{"https://127.0.0.1:6443"}) {
		t.Fatalf("after a failed reading: %v", got)
	}
}

func TestMasterDiscoveryWithoutAMembershipConfirmsNothing(t *testing.T) {
	f := &fakeMembership{err: errors.New("no master answers")}
	d := NewMasterDiscovery(staticMembers{master("m1", "https://127.0.0.1:6443")}, f.fetch, nil)
	if got, err := d.MasterAPIs(context.Background(), nil); err == nil || got != nil {
		t.Fatalf("MasterAPIs: %v, %v; want an error and nothing", got, err)
	}
}

// A rogue pool member holding the key claims the master role; a node's
// discovery over its real pool view never returns it.
func TestMasterDiscoveryIgnoresARogueMasterInTheRealPool(t *testing.T) {
	key := testGossipKey(t)
	m1, _, n1 := threeMembers(t, key, nil)
	rogue := startGossip(t, testGossipConfig(t, "rogue", RoleMaster, "https://127.0.0.9:6443", key))
	joinGossip(t, rogue, m1)
	waitFor(t, 10*time.Second, func() bool { return stateOf(n1, "rogue") == MemberAlive },
		func() string { return "n1 does not see the rogue: " + memberStates(n1.Members()) })
	if !slices.Contains(n1.MasterClaims(), "https://127.0.0.9:6443") {
		t.Fatalf("the rogue's claim is not in gossip: %v", n1.MasterClaims())
	}
	f := &fakeMembership{masters: []ConfirmedMaster{{"m1", "127.0.0.1:6443"}, {"m2", "127.0.0.2:6443"}}}
	logger, ignored := warnCounter("ignoring a gossip member")
	d := NewMasterDiscovery(n1, f.fetch, logger)
	got, err := d.MasterAPIs(context.Background(), nil)
	if err != nil || !slices.Equal(got, []string{"https://127.0.0.1:6443", "https://127.0.0.2:6443"}) {
		t.Fatalf("MasterAPIs: %v, %v", got, err)
	}
	if ignored() != 1 {
		t.Fatalf("%d ignored claims logged, want 1", ignored())
	}
}
