package agentserver

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"sync"

	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
)

// SPDY/3.1 frames (control and data alike) start with an 8-byte header
// whose last three bytes are the length of the payload that follows.
const (
	spdyHeaderLen = 8
	// spdyCoalesceMax is the largest frame gathered into one write; the
	// payload of a larger one is written through after its header.
	spdyCoalesceMax = 1 << 20
)

// frameConn hands the connection whole SPDY frames. The SPDY library
// (moby/spdystream) writes a data frame as three writes (stream ID,
// flags and length, payload); on a TLS connection each is a TLS record
// and a system call of its own, and the masters' proxy passes each record
// on as it came. Gathering a frame into one write sends the same bytes in
// full records. Frames are written whole, one at a time (the library
// holds its write lock for a frame), so a frame's end is the only point a
// write has to reach the connection.
type frameConn struct {
	net.Conn
	mu      sync.Mutex
	buf     []byte
	through int // payload bytes still to pass through (a large frame)
}

// Write takes the next bytes of the frame stream; it writes to the
// connection when a frame is complete.
func (c *frameConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for len(p) > 0 {
		if c.through > 0 {
			k := min(c.through, len(p))
			w, err := c.Conn.Write(p[:k])
			n += w
			if err != nil {
				return n, err
			}
			c.through -= k
			p = p[k:]
			continue
		}
		if len(c.buf) < spdyHeaderLen {
			k := min(spdyHeaderLen-len(c.buf), len(p))
			c.buf = append(c.buf, p[:k]...)
			n += k
			p = p[k:]
			if len(c.buf) < spdyHeaderLen {
				return n, nil
			}
		}
		h := c.buf[:spdyHeaderLen]
		length := int(h[5])<<16 | int(h[6])<<8 | int(h[7])
		if length > spdyCoalesceMax {
			if _, err := c.Conn.Write(c.buf); err != nil {
				return n, err
			}
			c.buf, c.through = c.buf[:0], length
			continue
		}
		k := min(spdyHeaderLen+length-len(c.buf), len(p))
		c.buf = append(c.buf, p[:k]...)
		n += k
		p = p[k:]
		if len(c.buf) == spdyHeaderLen+length {
			_, err := c.Conn.Write(c.buf)
			c.buf = c.buf[:0]
			if cap(c.buf) > 4*spdyCoalesceMax/8 {
				c.buf = nil // a burst of large frames need not pin its buffer
			}
			if err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// spdyFrameWriter is a ResponseWriter whose hijacked connection is a
// frameConn: it is used for SPDY upgrades only.
type spdyFrameWriter struct {
	http.ResponseWriter
}

// Hijack hijacks the connection (the 101 answer is on it by then) and
// wraps it in a frameConn.
func (w spdyFrameWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	return &frameConn{Conn: conn}, rw, nil
}

// Unwrap gives http.ResponseController the underlying writer.
func (w spdyFrameWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// streamWriter returns the writer a streaming upgrade of r is served
// with: SPDY upgrades get whole-frame writes, WebSocket ones are left as
// they are.
func streamWriter(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	if wsstream.IsWebSocketRequest(r) {
		return w
	}
	return spdyFrameWriter{w}
}
