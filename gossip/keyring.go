package gossip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	v1 "orch.io/orch/api/v1"
)

// DefaultKeyringTimeout bounds how long a keyring operation waits for the
// members' answers when Config.KeyringTimeout is zero.
const DefaultKeyringTimeout = 5 * time.Second

// messageBuffer is the capacity of the user message inbox.
const messageBuffer = 256

// User message kinds: the first byte of a memberlist user message.
const (
	msgKeyCommand byte = 'k'
	msgKeyAnswer  byte = 'a'
)

// keyAnswer is a member's answer to a keyring command. Answers are not
// signed: any key holder could forge one, which only misreports the
// outcome to the admin, never changes a keyring.
type keyAnswer struct {
	ID      string   `json:"id"`
	From    string   `json:"from"`
	Error   string   `json:"error,omitempty"`
	Keys    []string `json:"keys,omitempty"`
	Primary string   `json:"primary,omitempty"`
}

// loadKeyring builds the keyring Start gives memberlist: the keyring file
// when it exists, else Config.Key alone.
func (g *Pool) loadKeyring() (*memberlist.Keyring, error) {
	keys := [][]byte{slices.Clone(g.cfg.Key)}
	if g.cfg.KeyringFile != "" {
		saved, err := LoadKeyring(g.cfg.KeyringFile)
		if err != nil {
			return nil, err
		}
		if saved != nil {
			keys = saved
			g.logger.Info("gossip keyring loaded", "file", g.cfg.KeyringFile, "keys", len(keys))
		}
	}
	kr, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	return kr, nil
}

func (g *Pool) ring() (*memberlist.Keyring, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.keyring == nil {
		return nil, errors.New("gossip is not started")
	}
	return g.keyring, nil
}

// LocalKeys returns this member's keys (base64), the primary first.
func (g *Pool) LocalKeys() ([]string, error) {
	kr, err := g.ring()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range kr.GetKeys() {
		out = append(out, EncodeKey(k))
	}
	return out, nil
}

// applyKeyOp runs one keyring operation on this member and persists the
// result. It answers with the keys for a list.
func (g *Pool) applyKeyOp(op, encoded string) keyAnswer {
	var a keyAnswer
	kr, err := g.ring()
	if err != nil {
		a.Error = err.Error()
		return a
	}
	var key []byte
	if op != v1.KeyringList {
		if key, err = ParseKey(encoded); err != nil {
			a.Error = err.Error()
			return a
		}
	}
	switch op {
	case v1.KeyringList:
	case v1.KeyringInstall:
		err = kr.AddKey(key)
	case v1.KeyringUse:
		if !slices.ContainsFunc(kr.GetKeys(), func(k []byte) bool { return bytes.Equal(k, key) }) {
			err = errors.New("key is not installed")
		} else {
			err = kr.UseKey(key)
		}
	case v1.KeyringRemove:
		err = kr.RemoveKey(key)
	default:
		err = fmt.Errorf("unknown keyring operation %q", op)
	}
	if err == nil && op != v1.KeyringList && g.cfg.KeyringFile != "" {
		err = SaveKeyring(g.cfg.KeyringFile, kr.GetKeys())
	}
	if err != nil {
		a.Error = err.Error()
		return a
	}
	if op != v1.KeyringList {
		g.logger.Info("gossip keyring changed", "op", op, "keys", len(kr.GetKeys()))
	}
	for _, k := range kr.GetKeys() {
		a.Keys = append(a.Keys, EncodeKey(k))
	}
	a.Primary = EncodeKey(kr.GetPrimaryKey())
	return a
}

