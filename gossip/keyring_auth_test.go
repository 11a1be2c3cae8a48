package gossip

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestVerifyCommand(t *testing.T) {
	ca := newTestCA(t)
	master := ca.signer(t, "orch-master", MasterOrganization)
	now := time.Now()
	cmd := keyCommand{ID: "id1", From: "m1", To: "n1", Op: "install", Key: "k", IssuedAt: now.UnixNano()}
	good, err := master.sign(cmd)
	if err != nil {
		t.Fatal(err)
	}
	tampered := func() []byte {
		var sc signedCommand
		if err := json.Unmarshal(good, &sc); err != nil {
			t.Fatal(err)
		}
		sc.Command = []byte(strings.Replace(string(sc.Command), `"op":"install"`, `"op":"remove"`, 1))
		b, _ := json.Marshal(sc)
		return b
	}()
	signedBy := func(s *Signer) []byte {
		b, err := s.sign(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name  string
		msg   []byte
		roots bool
		want  string // error substring; "" accepts
	}{
		{"a master's command", good, true, ""},
		{"no CA to verify with", good, false, "no CA"},
		{"a node's certificate", signedBy(ca.signer(t, "system:node:n1", "system:nodes")), true, "not a master"},
		{"another CA's master", signedBy(newTestCA(t).signer(t, "orch-master", MasterOrganization)), true, "certificate"},
		{"a changed command", tampered, true, "does not verify"},
		{"garbage", []byte("{"), true, "decode"},
		{"no certificate", []byte(`{"command":"e30=","chain":[],"sig":""}`), true, "carries 0 certificates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roots := ca.pool
			if !tt.roots {
				roots = nil
			}
			got, err := verifyCommand(roots, tt.msg, now)
			if tt.want == "" {
				if err != nil || got.ID != "id1" || got.To != "n1" || got.Op != "install" {
					t.Fatalf("verify: %+v, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("verify: err %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestReplayCache(t *testing.T) {
	now := time.Now()
	var c replayCache
	cmd := &keyCommand{ID: "a", IssuedAt: now.UnixNano()}
	if err := c.admit(cmd, now); err != nil {
		t.Fatalf("first: %v", err)
	}
	if err := c.admit(cmd, now.Add(time.Second)); err == nil || !strings.Contains(err.Error(), "replay") {
		t.Fatalf("replay: %v", err)
	}
	if err := c.admit(&keyCommand{ID: "b", IssuedAt: now.Add(-commandWindow - time.Second).UnixNano()}, now); err == nil {
		t.Fatal("a stale command was admitted")
	}
	if err := c.admit(&keyCommand{ID: "c", IssuedAt: now.Add(commandWindow + time.Second).UnixNano()}, now); err == nil {
		t.Fatal("a command from the future was admitted")
	}
	// Once a command is too old to pass the window, forgetting it is safe.
	later := now.Add(3 * commandWindow)
	c.admit(&keyCommand{ID: "d", IssuedAt: later.UnixNano()}, later)
	c.mu.Lock()
	_, kept := c.seen["a"]
	c.mu.Unlock()
	if kept {
		t.Fatal("the cache keeps commands past their window")
	}
}
