package gossip

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// keyringPool is three members with keyring files, signers and the CA:
// masters m1 and m2, node n1.
type keyringPool struct {
	ca         *testCA
	key        []byte
	m1, m2, n1 *Pool
	dirs       map[string]string
}

func startKeyringPool(t *testing.T) *keyringPool {
	t.Helper()
	kp := &keyringPool{ca: newTestCA(t), key: testGossipKey(t), dirs: map[string]string{}}
	master := kp.ca.signer(t, "orch-master", MasterOrganization)
	cfg := func(name, role, api string) Config {
		c := testGossipConfig(t, name, role, api, kp.key)
		kp.dirs[name] = t.TempDir()
		c.KeyringFile = filepath.Join(kp.dirs[name], KeyringFileName)
		c.Roots = kp.ca.pool
		c.KeyringTimeout = 5 * time.Second
		if role == RoleMaster {
			c.Signer = master
		}
		return c
	}
	kp.m1 = startGossip(t, cfg("m1", RoleMaster, "https://127.0.0.1:6443"))
	kp.m2 = startGossip(t, cfg("m2", RoleMaster, "https://127.0.0.2:6443"))
	kp.n1 = startGossip(t, cfg("n1", RoleNode, ""))
	joinGossip(t, kp.m2, kp.m1)
	joinGossip(t, kp.n1, kp.m1)
	for _, g := range []*Pool{kp.m1, kp.m2, kp.n1} {
		waitFor(t, 10*time.Second, func() bool { return memberStates(g.Members()) == threeAlive },
			func() string { return g.cfg.Name + " sees " + memberStates(g.Members()) })
	}
	return kp
}

func localKeys(t *testing.T, g *Pool) []string {
	t.Helper()
	keys, err := g.LocalKeys()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func keyringOp(t *testing.T, g *Pool, op, key string) *v1.GossipKeyringResponse {
	t.Helper()
	res, err := g.KeyringOp(testCtx(t, 10*time.Second), op, key)
	if err != nil {
		t.Fatalf("%s %s: %v", op, key, err)
	}
	if res.NumMembers != 3 || res.NumResponses != 3 || res.NumErrors != 0 || len(res.NoAnswer) != 0 {
		t.Fatalf("%s: %+v, want 3 clean answers", op, res)
	}
	return res
}

// allAlive fails unless every member sees all three alive.
func (kp *keyringPool) allAlive(t *testing.T, when string) {
	t.Helper()
	for _, g := range []*Pool{kp.m1, kp.m2, kp.n1} {
		if got := memberStates(g.Members()); got != threeAlive {
			t.Fatalf("%s: %s sees %s", when, g.cfg.Name, got)
		}
	}
}

func TestKeyringRotationAcrossThePool(t *testing.T) {
	kp := startKeyringPool(t)
	oldKey, newKey := EncodeKey(kp.key), EncodeKey(testGossipKey(t))

	res := keyringOp(t, kp.m1, v1.KeyringList, "")
	if res.Keys[oldKey] != 3 || res.PrimaryKeys[oldKey] != 3 || len(res.Keys) != 1 {
		t.Fatalf("list before: %+v", res)
	}
	keyringOp(t, kp.m1, v1.KeyringInstall, newKey)
	kp.allAlive(t, "after install")
	for _, g := range []*Pool{kp.m1, kp.m2, kp.n1} {
		if got := localKeys(t, g); !slices.Equal(got, []string{oldKey, newKey}) {
			t.Fatalf("%s keys after install: %v", g.cfg.Name, got)
		}
	}
	// Another master drives the next step: any master can.
	keyringOp(t, kp.m2, v1.KeyringUse, newKey)
	kp.allAlive(t, "after use")
	res = keyringOp(t, kp.m1, v1.KeyringList, "")
	if res.Keys[oldKey] != 3 || res.Keys[newKey] != 3 || res.PrimaryKeys[newKey] != 3 {
		t.Fatalf("list after use: %+v", res)
	}
	keyringOp(t, kp.m1, v1.KeyringRemove, oldKey)
	for _, g := range []*Pool{kp.m1, kp.m2, kp.n1} {
		if got := localKeys(t, g); !slices.Equal(got, []string{newKey}) {
			t.Fatalf("%s keys after remove: %v", g.cfg.Name, got)
		}
		saved, err := LoadKeyring(g.cfg.KeyringFile)
		if err != nil || len(saved) != 1 || EncodeKey(saved[0]) != newKey {
			t.Fatalf("%s keyring file: %v, %v", g.cfg.Name, saved, err)
		}
	}
	// Membership still works under the new key alone: probes and gossip
	// keep everyone alive past several suspicion timeouts.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		kp.allAlive(t, "after remove")
		time.Sleep(50 * time.Millisecond) // sampling, not synchronisation
	}

	// A member holding only the old key is refused.
	stale := startGossip(t, testGossipConfig(t, "stale", RoleNode, "", kp.key))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if n, err := stale.Join(ctx, []string{kp.m1.LocalAddr()}); err == nil || n != 0 {
		t.Fatalf("a member with the removed key joined: %d, %v", n, err)
	}

	// n1 restarts from its keyring file (its pki key is the old one).
	cfg := kp.n1.cfg
	if err := kp.n1.Shutdown(); err != nil {
		t.Fatal(err)
	}
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Name = "n1b"
	back := startGossip(t, cfg)
	joinGossip(t, back, kp.m1)
	if got := localKeys(t, back); !slices.Equal(got, []string{newKey}) {
		t.Fatalf("restarted member's keys: %v", got)
	}
}

