package gossip

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Gossip roles: masters advertise their API address, nodes advertise nothing.
const (
	RoleMaster = "master"
	RoleNode   = "node"
)

// KeySize is the size of the pool's AES-256 key (memberlist SecretKey).
const KeySize = 32

// DefaultEventBuffer is the size of the Events channel when
// Config.EventBuffer is zero.
const DefaultEventBuffer = 256

// Config configures one member of the gossip pool that masters and
// nodes share.
type Config struct {
	// Name is the member's unique name: the master's or the node's name.
	Name string
	// BindAddr is the IP:port to listen on, TCP and UDP; port 0 picks a
	// free one (the same for both).
	BindAddr string
	// AdvertiseAddr, optional, is the IP:port the others should dial. With
	// a BindAddr port of 0 only its IP is used: the bound port is advertised.
	AdvertiseAddr string
	// Key is the 32-byte AES key that encrypts all gossip (required): pki's
	// gossip.key. It is the whole keyring unless KeyringFile exists.
	Key []byte
	// KeyringFile, optional, persists the keyring (KeyringFileName in the
	// member's state directory): read at Start instead of Key when it
	// exists, written after every keyring change.
	KeyringFile string
	// Signer signs the keyring commands this member sends; only masters
	// have one (their TLS certificate, O=orch:masters).
	Signer *Signer
	// Roots verifies the keyring commands this member receives (the
	// cluster CA). Without it every keyring command is refused.
	Roots *x509.CertPool
	// KeyringTimeout bounds how long a keyring operation waits for the
	// members' answers (default DefaultKeyringTimeout).
	KeyringTimeout time.Duration
	// Role is RoleMaster or RoleNode.
	Role string
	// APIAddr is a master's API base URL (https://host:port); empty for nodes.
	APIAddr string
	// Logger receives the pool's logs, memberlist's own included.
	Logger *slog.Logger
	// EventBuffer is the capacity of the Events channel (default
	// DefaultEventBuffer).
	EventBuffer int

	// ProbeInterval, ProbeTimeout, GossipInterval and SuspicionMult tune
	// failure detection; zero keeps memberlist's LAN defaults (1 s, 500 ms,
	// 200 ms, 4). A failed member is declared dead about
	// SuspicionMult*max(1,log10(n))*ProbeInterval after it is first suspected.
	ProbeInterval, ProbeTimeout, GossipInterval time.Duration
	SuspicionMult                               int
}

// MemberState is a gossip member's state as this member sees it.
type MemberState string

// Member states. memberlist v0.5.4 does not expose a member's suspicion
// (memberlist issue #293: Node.State is never set), so suspect members are
// reported alive; StateSuspect is kept for when it does.
const (
	MemberAlive   MemberState = "alive"
	MemberSuspect MemberState = "suspect"
	MemberDead    MemberState = "dead"
	MemberLeft    MemberState = "left"
)

// Member is one member of the pool.
type Member struct {
	// Name is the member's name (a master's or a node's).
	Name string
	// Addr is its gossip address (IP:port).
	Addr string
	// Role is RoleMaster or RoleNode (empty if its metadata is unreadable).
	Role string
	// APIAddr is a master's API base URL.
	APIAddr string
	// State is the member's state.
	State MemberState
}

// EventType says what happened to a member.
type EventType string

// Gossip event types.
const (
	// EventJoin: a member joined (or came back after dead or left).
	EventJoin EventType = "join"
	// EventUpdate: a member's metadata changed.
	EventUpdate EventType = "update"
	// EventLeave: a member left gracefully (Leave).
	EventLeave EventType = "leave"
	// EventFail: a member stopped answering probes and was declared dead.
	EventFail EventType = "fail"
)

// Event is one membership change.
type Event struct {
	Type   EventType
	Member Member
}

// memberMeta is the metadata each member publishes (memberlist node meta,
// at most memberlist.MetaMaxSize bytes).
type memberMeta struct {
	Role string `json:"role"`
	API  string `json:"api,omitempty"`
	// Leaving is published just before a graceful leave, so that the
	// others can tell it from a failure (see Pool.Leave).
	Leaving bool `json:"leaving,omitempty"`
}

