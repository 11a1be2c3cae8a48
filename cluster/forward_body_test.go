package cluster

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
)

// oldFrames is how a follower framed a batch before frameCommands: the
// commands copied into one buffer.
func oldFrames(batch []*pendingForward, sent []int) []byte {
	size := 0
	for _, i := range sent {
		size += binary.MaxVarintLen64 + len(batch[i].cmd)
	}
	frames := make([]byte, 0, size)
	for _, i := range sent {
		frames = append(binary.AppendUvarint(frames, uint64(len(batch[i].cmd))), batch[i].cmd...)
	}
	return frames
}

// randomBatch is a batch of commands of lengths around the uvarint's
// edges, and a random choice of them that is sent.
func randomBatch(rng *rand.Rand) ([]*pendingForward, []int) {
	batch := make([]*pendingForward, 1+rng.IntN(20))
	var sent []int
	for i := range batch {
		n := []int{0, 1, 127, 128, 1200, 16383, 16384, 70000}[rng.IntN(8)] + rng.IntN(3)
		cmd := make([]byte, n)
		for j := range cmd {
			cmd[j] = byte(rng.Uint32())
		}
		batch[i] = &pendingForward{cmd: cmd}
		if rng.IntN(4) != 0 {
			sent = append(sent, i)
		}
	}
	if len(sent) == 0 {
		sent = []int{rng.IntN(len(batch))}
	}
	return batch, sent
}

// TestFrameCommandsMatchesCopying checks the frames a follower sends, and
// their length, against the copied frames on random batches, and that
// the leader splits them into the commands sent.
func TestFrameCommandsMatchesCopying(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 500 {
		batch, sent := randomBatch(rng)
		want := oldFrames(batch, sent)
		frames, size := frameCommands(batch, sent)
		got, err := io.ReadAll(&frames)
		if err != nil || !bytes.Equal(got, want) || size != int64(len(want)) {
			t.Fatalf("frames of %d bytes (size %d, %v), want the %d copied", len(got), size, err, len(want))
		}
		cmds, err := readFrames(got)
		if err != nil || len(cmds) != len(sent) {
			t.Fatalf("readFrames: %d commands (%v), want %d", len(cmds), err, len(sent))
		}
		for k, i := range sent {
			if !bytes.Equal(cmds[k], batch[i].cmd) {
				t.Fatalf("command %d differs", k)
			}
		}
	}
}

// TestForwardBodyOnTheWire sends a batch's frames as sendForwardBatch
// does and checks what the leader's handler gets: the copied frames'
// bytes with their Content-Length, not chunks, and GetBody's the same
// again.
func TestForwardBodyOnTheWire(t *testing.T) {
	type got struct {
		length   int64
		encoding []string
		body     []byte
	}
	seen := make(chan got, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := readRequestBody(r, 256<<20)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		seen <- got{r.ContentLength, r.TransferEncoding, body}
	}))
	defer srv.Close()
	rng := rand.New(rand.NewPCG(9, 10))
	for range 20 {
		batch, sent := randomBatch(rng)
		want := oldFrames(batch, sent)
		req, err := http.NewRequest(http.MethodPost, srv.URL+applyPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		setForwardBody(req, batch, sent)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		g := <-seen
		if g.length != int64(len(want)) || len(g.encoding) != 0 || !bytes.Equal(g.body, want) {
			t.Fatalf("leader got %d bytes, Content-Length %d, Transfer-Encoding %v; want the %d bytes copied",
				len(g.body), g.length, g.encoding, len(want))
		}
		again, err := req.GetBody()
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(again); err != nil || !bytes.Equal(b, want) {
			t.Fatalf("GetBody: %d bytes (%v), want the %d copied", len(b), err, len(want))
		}
	}
}

// BenchmarkForwardBody frames a batch of 64 commands of 1.2 KiB and
// writes the request as the transport does (into a connection's 4 KiB
// buffer): copied into one buffer behind a bytes.Reader (before) or as
// net.Buffers (frameCommands).
func BenchmarkForwardBody(b *testing.B) {
	batch := make([]*pendingForward, 64)
	sent := make([]int, len(batch))
	for i := range batch {
		batch[i] = &pendingForward{cmd: bytes.Repeat([]byte{byte(i)}, 1200)}
		sent[i] = i
	}
	for _, v := range []struct {
		name string
		set  func(req *http.Request)
	}{
		{"copy", func(req *http.Request) {
			frames := oldFrames(batch, sent)
			req.ContentLength = int64(len(frames))
			req.Body = io.NopCloser(bytes.NewReader(frames))
		}},
		{"buffers", func(req *http.Request) { setForwardBody(req, batch, sent) }},
	} {
		b.Run(fmt.Sprintf("body=%s", v.name), func(b *testing.B) {
			bw := bufio.NewWriterSize(io.Discard, 4096)
			b.ReportAllocs()
			before := processCPU(b)
			for b.Loop() {
				req, err := http.NewRequest(http.MethodPost, "https://leader"+applyPath, nil)
				if err != nil {
					b.Fatal(err)
				}
				v.set(req)
				if err := req.Write(bw); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}
