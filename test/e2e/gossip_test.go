package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/gossip"
	"orch.io/orch/pki"
	"orch.io/orch/test/harness"
)

// gossipEnv is a cluster of 3 masters and 2 nodes joined by gossip, on a
// test network, plus the PKI the test's own gossip members use.
type gossipEnv struct {
	t      *testing.T
	c      *harness.Cluster
	cl     *client.Client
	net    *harness.Net
	nodes  []*harness.Node
	bundle *pki.Bundle
}

func newGossipEnv(t *testing.T, masterArgs ...string) *gossipEnv {
	network := harness.NewNet(t)
	// memberlist's own LAN timings (probe 1 s, timeout 500 ms), not the
	// harness's faster ones: a loaded 2-core machine must not make members
	// suspect each other for reasons of its own.
	probe := []string{"--gossip-probe-interval", "1s", "--gossip-probe-timeout", "500ms"}
	c := startCluster(t, harness.Options{Net: network, Gossip: true, MasterArgs: append(append([]string{
		"--node-grace", "6s"}, probe...), masterArgs...)})
	e := &gossipEnv{t: t, c: c, cl: c.Client(), net: network}
	for _, name := range []string{"node-a", "node-b"} {
		e.nodes = append(e.nodes, c.StartNode(network, name, append([]string{"--heartbeat-interval", "1s"}, probe...)...))
	}
	e.waitReady(60 * time.Second)
	var err error
	if e.bundle, err = pki.Load(c.PKIDir); err != nil {
		t.Fatal(err)
	}
	return e
}

// readyNodes returns the names of the Ready nodes.
func (e *gossipEnv) readyNodes() ([]string, error) {
	ns, _, err := client.ListTyped[v1.Node](ctxT(e.t, 5*time.Second), e.cl, "nodes", "", client.ListOptions{})
	var ready []string
	for _, n := range ns {
		if r := n.Status.Condition(v1.NodeReady); r != nil && r.Status == v1.ConditionTrue {
			ready = append(ready, n.Name)
		}
	}
	slices.Sort(ready)
	return ready, err
}

func (e *gossipEnv) waitReady(timeout time.Duration) {
	e.t.Helper()
	waitFor(e.t, timeout, "both nodes Ready", func() (bool, string) {
		ready, err := e.readyNodes()
		return err == nil && len(ready) == len(e.nodes), fmt.Sprint(ready, err)
	})
}

// member starts an in-test gossip member on the host's address of the
// test network and joins it to the masters; t.Cleanup stops it.
func (e *gossipEnv) member(name, role, api string, key []byte, roots bool) *gossip.Pool {
	e.t.Helper()
	cfg := gossip.Config{Name: name, BindAddr: e.net.HostIP + ":0", Key: key, Role: role, APIAddr: api,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if roots {
		cfg.Roots = e.bundle.CAPool
	}
	g, err := gossip.NewPool(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := g.Start(ctxT(e.t, 10*time.Second)); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { g.Shutdown() })
	return g
}

func (e *gossipEnv) seeds() []string {
	var out []string
	for _, m := range e.c.Masters {
		out = append(out, m.GossipAddr)
	}
	return out
}

// logsContain counts the lines of every master's and node's log containing s.
func (e *gossipEnv) logsContain(s string) map[string]int {
	out := map[string]int{}
	paths := map[string]string{}
	for _, m := range e.c.Masters {
		paths[m.Name] = m.LogPath
	}
	for _, n := range e.nodes {
		paths[n.Name] = n.LogPath
	}
	for name, p := range paths {
		b, _ := os.ReadFile(p)
		if n := strings.Count(string(b), s); n > 0 {
			out[name] = n
		}
	}
	return out
}

// A member holding the gossip key that claims to be a master is never used
// by the nodes: the masters' Raft membership does not name it.
func TestGossipRogueMasterClaimIsIgnoredByNodes(t *testing.T) {
	parallel(t)
	e := newGossipEnv(t)
	// The rogue's "API": a listener that counts who connects.
	ln, err := net.Listen("tcp", e.net.HostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var dialed atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			dialed.Add(1)
			conn.Close()
		}
	}()
	rogue := e.member("m9", gossip.RoleMaster, "https://"+ln.Addr().String(), e.bundle.GossipKey, false)
	if _, err := rogue.Join(ctxT(t, 10*time.Second), e.seeds()); err != nil {
		t.Fatal(err)
	}
	// The rogue's address appears in a node's log only in the line that
	// ignores its claim.
	rogueAddr := ln.Addr().String()
	waitFor(t, 30*time.Second, "every node ignoring the rogue's claim", func() (bool, string) {
		got := e.logsContain("api=" + rogueAddr)
		for _, n := range e.nodes {
			if got[n.Name] != 1 {
				return false, fmt.Sprint(got)
			}
		}
		return true, ""
	})
	// Several rounds of the nodes' master refresh (every 2 s) later: the
	// rogue was never dialled, the claim was logged once, the nodes are Ready.
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		if n := dialed.Load(); n != 0 {
			t.Fatalf("the rogue's API address was dialled %d times", n)
		}
		time.Sleep(200 * time.Millisecond) // sampling, not synchronisation
	}
	for _, n := range e.nodes {
		b, _ := os.ReadFile(n.LogPath)
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, rogueAddr) {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 || !strings.Contains(lines[0], "ignoring a gossip member that claims to be a master") || !strings.Contains(lines[0], "member=m9") {
			t.Fatalf("%s's log lines naming the rogue's address: %q; want the one ignoring it", n.Name, lines)
		}
	}
	e.waitReady(10 * time.Second)
}