// Pool is this process's member of the memberlist pool. Masters publish
// their API address in their metadata, so every member learns the masters
// from gossip. memberlist's callbacks run under its lock: they only record
// the change in the view and offer an event to a buffered channel, dropping
// it (and counting the drop) when the channel is full; consumers repair
// dropped events with a full reconcile from Members.
type Pool struct {
	cfg    Config
	logger *slog.Logger
	events chan Event

	dropped atomic.Uint64
	leaving atomic.Bool
	stopped atomic.Bool // Shutdown was called

	// mu guards ml. It is never held while memberlist runs a callback
	// (Create already calls NotifyJoin for this member).
	mu       sync.Mutex
	ml       *memberlist.Memberlist
	starting bool

	viewMu   sync.Mutex
	deadTime time.Duration            // memberlist's GossipToTheDeadTime
	view     map[string]*memberRecord // every member a callback told us of

	keyring  *memberlist.Keyring // shared with memberlist; set by Start under mu
	inbox    chan []byte         // user messages, from NotifyMsg to serveMessages
	done     chan struct{}       // closed by Shutdown
	doneOnce sync.Once
	opMu     sync.Mutex // one keyring operation at a time
	replays  replayCache
	// pendMu guards pending: the answers awaited by the running operation.
	pendMu  sync.Mutex
	pending map[string]chan keyAnswer
}

// memberRecord is the view's entry for one member.
type memberRecord struct {
	member Member
	since  time.Time // when it became dead or left
}

// NewPool validates cfg and builds a member; Start creates its listeners.
func NewPool(cfg Config) (*Pool, error) {
	if cfg.Name == "" {
		return nil, errors.New("gossip config: a member name is required")
	}
	if len(cfg.Key) != KeySize {
		return nil, fmt.Errorf("gossip config: key is %d bytes, want %d", len(cfg.Key), KeySize)
	}
	switch cfg.Role {
	case RoleMaster:
		if cfg.APIAddr == "" {
			return nil, errors.New("gossip config: a master needs its API address")
		}
	case RoleNode:
		if cfg.APIAddr != "" {
			return nil, errors.New("gossip config: a node advertises no API address")
		}
	default:
		return nil, fmt.Errorf("gossip config: role %q, want %q or %q", cfg.Role, RoleMaster, RoleNode)
	}
	if _, _, err := splitIPPort(cfg.BindAddr, true); err != nil {
		return nil, fmt.Errorf("gossip config: bind address: %w", err)
	}
	if cfg.AdvertiseAddr != "" {
		if _, _, err := splitIPPort(cfg.AdvertiseAddr, false); err != nil {
			return nil, fmt.Errorf("gossip config: advertise address: %w", err)
		}
	}
	if cfg.ProbeInterval < 0 || cfg.ProbeTimeout < 0 || cfg.GossipInterval < 0 || cfg.SuspicionMult < 0 || cfg.EventBuffer < 0 {
		return nil, errors.New("gossip config: timings and sizes must not be negative")
	}
	if cfg.ProbeTimeout > 0 && cfg.ProbeInterval > 0 && cfg.ProbeTimeout >= cfg.ProbeInterval {
		return nil, fmt.Errorf("gossip config: probe timeout %v must be shorter than the probe interval %v", cfg.ProbeTimeout, cfg.ProbeInterval)
	}
	g := &Pool{cfg: cfg, view: map[string]*memberRecord{}}
	// The metadata must fit memberlist's limit, or memberlist panics.
	if meta, err := g.encodeMeta(true); err != nil {
		return nil, fmt.Errorf("gossip config: %w", err)
	} else if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("gossip config: metadata is %d bytes, more than memberlist's %d (API address too long?)", len(meta), memberlist.MetaMaxSize)
	}
	if cfg.EventBuffer == 0 {
		g.cfg.EventBuffer = DefaultEventBuffer
	}
	if cfg.KeyringTimeout <= 0 {
		g.cfg.KeyringTimeout = DefaultKeyringTimeout
	}
	g.inbox = make(chan []byte, messageBuffer)
	g.done = make(chan struct{})
	g.pending = map[string]chan keyAnswer{}
	g.events = make(chan Event, g.cfg.EventBuffer)
	g.logger = cfg.Logger
	if g.logger == nil {
		g.logger = slog.New(slog.DiscardHandler)
	}
	g.logger = g.logger.With("subsystem", "gossip", "member", cfg.Name)
	return g, nil
}