func TestKeyringOpRefusesBadInputAndChangesNothing(t *testing.T) {
	kp := startKeyringPool(t)
	oldKey, unknown := EncodeKey(kp.key), EncodeKey(testGossipKey(t))
	tests := []struct {
		name, op, key string
		code          int32
		field         string
	}{
		{"not base64", v1.KeyringInstall, "!!", 422, "key"},
		{"wrong size", v1.KeyringInstall, EncodeKey([]byte("short")), 422, "key"},
		{"use of a key not installed", v1.KeyringUse, unknown, 422, "key"},
		{"remove of the primary key", v1.KeyringRemove, oldKey, 422, "key"},
		{"unknown operation", "rotate", unknown, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kp.m1.KeyringOp(testCtx(t, 10*time.Second), tt.op, tt.key)
			se := v1.AsStatusError(err)
			if err == nil || se.Status.Code != tt.code {
				t.Fatalf("err %v, want code %d", err, tt.code)
			}
			if tt.field != "" && (se.Status.Details == nil || len(se.Status.Details.Causes) == 0 || se.Status.Details.Causes[0].Field != tt.field) {
				t.Fatalf("status %+v does not name field %q", se.Status, tt.field)
			}
			for _, g := range []*Pool{kp.m1, kp.m2, kp.n1} {
				if got := localKeys(t, g); !slices.Equal(got, []string{oldKey}) {
					t.Fatalf("%s keys changed to %v", g.cfg.Name, got)
				}
			}
		})
	}
	// A node has no signer: it cannot even start an operation.
	if _, err := kp.n1.KeyringOp(testCtx(t, 10*time.Second), v1.KeyringInstall, unknown); err == nil {
		t.Fatal("a node ran a keyring operation")
	}
}

// A member that holds the gossip key but not a master certificate cannot
// change anyone's keyring: its commands are refused and unanswered.
func TestKeyringCommandsFromNonMastersAreRefused(t *testing.T) {
	kp := startKeyringPool(t)
	oldKey, rogueKey := EncodeKey(kp.key), EncodeKey(testGossipKey(t))
	for _, tc := range []struct {
		name   string
		signer *Signer
	}{
		{"a node certificate of the cluster CA", kp.ca.signer(t, "system:node:rogue", "system:nodes")},
		{"a master certificate of another CA", newTestCA(t).signer(t, "orch-master", MasterOrganization)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testGossipConfig(t, "rogue-"+strings.Fields(tc.name)[1], RoleMaster, "https://127.0.0.9:6443", kp.key)
			cfg.Signer, cfg.Roots, cfg.KeyringTimeout = tc.signer, kp.ca.pool, time.Second
			rogue := startGossip(t, cfg)
			joinGossip(t, rogue, kp.m1)
			res, err := rogue.KeyringOp(testCtx(t, 10*time.Second), v1.KeyringInstall, rogueKey)
			if err != nil {
				t.Fatal(err)
			}
			if res.NumResponses != 1 || !slices.Contains(res.NoAnswer, "m1") || !slices.Contains(res.NoAnswer, "m2") || !slices.Contains(res.NoAnswer, "n1") {
				t.Fatalf("rogue's operation: %+v; want only its own answer", res)
			}
			for _, g := range []*Pool{kp.m1, kp.m2, kp.n1} {
				if got := localKeys(t, g); !slices.Equal(got, []string{oldKey}) {
					t.Fatalf("%s installed the rogue's key: %v", g.cfg.Name, got)
				}
			}
			if err := rogue.Leave(time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A command captured from the pool and sent again (to its member, or to
// another one) is refused.
func TestKeyringCommandReplayIsRefused(t *testing.T) {
	kp := startKeyringPool(t)
	oldKey, newKey := EncodeKey(kp.key), EncodeKey(testGossipKey(t))
	master := kp.m1.cfg.Signer
	id, _ := newCommandID()
	msg, err := master.sign(keyCommand{ID: id, From: "m1", To: "n1", Op: v1.KeyringInstall, Key: newKey, IssuedAt: time.Now().UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	raw := append([]byte{msgKeyCommand}, msg...)
	kp.n1.handleCommand(raw[1:])
	if got := localKeys(t, kp.n1); !slices.Equal(got, []string{oldKey, newKey}) {
		t.Fatalf("n1 keys after a master's command: %v", got)
	}
	// The same bytes again, after the key was removed: a replay.
	kp.n1.keyring.RemoveKey(kp.n1.keyring.GetKeys()[1])
	kp.n1.handleCommand(raw[1:])
	if got := localKeys(t, kp.n1); !slices.Equal(got, []string{oldKey}) {
		t.Fatalf("n1 accepted a replayed command: %v", got)
	}
	// The same bytes to another member: not meant for it.
	kp.m2.handleCommand(raw[1:])
	if got := localKeys(t, kp.m2); !slices.Equal(got, []string{oldKey}) {
		t.Fatalf("m2 accepted a command for n1: %v", got)
	}
}