// KeyringOp runs a keyring operation (v1.KeyringList, ...Install, ...Use,
// ...Remove) on every alive member of the pool and collects the answers,
// as Serf's KeyManager: first on this member, which must be a master (it
// signs the commands); a key this member refuses (unknown for use, primary
// for remove, malformed) is an Invalid error and nothing is sent. Then each
// other member gets a command signed for it alone, applies it, persists its
// keyring and answers; members that do not answer within KeyringTimeout
// (or ctx) are listed in NoAnswer.
func (g *Pool) KeyringOp(ctx context.Context, op, key string) (*v1.GossipKeyringResponse, error) {
	switch op {
	case v1.KeyringList, v1.KeyringInstall, v1.KeyringUse, v1.KeyringRemove:
	default:
		return nil, v1.NewBadRequest(fmt.Sprintf("unknown keyring operation %q", op))
	}
	if op != v1.KeyringList {
		if _, err := ParseKey(key); err != nil {
			return nil, v1.NewInvalid("GossipKeyring", "", []v1.StatusCause{{Type: "FieldValueInvalid", Field: "key", Message: "key: Invalid value: " + err.Error()}})
		}
	}
	ml, err := g.list()
	if err != nil {
		return nil, v1.NewServiceUnavailable(err.Error())
	}
	if g.cfg.Signer == nil {
		return nil, v1.NewServiceUnavailable("this member has no master certificate to sign keyring commands with")
	}
	g.opMu.Lock()
	defer g.opMu.Unlock()

	self := g.cfg.Name
	local := g.applyKeyOp(op, key)
	if local.Error != "" && op != v1.KeyringList {
		return nil, v1.NewInvalid("GossipKeyring", "", []v1.StatusCause{{Type: "FieldValueInvalid", Field: "key", Message: "key: Invalid value: " + local.Error}})
	}
	answers := map[string]keyAnswer{self: local}
	var targets []*memberlist.Node
	for _, n := range ml.Members() {
		if n.Name != self {
			targets = append(targets, n)
		}
	}
	wait, cancel := context.WithTimeout(ctx, g.cfg.KeyringTimeout)
	defer cancel()

	// Each target gets its own command; answers come back through
	// NotifyMsg to the channel registered under the command's ID.
	ch := make(chan keyAnswer, len(targets))
	expect := map[string]string{} // command ID -> member
	var sendWG sync.WaitGroup
	var sendMu sync.Mutex
	sendErrs := map[string]error{}
	for _, n := range targets {
		id, err := newCommandID()
		if err != nil {
			return nil, err
		}
		msg, err := g.cfg.Signer.sign(keyCommand{ID: id, From: self, To: n.Name, Op: op, Key: key, IssuedAt: time.Now().UnixNano()})
		if err != nil {
			return nil, v1.NewInternalError(err)
		}
		expect[id] = n.Name
		g.pendMu.Lock()
		g.pending[id] = ch
		g.pendMu.Unlock()
		sendWG.Add(1)
		go func(n *memberlist.Node) {
			defer sendWG.Done()
			if err := ml.SendReliable(n, append([]byte{msgKeyCommand}, msg...)); err != nil {
				sendMu.Lock()
				sendErrs[n.Name] = err
				sendMu.Unlock()
			}
		}(n)
	}
	defer func() {
		g.pendMu.Lock()
		for id := range expect {
			delete(g.pending, id)
		}
		g.pendMu.Unlock()
	}()
	for len(answers) < len(targets)+1 {
		select {
		case a := <-ch:
			// Only the member a command went to may answer it.
			if name, ok := expect[a.ID]; ok && name == a.From {
				answers[a.From] = a
			}
			continue
		case <-wait.Done():
		}
		break
	}
	sendWG.Wait()

	res := &v1.GossipKeyringResponse{NumMembers: len(targets) + 1}
	for _, n := range targets {
		if _, ok := answers[n.Name]; !ok {
			res.NoAnswer = append(res.NoAnswer, n.Name)
			if err := sendErrs[n.Name]; err != nil {
				g.logger.Warn("keyring command not delivered", "peer", n.Name, "err", err)
			}
		}
	}
	slices.Sort(res.NoAnswer)
	for name, a := range answers {
		res.NumResponses++
		if a.Error != "" {
			res.NumErrors++
			if res.Messages == nil {
				res.Messages = map[string]string{}
			}
			res.Messages[name] = a.Error
			continue
		}
		if op == v1.KeyringList {
			if res.Keys == nil {
				res.Keys, res.PrimaryKeys = map[string]int{}, map[string]int{}
			}
			for _, k := range a.Keys {
				res.Keys[k]++
			}
			if a.Primary != "" {
				res.PrimaryKeys[a.Primary]++
			}
		}
	}
	g.logger.Info("gossip keyring operation", "op", op, "members", res.NumMembers, "answers", res.NumResponses,
		"errors", res.NumErrors, "no_answer", res.NoAnswer)
	return res, nil
}

// offerMessage queues a user message for serveMessages without blocking.
func (g *Pool) offerMessage(b []byte) {
	if len(b) == 0 {
		return
	}
	select {
	case g.inbox <- bytes.Clone(b): // memberlist may reuse b
	default:
		g.logger.Warn("gossip message inbox full: dropping a message", "size", cap(g.inbox))
	}
}

// serveMessages handles the user messages until Shutdown.
func (g *Pool) serveMessages() {
	for {
		select {
		case <-g.done:
			return
		case b := <-g.inbox:
			switch b[0] {
			case msgKeyCommand:
				g.handleCommand(b[1:])
			case msgKeyAnswer:
				g.handleAnswer(b[1:])
			default:
				g.logger.Debug("unknown gossip message", "kind", b[0])
			}
		}
	}
}

// handleCommand verifies a keyring command, applies it and answers its
// sender. A command that is not signed by a master, not meant for this
// member, stale or replayed is refused and logged, and gets no answer.
func (g *Pool) handleCommand(b []byte) {
	now := time.Now()
	cmd, err := verifyCommand(g.cfg.Roots, b, now)
	if err == nil && cmd.To != g.cfg.Name {
		err = fmt.Errorf("keyring command is for %q, not this member", cmd.To)
	}
	if err == nil {
		err = g.replays.admit(cmd, now)
	}
	if err != nil {
		g.logger.Warn("refused a keyring command", "err", err)
		return
	}
	a := g.applyKeyOp(cmd.Op, cmd.Key)
	a.ID, a.From = cmd.ID, g.cfg.Name
	body, err := json.Marshal(a)
	if err != nil {
		g.logger.Error("encode keyring answer", "err", err)
		return
	}
	ml, err := g.list()
	if err != nil {
		return
	}
	for _, n := range ml.Members() {
		if n.Name == cmd.From {
			if err := ml.SendReliable(n, append([]byte{msgKeyAnswer}, body...)); err != nil {
				g.logger.Warn("send keyring answer", "to", cmd.From, "err", err)
			}
			return
		}
	}
	g.logger.Warn("keyring command from a master not in the pool: no answer sent", "from", cmd.From)
}

// handleAnswer delivers an answer to the operation waiting for it.
func (g *Pool) handleAnswer(b []byte) {
	var a keyAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		g.logger.Warn("unreadable keyring answer", "err", err)
		return
	}
	g.pendMu.Lock()
	ch := g.pending[a.ID]
	g.pendMu.Unlock()
	if ch == nil {
		return // late, or not ours
	}
	select {
	case ch <- a:
	default: // more answers than commands: a forgery; drop it
	}
}