// keyringStep runs `orchctl gossip keyring OP KEY` and checks that every
// one of want members did it.
func (e *gossipEnv) keyringStep(want int, op, key string) {
	e.t.Helper()
	out, errOut, err := e.c.Orchctl("", "gossip", "keyring", op, key)
	if err != nil {
		e.t.Fatalf("orchctl gossip keyring %s: %v\n%s%s", op, err, out, errOut)
	}
	if wantOut := fmt.Sprintf("%s: done on %d of %d members\n", op, want, want); out != wantOut {
		e.t.Fatalf("orchctl gossip keyring %s: %q, want %q", op, out, wantOut)
	}
}

// keyringList runs `orchctl gossip keyring list -o json` through master i.
func (e *gossipEnv) keyringList(i int) *v1.GossipKeyringResponse {
	e.t.Helper()
	res, err := e.c.Client(i).GossipKeyring(ctxT(e.t, 15*time.Second))
	if err != nil {
		e.t.Fatalf("keyring list via %s: %v", e.c.Masters[i].Name, err)
	}
	return res
}

// keyringLists runs keyringList through every master at once. A list waits
// up to the keyring timeout (5 s) for a member that does not answer, such
// as the impostor below, so asking the masters one after another would add
// those waits up.
func (e *gossipEnv) keyringLists() []*v1.GossipKeyringResponse {
	e.t.Helper()
	n := len(e.c.Masters)
	res, errs := make([]*v1.GossipKeyringResponse, n), make([]error, n)
	ctx := ctxT(e.t, 15*time.Second)
	var wg sync.WaitGroup
	for i := range n {
		cl := e.c.Client(i)
		wg.Go(func() { res[i], errs[i] = cl.GossipKeyring(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			e.t.Fatalf("keyring list via %s: %v", e.c.Masters[i].Name, err)
		}
	}
	return res
}

// Done-when 5: install a new key, use it, remove the old one, on a live
// cluster; no member is lost on the way, and a member holding only the old
// key is refused afterwards. The new keyring survives a node's restart.
func TestGossipKeyringRotationLosesNoMember(t *testing.T) {
	parallel(t)
	e := newGossipEnv(t)
	oldKey := gossip.EncodeKey(e.bundle.GossipKey)
	nk := make([]byte, gossip.KeySize)
	rand.Read(nk)
	newKey := gossip.EncodeKey(nk)

	// An observer member records every failure or leave it sees.
	observer := e.member("observer", gossip.RoleNode, "", e.bundle.GossipKey, true)
	var mu sync.Mutex
	var lost []string
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case ev := <-observer.Events():
				if ev.Type == gossip.EventFail || ev.Type == gossip.EventLeave {
					mu.Lock()
					lost = append(lost, fmt.Sprintf("%s %s", ev.Type, ev.Member.Name))
					mu.Unlock()
				}
			}
		}
	}()
	if _, err := observer.Join(ctxT(t, 10*time.Second), e.seeds()); err != nil {
		t.Fatal(err)
	}
	const members = 6               // 3 masters, 2 nodes, the observer
	var failedBefore map[string]int // "as failed" lines before the rotation
	everyone := []string{"m1", "m2", "m3", "node-a", "node-b", "observer"}
	checkAll := func(when string) {
		t.Helper()
		mu.Lock()
		l := slices.Clone(lost)
		mu.Unlock()
		if len(l) > 0 {
			t.Fatalf("%s: the observer saw members go: %v", when, l)
		}
		for i := range e.c.Masters {
			if res := e.keyringList(i); res.NumMembers != members || res.NumResponses != members || len(res.NoAnswer) != 0 {
				t.Fatalf("%s: %s's view: %+v", when, e.c.Masters[i].Name, res)
			}
		}
		var names []string
		for _, m := range observer.Members() {
			if m.State == gossip.MemberAlive {
				names = append(names, m.Name)
			}
		}
		if !slices.Equal(names, everyone) {
			t.Fatalf("%s: alive members %v, want %v", when, names, everyone)
		}
		if got := e.logsContain("as failed"); !maps.Equal(got, failedBefore) {
			t.Fatalf("%s: members declared failed: %v (before the rotation: %v)", when, got, failedBefore)
		}
		if ready, err := e.readyNodes(); err != nil || len(ready) != 2 {
			t.Fatalf("%s: Ready nodes %v, %v", when, ready, err)
		}
	}
	waitFor(t, 20*time.Second, "every master sees 6 members", func() (bool, string) {
		for i := range e.c.Masters {
			if res := e.keyringList(i); res.NumMembers != members || res.NumResponses != members {
				return false, fmt.Sprintf("%s: %+v", e.c.Masters[i].Name, res)
			}
		}
		return true, ""
	})
	failedBefore = e.logsContain("as failed")
	checkAll("before")
	if res := e.keyringList(0); res.Keys[oldKey] != members || res.PrimaryKeys[oldKey] != members {
		t.Fatalf("before: %+v", res)
	}

	e.keyringStep(members, "install", newKey)
	checkAll("after install")
	e.keyringStep(members, "use", newKey)
	checkAll("after use")
	if res := e.keyringList(1); res.Keys[oldKey] != members || res.Keys[newKey] != members || res.PrimaryKeys[newKey] != members {
		t.Fatalf("after use: %+v", res)
	}
	e.keyringStep(members, "remove", oldKey)
	checkAll("after remove")
	res := e.keyringList(2)
	if len(res.Keys) != 1 || res.Keys[newKey] != members || res.PrimaryKeys[newKey] != members {
		t.Fatalf("after remove: %+v", res)
	}
	// Membership keeps working under the new key alone for many probe rounds.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		checkAll("within 5 s after remove")
		time.Sleep(500 * time.Millisecond) // sampling, not synchronisation
	}

	// A member still holding only the old key is refused.
	stale := e.member("stale", gossip.RoleNode, "", e.bundle.GossipKey, true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	n, err := stale.Join(ctx, e.seeds())
	cancel()
	if err == nil || n != 0 {
		t.Fatalf("a member with the removed key joined: %d, %v", n, err)
	}
	for _, m := range observer.Members() {
		if m.Name == "stale" {
			t.Fatalf("the stale member is in the pool: %+v", m)
		}
	}

	// The new keyring survives a node's restart: its keyring file, not the
	// old pki key, is what it joins with.
	nb := e.nodes[1]
	b, err := os.ReadFile(nb.StateDir + "/" + gossip.KeyringFileName)
	if err != nil {
		t.Fatal(err)
	}
	var saved []string
	if err := json.Unmarshal(b, &saved); err != nil || !slices.Equal(saved, []string{newKey}) {
		t.Fatalf("node-b's keyring file: %s (%v)", b, err)
	}
	nb.Kill()
	nb.Start()
	waitFor(t, 60*time.Second, "node-b back in the pool and Ready", func() (bool, string) {
		for i := range e.c.Masters {
			if res := e.keyringList(i); res.NumResponses != members || res.Keys[newKey] != members {
				return false, fmt.Sprintf("%s: %+v", e.c.Masters[i].Name, res)
			}
		}
		ready, err := e.readyNodes()
		return err == nil && len(ready) == 2, fmt.Sprint(ready, err)
	})
}