// splitIPPort parses IP:port. An empty host means all addresses when
// emptyHostOK. memberlist takes IP literals only.
func splitIPPort(s string, emptyHostOK bool) (string, int, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", s, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port", s)
	}
	if host == "" {
		if !emptyHostOK {
			return "", 0, fmt.Errorf("%q: an IP is required", s)
		}
		return "0.0.0.0", port, nil
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return "", 0, fmt.Errorf("%q: host must be an IP address", s)
	}
	return host, port, nil
}

func (g *Pool) encodeMeta(leaving bool) ([]byte, error) {
	b, err := json.Marshal(memberMeta{Role: g.cfg.Role, API: g.cfg.APIAddr, Leaving: leaving})
	if err != nil {
		return nil, fmt.Errorf("encode gossip metadata: %w", err)
	}
	return b, nil
}

// Start creates the memberlist: it binds the listeners and starts probing
// and gossiping (alone until Join). ctx is not retained.
func (g *Pool) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start gossip: %w", err)
	}
	g.mu.Lock()
	if g.ml != nil || g.starting {
		g.mu.Unlock()
		return errors.New("start gossip: already started")
	}
	g.starting = true
	g.mu.Unlock()
	mc := memberlist.DefaultLANConfig()
	mc.Name = g.cfg.Name
	mc.BindAddr, mc.BindPort, _ = splitIPPort(g.cfg.BindAddr, true)
	mc.AdvertisePort = mc.BindPort
	if g.cfg.AdvertiseAddr != "" {
		mc.AdvertiseAddr, mc.AdvertisePort, _ = splitIPPort(g.cfg.AdvertiseAddr, false)
	}
	keyring, err := g.loadKeyring()
	if err != nil {
		g.mu.Lock()
		g.starting = false
		g.mu.Unlock()
		return fmt.Errorf("start gossip: %w", err)
	}
	mc.Keyring = keyring // SecretKey stays nil, or memberlist would make it primary
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	if g.cfg.ProbeInterval > 0 {
		mc.ProbeInterval = g.cfg.ProbeInterval
	}
	if g.cfg.ProbeTimeout > 0 {
		mc.ProbeTimeout = g.cfg.ProbeTimeout
	}
	if g.cfg.GossipInterval > 0 {
		mc.GossipInterval = g.cfg.GossipInterval
	}
	if g.cfg.SuspicionMult > 0 {
		mc.SuspicionMult = g.cfg.SuspicionMult
	}
	mc.Delegate = delegate{g}
	mc.Events = eventDelegate{g}
	mc.Conflict = eventDelegate{g}
	mc.Logger = log.New(&memberlistLogWriter{logger: g.logger}, "", 0)
	g.viewMu.Lock()
	g.deadTime = mc.GossipToTheDeadTime
	g.viewMu.Unlock()
	ml, err := memberlist.Create(mc)
	g.mu.Lock()
	g.starting = false
	g.ml = ml // nil on error: Start may be retried
	if err == nil {
		g.keyring = keyring
	}
	g.mu.Unlock()
	if err != nil {
		return fmt.Errorf("start gossip on %s: %w", g.cfg.BindAddr, err)
	}
	go g.serveMessages()
	g.logger.Info("gossip started", "addr", ml.LocalNode().Address(), "role", g.cfg.Role)
	return nil
}

func (g *Pool) list() (*memberlist.Memberlist, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ml == nil {
		return nil, errors.New("gossip is not started")
	}
	return g.ml, nil
}

