package cluster

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// newRaftTransport is the Raft transport over layer. It replicates with one
// AppendEntries at a time per follower (MaxRPCsInFlight 1), never pipelined:
// raft's pipeline (hashicorp/raft v1.7.3, hashicorp/raft#612) can wedge for
// good on a follower's rejected append — a follower whose disk filled, or
// that lost an entry — when the leader sends again before it notices the
// pipeline's decoder gave up: the send waits for the decoder, the decoder
// waits for a reader that is gone, and only the sender could close the
// pipeline. Heartbeats still flow, so no election heals it; that follower
// never receives another entry, and the leader's raft cannot shut down.
// Raft's own notes on MaxRPCsInFlight find pipelining of little use next
// to batching (MaxAppendEntries) outside high-latency links.
func newRaftTransport(layer raft.StreamLayer, logger hclog.Logger) *raft.NetworkTransport {
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 5, Timeout: 5 * time.Second, Logger: logger,
		MaxRPCsInFlight: 1,
	})
}

// tlsStreamLayer is a raft.StreamLayer over mutual TLS between masters
// that check each other's names (peers.go).
type tlsStreamLayer struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
	peers     *peerCheck
}

func newTLSStreamLayer(bind string, server, client *tls.Config, peers *peerCheck) (*tlsStreamLayer, error) {
	ln, err := tls.Listen("tcp", bind, peers.serverTLS(server))
	if err != nil {
		return nil, fmt.Errorf("listen raft on %s: %w", bind, err)
	}
	adv, err := net.ResolveTCPAddr("tcp", bind)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("resolve raft address %s: %w", bind, err)
	}
	if adv.Port == 0 {
		adv = ln.Addr().(*net.TCPAddr)
	}
	return &tlsStreamLayer{Listener: ln, advertise: adv, client: client, peers: peers}, nil
}

// Dial implements raft.StreamLayer: it reaches the server of the Raft
// configuration at address and accepts only that server's certificate.
func (t *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	want, ok := t.peers.serverAtRaftAddr(string(address))
	if !ok {
		return nil, fmt.Errorf("dial %s: no server of the raft configuration has this address", address)
	}
	d := &net.Dialer{Timeout: timeout}
	conn, err := tls.DialWithDialer(d, "tcp", string(address), t.peers.clientTLS(t.client, want))
	if err != nil {
		return nil, fmt.Errorf("dial master %s at %s: %w", want, address, err)
	}
	return conn, nil
}

// Addr implements net.Listener with the advertised address.
func (t *tlsStreamLayer) Addr() net.Addr { return t.advertise }
