package cluster

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// tlsStreamLayer is a raft.StreamLayer over mutual TLS.
type tlsStreamLayer struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
}

func newTLSStreamLayer(bind string, server, client *tls.Config) (*tlsStreamLayer, error) {
	ln, err := tls.Listen("tcp", bind, server)
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
	return &tlsStreamLayer{Listener: ln, advertise: adv, client: client}, nil
}

// Dial implements raft.StreamLayer.
func (t *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	conn, err := tls.DialWithDialer(d, "tcp", string(address), t.client)
	if err != nil {
		return nil, err
	}
	return conn, nil
}

// Addr implements net.Listener with the advertised address.
func (t *tlsStreamLayer) Addr() net.Addr { return t.advertise }
