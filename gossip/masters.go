package gossip

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// ConfirmedMaster is a master as the Raft membership names it, read
// through the API (GET /orch/v1/members).
type ConfirmedMaster struct {
	// Name is the master's Raft server ID, which is also its gossip name.
	Name string
	// APIAddr is its API address as registered (host:port or https://host:port).
	APIAddr string
}

// MembershipFunc reads the Raft membership through the API, trying servers
// (https URLs) in turn. The API's TLS certificate is verified against the
// cluster CA, so an answer comes from a master.
type MembershipFunc func(ctx context.Context, servers []string) ([]ConfirmedMaster, error)

// MemberSource is what MasterDiscovery reads claims from: a Pool.
type MemberSource interface {
	Members() []Member
}

// Refresh periods of MasterDiscovery: the membership is read again when it
// is older than membershipMaxAge, or sooner (at most every
// membershipRetryAfter) when a gossip member claims a master role the last
// reading did not confirm.
const (
	membershipMaxAge     = 30 * time.Second
	membershipRetryAfter = 5 * time.Second
	// maxRejectedLogged bounds the claims remembered as already logged.
	maxRejectedLogged = 1024
)

// MasterDiscovery gives a node the API addresses of the masters. Any key
// holder can publish master metadata in gossip, so a claim counts only when
// the masters' Raft membership, read through the API, names a master of
// that name at that API address; other claims are ignored (and logged once).
// The membership is first read through the claimed addresses themselves:
// the API's certificate, verified against the cluster CA, is what a rogue
// member cannot present.
type MasterDiscovery struct {
	src    MemberSource
	fetch  MembershipFunc
	logger *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	members   map[string]string // confirmed master name -> normalized API address
	fetchedAt time.Time         // last successful reading
	triedAt   time.Time         // last attempt
	rejected  map[string]bool   // claims already logged as ignored
}

// NewMasterDiscovery returns a discovery over src's claims, confirmed with fetch.
func NewMasterDiscovery(src MemberSource, fetch MembershipFunc, logger *slog.Logger) *MasterDiscovery {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &MasterDiscovery{src: src, fetch: fetch, logger: logger.With("subsystem", "master-discovery"),
		now: time.Now, rejected: map[string]bool{}}
}

// normalizeAPI reduces an API address to host:port.
func normalizeAPI(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "https://")
	return strings.TrimRight(s, "/")
}

// claim is one gossip member's master claim.
type claim struct{ name, api string }

func (d *MasterDiscovery) claims() []claim {
	var out []claim
	for _, m := range d.src.Members() {
		if m.Role == RoleMaster && m.APIAddr != "" && (m.State == MemberAlive || m.State == MemberSuspect) {
			out = append(out, claim{m.Name, normalizeAPI(m.APIAddr)})
		}
	}
	return out
}

// MasterAPIs returns the API base URLs (https://host:port, sorted) of the
// alive gossip members whose master claim the Raft membership confirms.
// known are addresses already trusted (the client's current servers); the
// membership is read through them first, then through the claims. An error
// means the membership could not be read and nothing is confirmed yet.
func (d *MasterDiscovery) MasterAPIs(ctx context.Context, known []string) ([]string, error) {
	claims := d.claims()
	d.mu.Lock()
	now := d.now()
	stale := d.members == nil || now.Sub(d.fetchedAt) > membershipMaxAge
	unconfirmed := false
	for _, c := range claims {
		if d.members[c.name] != c.api {
			unconfirmed = true
		}
	}
	refresh := stale || (unconfirmed && now.Sub(d.triedAt) > membershipRetryAfter)
	if refresh {
		d.triedAt = now
	}
	d.mu.Unlock()

	if refresh {
		var servers []string
		for _, s := range known {
			servers = append(servers, "https://"+normalizeAPI(s))
		}
		for _, c := range claims {
			servers = append(servers, "https://"+c.api)
		}
		servers = compactKeepOrder(servers)
		if len(servers) > 0 {
			ms, err := d.fetch(ctx, servers)
			if err != nil {
				d.mu.Lock()
				none := d.members == nil
				d.mu.Unlock()
				if none {
					return nil, fmt.Errorf("read the masters' membership: %w", err)
				}
				d.logger.Warn("read the masters' membership; keeping the last one", "err", err)
			} else {
				members := make(map[string]string, len(ms))
				for _, m := range ms {
					if m.APIAddr != "" {
						members[m.Name] = normalizeAPI(m.APIAddr)
					}
				}
				d.mu.Lock()
				d.members, d.fetchedAt = members, now
				d.mu.Unlock()
			}
		}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, c := range claims {
		if d.members != nil && d.members[c.name] == c.api {
			out = append(out, "https://"+c.api)
			continue
		}
		if d.members == nil {
			continue
		}
		if key := c.name + "\x00" + c.api; !d.rejected[key] && len(d.rejected) < maxRejectedLogged {
			d.rejected[key] = true
			d.logger.Warn("ignoring a gossip member that claims to be a master: the masters' Raft membership does not name it at that address",
				"member", c.name, "api", c.api)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// compactKeepOrder drops repeated strings, keeping the first of each.
func compactKeepOrder(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