// Join joins the pool through any of seeds (gossip addresses, IP:port),
// retrying with backoff until one answers or ctx ends. It returns the number
// of seeds that answered. Seeds equal to LocalAddr are skipped; with none
// left Join returns 0 and no error (the first member of a pool has no one to
// join).
func (g *Pool) Join(ctx context.Context, seeds []string) (int, error) {
	ml, err := g.list()
	if err != nil {
		return 0, fmt.Errorf("join gossip: %w", err)
	}
	if g.stopped.Load() {
		return 0, errors.New("join gossip: already shut down")
	}
	self := ml.LocalNode().Address()
	var others []string
	for _, s := range seeds {
		if s = strings.TrimSpace(s); s != "" && s != self && s != g.cfg.BindAddr {
			others = append(others, s)
		}
	}
	if len(others) == 0 {
		return 0, nil
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		// A join may take up to memberlist's TCP timeout per seed: run it
		// aside so that ctx bounds the wait (a late success still joins).
		type result struct {
			n   int
			err error
		}
		done := make(chan result, 1)
		go func() {
			n, err := ml.Join(others)
			done <- result{n, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-ctx.Done():
			return 0, fmt.Errorf("join gossip via %v: %w", others, ctx.Err())
		}
		if r.n > 0 {
			g.logger.Info("joined gossip", "seeds", others, "answered", r.n, "attempts", attempt)
			return r.n, nil
		}
		err = r.err
		g.logger.Debug("gossip join failed; retrying", "seeds", others, "attempt", attempt, "err", err, "backoff", backoff)
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("join gossip via %v: %w (last attempt: %v)", others, ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// Members returns every member this one knows of, itself included, sorted
// by name: alive ones and those memberlist still remembers as dead or left
// (it forgets them after its GossipToTheDeadTime, 30 s by default).
func (g *Pool) Members() []Member {
	g.viewMu.Lock()
	defer g.viewMu.Unlock()
	now := time.Now()
	out := make([]Member, 0, len(g.view))
	for name, r := range g.view {
		if r.member.State == MemberDead || r.member.State == MemberLeft {
			if g.deadTime > 0 && now.Sub(r.since) > g.deadTime {
				delete(g.view, name)
				continue
			}
		}
		out = append(out, r.member)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// MasterClaims returns the API addresses that alive members claiming the
// master role publish, sorted. Any key holder can make such a claim: a node
// uses MasterDiscovery, which keeps only the claims the masters confirm.
func (g *Pool) MasterClaims() []string {
	var out []string
	for _, m := range g.Members() {
		if m.Role == RoleMaster && m.APIAddr != "" && (m.State == MemberAlive || m.State == MemberSuspect) {
			out = append(out, m.APIAddr)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Events returns the membership changes. The channel is buffered and never
// closed; when it is full, events are dropped (see Dropped).
func (g *Pool) Events() <-chan Event { return g.events }

// Dropped returns how many events were dropped because Events was full.
func (g *Pool) Dropped() uint64 { return g.dropped.Load() }

// LocalAddr returns the gossip address others dial to reach this member
// (IP:port): the port actually bound, on the advertised IP (the bind IP
// unless AdvertiseAddr is set or the bind IP is unspecified, when
// memberlist picks a private IP). Empty before Start.
func (g *Pool) LocalAddr() string {
	ml, err := g.list()
	if err != nil {
		return ""
	}
	return ml.LocalNode().Address()
}

// Leave leaves the pool gracefully: it first publishes that it is leaving,
// so the others report a "leave" rather than a "fail", then broadcasts the
// leave, each step waiting up to timeout. The member keeps answering until
// Shutdown.
func (g *Pool) Leave(timeout time.Duration) error {
	ml, err := g.list()
	if err != nil {
		return fmt.Errorf("leave gossip: %w", err)
	}
	if g.stopped.Load() {
		return errors.New("leave gossip: already shut down")
	}
	// memberlist v0.5.4 passes NotifyLeave a node whose State is never
	// StateLeft (memberlist issue #293), so the intent travels in the
	// metadata. Best effort: a member that misses it reports a fail.
	g.leaving.Store(true)
	if err := ml.UpdateNode(timeout); err != nil {
		g.logger.Warn("could not announce leaving before the leave", "err", err)
	}
	if err := ml.Leave(timeout); err != nil {
		return fmt.Errorf("leave gossip: %w", err)
	}
	g.logger.Info("left gossip")
	return nil
}

// Shutdown stops the member's listeners and background work without
// leaving (the others will see it fail). It is idempotent.
func (g *Pool) Shutdown() error {
	g.mu.Lock()
	ml := g.ml
	g.mu.Unlock()
	if ml == nil {
		return nil
	}
	g.stopped.Store(true)
	g.doneOnce.Do(func() { close(g.done) })
	if err := ml.Shutdown(); err != nil {
		return fmt.Errorf("shut down gossip: %w", err)
	}
	return nil
}

// record updates the view from a memberlist callback and offers the event.
// It never blocks.
func (g *Pool) record(typ EventType, n *memberlist.Node) {
	m := Member{Name: n.Name, Addr: n.Address(), State: MemberAlive}
	var meta memberMeta
	if err := json.Unmarshal(n.Meta, &meta); err != nil {
		g.logger.Warn("unreadable gossip metadata", "peer", n.Name, "err", err)
	}
	m.Role, m.APIAddr = meta.Role, meta.API
	switch typ {
	case EventLeave, EventFail:
		// Node.State is StateLeft for a graceful leave once memberlist
		// exports it (memberlist PR #321); until then the metadata says so.
		if n.State == memberlist.StateLeft || meta.Leaving {
			typ, m.State = EventLeave, MemberLeft
		} else {
			typ, m.State = EventFail, MemberDead
		}
	}
	g.viewMu.Lock()
	g.view[m.Name] = &memberRecord{member: m, since: time.Now()}
	g.viewMu.Unlock()
	select {
	case g.events <- Event{Type: typ, Member: m}:
	default:
		if g.dropped.Add(1) == 1 {
			g.logger.Warn("gossip event buffer full: dropping events until the consumer catches up", "size", cap(g.events))
		}
	}
	g.logger.Debug("gossip member changed", "event", typ, "peer", m.Name, "addr", m.Addr, "role", m.Role)
}

// delegate publishes the metadata and receives the keyring messages.
type delegate struct{ g *Pool }

func (d delegate) NodeMeta(limit int) []byte {
	b, err := d.g.encodeMeta(d.g.leaving.Load())
	if err != nil || len(b) > limit {
		// NewPool checked the size; an empty meta is still valid.
		return nil
	}
	return b
}

// NotifyMsg hands a user message (a keyring command or answer) to
// serveMessages; it must not block, so a full inbox drops the message.
func (d delegate) NotifyMsg(b []byte) { d.g.offerMessage(b) }

func (delegate) GetBroadcasts(int, int) [][]byte { return nil }
func (delegate) LocalState(bool) []byte          { return nil }
func (delegate) MergeRemoteState([]byte, bool)   {}

// eventDelegate receives memberlist's membership callbacks.
type eventDelegate struct{ g *Pool }

func (e eventDelegate) NotifyJoin(n *memberlist.Node)   { e.g.record(EventJoin, n) }
func (e eventDelegate) NotifyUpdate(n *memberlist.Node) { e.g.record(EventUpdate, n) }

// NotifyLeave covers both a graceful leave and a failure; record tells them apart.
func (e eventDelegate) NotifyLeave(n *memberlist.Node) { e.g.record(EventFail, n) }

// NotifyConflict reports two members using one name: the second is refused.
func (e eventDelegate) NotifyConflict(existing, other *memberlist.Node) {
	e.g.logger.Error("two gossip members use one name: the newer one is refused", "name", existing.Name,
		"existing", existing.Address(), "other", other.Address())
}

// memberlistLogWriter turns memberlist's log lines ("[LEVEL] memberlist: ...") into
// slog records.
type memberlistLogWriter struct{ logger *slog.Logger }

func (w *memberlistLogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\n"))
	level := slog.LevelInfo
	if strings.HasPrefix(line, "[") {
		if end := strings.IndexByte(line, ']'); end > 0 {
			switch line[1:end] {
			case "TRACE", "DEBUG":
				level = slog.LevelDebug
			case "WARN":
				level = slog.LevelWarn
			case "ERR", "ERROR":
				level = slog.LevelError
			}
			line = strings.TrimSpace(line[end+1:])
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	w.logger.Log(context.Background(), level, line, "source", "memberlist")
	return len(p), nil
}
