package agentserver

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moby/spdystream/spdy"
)

// recordConn is a net.Conn that keeps every write it is given.
type recordConn struct {
	net.Conn
	writes [][]byte
	fail   error
}

func (c *recordConn) Write(p []byte) (int, error) {
	if c.fail != nil {
		return 0, c.fail
	}
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func dataFrame(id uint32, n int, flags spdy.DataFlags) *spdy.DataFrame {
	return &spdy.DataFrame{StreamId: spdy.StreamId(id), Flags: flags, Data: bytes.Repeat([]byte{byte(id)}, n)}
}

// The bytes reach the connection unchanged, in one write per frame up to
// spdyCoalesceMax, and a larger frame as its header then its payload.
func TestFrameConnWritesWholeFrames(t *testing.T) {
	tests := []struct {
		name   string
		frames []spdy.Frame
		writes []int // sizes of the writes the connection sees
	}{
		{"one data frame", []spdy.Frame{dataFrame(1, 32<<10, 0)}, []int{8 + 32<<10}},
		{"empty data frame with FIN", []spdy.Frame{dataFrame(3, 0, spdy.DataFlagFin)}, []int{8}},
		{"small frames one by one", []spdy.Frame{dataFrame(1, 1, 0), dataFrame(3, 2, 0), dataFrame(1, 7, 0)}, []int{9, 10, 15}},
		{"control frames", []spdy.Frame{
			&spdy.PingFrame{Id: 7},
			&spdy.RstStreamFrame{StreamId: 5, Status: spdy.Cancel},
			&spdy.SynReplyFrame{StreamId: 1, Headers: http.Header{"Port": {"8080"}}},
			&spdy.GoAwayFrame{LastGoodStreamId: 9},
		}, nil},
		{"frame of the largest gathered size", []spdy.Frame{dataFrame(1, spdyCoalesceMax, 0)}, []int{8 + spdyCoalesceMax}},
		{"larger frame passes through", []spdy.Frame{dataFrame(1, spdyCoalesceMax+1, 0), dataFrame(3, 5, 0)}, []int{8, spdyCoalesceMax + 1, 13}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want bytes.Buffer
			plain, err := spdy.NewFramer(&want, nil)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recordConn{}
			fc := &frameConn{Conn: rec}
			framer, err := spdy.NewFramer(fc, nil)
			if err != nil {
				t.Fatal(err)
			}
			var frameSizes []int
			for _, f := range tt.frames {
				before := want.Len()
				if err := plain.WriteFrame(f); err != nil {
					t.Fatal(err)
				}
				frameSizes = append(frameSizes, want.Len()-before)
				if err := framer.WriteFrame(f); err != nil {
					t.Fatalf("write %T: %v", f, err)
				}
			}
			got := bytes.Join(rec.writes, nil)
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("the connection got %d bytes differing from the framer's %d", len(got), want.Len())
			}
			wantWrites := tt.writes
			if wantWrites == nil {
				wantWrites = frameSizes
			}
			var sizes []int
			for _, w := range rec.writes {
				sizes = append(sizes, len(w))
			}
			if len(sizes) != len(wantWrites) {
				t.Fatalf("write sizes %v, want %v", sizes, wantWrites)
			}
			for i := range sizes {
				if sizes[i] != wantWrites[i] {
					t.Fatalf("write sizes %v, want %v", sizes, wantWrites)
				}
			}
		})
	}
}

// A failed write of the connection is the frame's error.
func TestFrameConnWriteError(t *testing.T) {
	boom := errors.New("boom")
	fc := &frameConn{Conn: &recordConn{fail: boom}}
	framer, err := spdy.NewFramer(fc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := framer.WriteFrame(dataFrame(1, 100, 0)); !errors.Is(err, boom) {
		t.Fatalf("WriteFrame: %v, want %v", err, boom)
	}
}

// SPDY upgrades are served with whole-frame writes, WebSocket ones as they are.
func TestStreamWriter(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		wrapped bool
	}{
		{"spdy", map[string]string{"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}, true},
		{"websocket", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/portforward/default/p", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			_, wrapped := streamWriter(httptest.NewRecorder(), r).(spdyFrameWriter)
			if wrapped != tt.wrapped {
				t.Fatalf("wrapped %v, want %v", wrapped, tt.wrapped)
			}
		})
	}
}
