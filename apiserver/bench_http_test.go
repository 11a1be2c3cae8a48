package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"orch.io/orch/cluster"
	"orch.io/orch/fsm"
)

// fsmBackend is a Backend committing each command at once to a local FSM,
// after fsm.Verify as cluster.Apply does: the API path of a write without
// the raft log and its transport.
type fsmBackend struct {
	mu    sync.Mutex
	fsm   *fsm.FSM
	index uint64
}

func newFSMBackend(b *testing.B) *fsmBackend {
	b.Helper()
	f, err := fsm.New(0)
	if err != nil {
		b.Fatal(err)
	}
	return &fsmBackend{fsm: f}
}

func (f *fsmBackend) Apply(_ context.Context, cmd []byte) (any, error) {
	if err := fsm.Verify(cmd); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	return f.fsm.Apply(&raft.Log{Index: f.index, Term: 1, Type: raft.LogCommand, Data: cmd}), nil
}

func (f *fsmBackend) ReadBarrier(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.index, nil
}

func (f *fsmBackend) Store() *fsm.Store { return f.fsm.Store() }

func (f *fsmBackend) Members() (string, []cluster.Member, error) { return "m1", nil, nil }

func (f *fsmBackend) InternalHandler() http.Handler { return http.NotFoundHandler() }

func (f *fsmBackend) ChangeMembership(context.Context, cluster.MembershipRequest) error {
	return errors.New("not a cluster")
}

// BenchmarkServeCreate measures a pod create through the API server's
// handler (ServeHTTP with a real request as the HTTP server hands it
// over: authentication, the request pools, routing, the create path,
// fsm.Verify, the local FSM's apply and the response), for the 1 KiB
// pod of `make bench` under a new name each time, as the admin.
func BenchmarkServeCreate(b *testing.B) {
	const token = "bench-admin-token"
	s, err := New(Config{AdminToken: token}, newFSMBackend(b))
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	post := func(path string, body []byte) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("User-Agent", "orchbench/v1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := post("/api/v1/namespaces", []byte(`{"metadata":{"name":"default"}}`)); w.Code != http.StatusCreated {
		b.Fatalf("create namespace: %d %s", w.Code, w.Body)
	}
	// A new name each time, written into the body in place.
	p := benchPod()
	p.Name = "web-00000000"
	body, err := json.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	at := bytes.Index(body, []byte(p.Name)) + len("web-")
	path := "/api/v1/namespaces/default/pods"
	n := 0
	reportCPU(b, func() {
		n++
		var nb [20]byte
		name := strconv.AppendInt(nb[:0], int64(n), 10)
		copy(body[at+8-len(name):at+8], name)
		if w := post(path, body); w.Code != http.StatusCreated {
			b.Fatalf("create pod: %d %s", w.Code, w.Body)
		}
	})
}