// A member holding the gossip key that gossips under the name of a node
// whose agent died does not keep the node Ready, nor its pods from being
// evicted: only the node's own heartbeats through the API count. It runs
// alone (no t.Parallel): gossip's failure detection on a loaded machine
// marks live members suspect, which this test reads as the impostor's doing.
func TestGossipImpostorCannotKeepADeadNodeAlive(t *testing.T) {
	// The impostor can take the victim's name only once the pool has
	// forgotten the victim's member: gossip declares it dead within seconds,
	// then forgets it after memberlist's 30 s GossipToTheDeadTime, 40 s or
	// more after the cut (72 s on a slow machine). So the victim's gossip is
	// cut first while its agent lives and heartbeats, and the agent is killed
	// only once the impostor is in: the eviction timeout then runs wholly
	// with the impostor gossiping, however long the pool took to forget.
	const eviction = 30 * time.Second
	e := newGossipEnv(t, "--node-eviction-timeout", eviction.String())
	victim := e.nodes[1]
	createPod(t, e.cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "on-victim", Namespace: "default"},
		Spec: v1.PodSpec{NodeName: victim.Name, TerminationGracePeriodSeconds: int64p(1),
			Containers: []v1.Container{{Name: "c", Image: "busybox", ImagePullPolicy: v1.PullNever, Command: []string{"sleep", "100000"}}}}})
	cut := time.Now()
	harness.DropPort(t, victim.NetNS, 7946)

	// Every master sees the victim's member dead: 3 masters and node-a left.
	for i := range e.c.Masters {
		waitFor(t, 60*time.Second, "gossip declaring the victim dead", func() (bool, string) {
			res := e.keyringList(i)
			return res.NumMembers == 4 && !slices.Contains(res.NoAnswer, victim.Name), fmt.Sprintf("%s: %+v", e.c.Masters[i].Name, res)
		})
	}

	// The impostor takes the victim's name once the pool has forgotten the
	// dead member (memberlist refuses a new address for a name it still
	// remembers): the masters then see "node-b" alive, at the impostor's
	// address, since the victim's gossip is cut.
	impostor := e.member(victim.Name, gossip.RoleNode, "", e.bundle.GossipKey, false)
	// The impostor does not answer keyring commands (it has no CA): a
	// master that lists it as silent sees it as an alive member.
	seesImpostor := func(i int, res *v1.GossipKeyringResponse) (bool, string) {
		return slices.Contains(res.NoAnswer, victim.Name), fmt.Sprintf("%s: %+v", e.c.Masters[i].Name, res)
	}
	// Every master sees it, asked all at once (each list waits out the
	// impostor's silence); ok is false, with the first that does not, if
	// one does not.
	allSeeImpostor := func() (bool, string) {
		for i, res := range e.keyringLists() {
			if ok, state := seesImpostor(i, res); !ok {
				return false, state
			}
		}
		return true, ""
	}
	// Generous: memberlist forgets a dead member only once its probe round
	// passes it after GossipToTheDeadTime, and the eviction no longer races it.
	waitFor(t, 2*time.Minute, "a master seeing the impostor as "+victim.Name, func() (bool, string) {
		if _, err := impostor.Join(ctxT(t, 5*time.Second), e.seeds()); err != nil {
			return false, err.Error()
		}
		return seesImpostor(0, e.keyringList(0))
	})
	waitFor(t, time.Minute, "every master seeing the impostor", allSeeImpostor)
	t.Logf("the impostor is in the pool %v after the cut", time.Since(cut).Round(time.Second))
	// The victim heartbeats through the API all along: still Ready.
	waitFor(t, 30*time.Second, "the victim Ready with its gossip cut", func() (bool, string) {
		ready, err := e.readyNodes()
		return err == nil && slices.Contains(ready, victim.Name), fmt.Sprint(ready, err)
	})

	killed := time.Now()
	victim.Kill()
	waitFor(t, 30*time.Second, "the victim NotReady with the impostor gossiping", func() (bool, string) {
		ready, err := e.readyNodes()
		return err == nil && !slices.Contains(ready, victim.Name), fmt.Sprint(ready, err)
	})

	// The victim's pod is evicted after the eviction timeout, counted from
	// its last heartbeat, while the impostor keeps gossiping; the victim
	// stays NotReady all along.
	waitFor(t, time.Until(killed.Add(eviction+40*time.Second)), "the victim's pod evicted", func() (bool, string) {
		ready, err := e.readyNodes()
		if err != nil || slices.Contains(ready, victim.Name) {
			t.Fatalf("the victim is Ready again (%v, %v) with only the impostor gossiping", ready, err)
		}
		var p v1.Pod
		err = e.cl.Get(ctxT(t, 5*time.Second), "pods", "default", "on-victim", &p)
		return v1.IsNotFound(err), fmt.Sprint(err)
	})
	// The silence counts from the last heartbeat, up to 1 s before the kill.
	if took := time.Since(killed); took < eviction-time.Second {
		t.Fatalf("the pod was evicted %v after the kill, before the %v eviction timeout", took, eviction)
	}
	if ok, state := allSeeImpostor(); !ok {
		t.Fatalf("the impostor left the pool before the eviction: %s", state)
	}
}
