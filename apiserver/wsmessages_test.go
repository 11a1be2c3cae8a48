package apiserver

import (
	"bytes"
	"errors"
	"net"
	"testing"
)

// recordConn is a net.Conn that keeps every write it is given.
type recordConn struct {
	net.Conn
	writes [][]byte
	closed bool
	fail   error
}

func (c *recordConn) Write(p []byte) (int, error) {
	if c.fail != nil {
		return 0, c.fail
	}
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (c *recordConn) Close() error { c.closed = true; return nil }

// wsFrame is a server (unmasked) WebSocket frame of opcode op.
func wsFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, byte(n))
	case n < 1<<16:
		out = append(out, 126, byte(n>>8), byte(n))
	default:
		out = append(out, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, payload...)
}

func split(b []byte, at ...int) [][]byte {
	var out [][]byte
	prev := 0
	for _, a := range at {
		out = append(out, b[prev:a])
		prev = a
	}
	return append(out, b[prev:])
}

// The bytes reach the connection unchanged: the handshake as written,
// then one write per finished message (as gorilla/websocket writes a
// large binary message: header, payload, empty final frame).
func TestWSMessageConnGathersMessages(t *testing.T) {
	answer := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
	big := bytes.Repeat([]byte{7}, 16<<10)
	bigHead := wsFrame(false, 2, big)[:4]
	msg := func(payload []byte) [][]byte {
		f := wsFrame(false, 2, payload)
		h := len(f) - len(payload)
		return [][]byte{f[:h], f[h:], wsFrame(true, 0, nil)}
	}
	huge := bytes.Repeat([]byte{9}, wsMessageMax+10)
	tests := []struct {
		name   string
		writes [][]byte
		want   [][]byte // the writes the connection sees
	}{
		{"handshake then a message", append([][]byte{answer}, msg(big)...),
			[][]byte{answer, append(append(bigHead, big...), wsFrame(true, 0, nil)...)}},
		{"handshake split across writes", append(split(answer, 10, len(answer)-2), wsFrame(true, 2, []byte("hi"))),
			append(split(answer, 10, len(answer)-2), wsFrame(true, 2, []byte("hi")))},
		{"handshake and a frame in one write", [][]byte{append(append([]byte{}, answer...), wsFrame(true, 2, []byte("x"))...)},
			[][]byte{answer, wsFrame(true, 2, []byte("x"))}},
		{"header split byte by byte", append([][]byte{answer}, split(wsFrame(true, 2, big), 1, 2, 3)...),
			[][]byte{answer, wsFrame(true, 2, big)}},
		{"control frame ends a held fragment", [][]byte{answer, wsFrame(false, 2, []byte("ab")), wsFrame(true, 9, nil)},
			[][]byte{answer, append(wsFrame(false, 2, []byte("ab")), wsFrame(true, 9, nil)...)}},
		{"64-bit length", [][]byte{answer, wsFrame(true, 2, huge)}, [][]byte{answer, wsFrame(true, 2, huge)}},
		{"more than wsMessageMax unfinished is written", [][]byte{answer, wsFrame(false, 2, huge)}, [][]byte{answer, wsFrame(false, 2, huge)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordConn{}
			c := newWSMessageConn(rec)
			for _, w := range tt.writes {
				if n, err := c.Write(w); err != nil || n != len(w) {
					t.Fatalf("Write: %d, %v", n, err)
				}
			}
			if len(rec.writes) != len(tt.want) {
				t.Fatalf("%d writes, want %d", len(rec.writes), len(tt.want))
			}
			for i := range tt.want {
				if !bytes.Equal(rec.writes[i], tt.want[i]) {
					t.Fatalf("write %d: %d bytes %q..., want %d bytes %q...", i, len(rec.writes[i]),
						rec.writes[i][:min(20, len(rec.writes[i]))], len(tt.want[i]), tt.want[i][:min(20, len(tt.want[i]))])
				}
			}
		})
	}
}

// Bytes held at Close are written before the connection closes.
func TestWSMessageConnCloseWritesHeld(t *testing.T) {
	rec := &recordConn{}
	c := newWSMessageConn(rec)
	answer := []byte("HTTP/1.1 101 Switching Protocols\r\n\r\n")
	part := wsFrame(false, 2, []byte("abc"))
	for _, w := range [][]byte{answer, part} {
		if _, err := c.Write(w); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.writes) != 1 {
		t.Fatalf("an unfinished message was written early: %d writes", len(rec.writes))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !rec.closed || len(rec.writes) != 2 || !bytes.Equal(rec.writes[1], part) {
		t.Fatalf("closed %v, writes %q", rec.closed, rec.writes)
	}
}

// A failed write of the connection is the caller's error.
func TestWSMessageConnWriteError(t *testing.T) {
	boom := errors.New("boom")
	c := newWSMessageConn(&recordConn{fail: boom})
	if _, err := c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n")); !errors.Is(err, boom) {
		t.Fatalf("Write: %v, want %v", err, boom)
	}
}
