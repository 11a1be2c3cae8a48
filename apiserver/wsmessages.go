package apiserver

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"sync"
)

// wsMessageMax bounds what a wsMessageConn holds before it writes anyway.
const wsMessageMax = 256 << 10

// wsMessageConn hands the connection whole WebSocket messages. The
// port-forward tunnel (SPDY in WebSocket, k8s.io/apiserver's
// TunnelingHandler over gorilla/websocket) sends every chunk the proxy
// relays as a message of three writes: the frame header, the payload and
// an empty final frame; on a TLS connection each is a TLS record and a
// system call of its own. Gathered, the same bytes go in one write.
//
// The bytes are never changed or reordered, only held: the HTTP answer of
// the handshake passes through, and after it the frames are parsed and
// written when a final frame (FIN: the end of a message, or a control
// frame) is complete, when wsMessageMax bytes are held, or at Close. A
// writer that leaves a message unfinished would wait; the tunnel finishes
// each message in the call that starts it.
type wsMessageConn struct {
	net.Conn
	mu sync.Mutex
	// handshake is true until the HTTP answer's blank line has passed;
	// tail keeps the answer's last bytes to find it across writes.
	handshake bool
	tail      []byte
	hdr       []byte // the frame header being read
	remaining int64  // payload bytes of the current frame still to come
	fin       bool   // the current frame is final
	out       []byte // bytes held for the connection
}

func newWSMessageConn(c net.Conn) *wsMessageConn {
	return &wsMessageConn{Conn: c, handshake: true}
}

// Write takes the next bytes written to the connection.
func (c *wsMessageConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	if c.handshake {
		k := c.handshakeEnd(p)
		if _, err := c.Conn.Write(p[:k]); err != nil {
			return 0, err
		}
		p = p[k:]
	}
	for len(p) > 0 {
		if c.remaining == 0 && !c.headerDone() {
			c.hdr = append(c.hdr, p[0])
			c.out = append(c.out, p[0])
			p = p[1:]
			if !c.headerDone() {
				continue
			}
			c.remaining, c.fin = c.payloadLen(), c.hdr[0]&0x80 != 0
		} else {
			k := int(min(c.remaining, int64(len(p))))
			c.out = append(c.out, p[:k]...)
			c.remaining -= int64(k)
			p = p[k:]
		}
		if c.remaining == 0 && c.headerDone() { // a frame is complete
			c.hdr = c.hdr[:0]
			if c.fin {
				if err := c.flush(); err != nil {
					return 0, err
				}
			}
		}
	}
	if len(c.out) >= wsMessageMax {
		if err := c.flush(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// handshakeEnd returns how much of p belongs to the HTTP answer, and
// ends the handshake when its blank line is in p.
func (c *wsMessageConn) handshakeEnd(p []byte) int {
	held := len(c.tail)
	seen := append(c.tail, p...)
	if i := bytes.Index(seen, []byte("\r\n\r\n")); i >= 0 {
		c.handshake, c.tail = false, nil
		return i + 4 - held
	}
	c.tail = append(c.tail[:0], seen[max(0, len(seen)-3):]...)
	return len(p)
}

// headerDone reports whether c.hdr holds a whole frame header: two bytes,
// the extended length (2 or 8 bytes) and the masking key (4) if set.
func (c *wsMessageConn) headerDone() bool {
	if len(c.hdr) < 2 {
		return false
	}
	need := 2
	switch c.hdr[1] & 0x7f {
	case 126:
		need += 2
	case 127:
		need += 8
	}
	if c.hdr[1]&0x80 != 0 {
		need += 4
	}
	return len(c.hdr) >= need
}

// payloadLen reads the payload length of the complete header in c.hdr.
func (c *wsMessageConn) payloadLen() int64 {
	switch l := c.hdr[1] & 0x7f; l {
	case 126:
		return int64(c.hdr[2])<<8 | int64(c.hdr[3])
	case 127:
		var v int64
		for _, b := range c.hdr[2:10] {
			v = v<<8 | int64(b)
		}
		return v & (1<<63 - 1)
	default:
		return int64(l)
	}
}

// flush writes what is held.
func (c *wsMessageConn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.out)
	if cap(c.out) > 2*wsMessageMax {
		c.out = nil
	} else {
		c.out = c.out[:0]
	}
	return err
}

// Close writes what is held, then closes the connection.
func (c *wsMessageConn) Close() error {
	c.mu.Lock()
	ferr := c.flush()
	c.mu.Unlock()
	if err := c.Conn.Close(); err != nil {
		return err
	}
	if ferr != nil {
		return fmt.Errorf("write held bytes: %w", ferr)
	}
	return nil
}

// tunnelHijackable is hijackable whose connection gathers WebSocket
// messages (wsMessageConn), for the port-forward tunnel.
type tunnelHijackable struct {
	hijackable
}

func (h tunnelHijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := h.hijackable.Hijack()
	if err != nil {
		return nil, nil, err
	}
	return newWSMessageConn(conn), rw, nil
}
