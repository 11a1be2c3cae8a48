package node

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// statusServer answers pod status PATCHes; hold, when set, decides per
// request whether to block it until released.
type statusServer struct {
	mu       sync.Mutex
	inflight map[string]int // by pod name
	total    int
	maxTotal int
	maxPod   int
	got      map[string][]string // phases received, by pod name
	// fail answers this many requests with 500 first.
	fail    int
	release chan struct{}
	// arrived gets the pod name of every request as it arrives.
	arrived chan string
}

func newStatusServer(blocking bool) *statusServer {
	s := &statusServer{inflight: map[string]int{}, got: map[string][]string{}, arrived: make(chan string, 64)}
	if blocking {
		s.release = make(chan struct{})
	}
	return s
}

func (s *statusServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// /api/v1/namespaces/ns/pods/<name>/status
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method != http.MethodPatch || len(parts) != 7 || parts[6] != "status" {
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	name := parts[5]
	var patch struct {
		Status v1.PodStatus `json:"status"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &patch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.inflight[name]++
	s.total++
	s.maxTotal = max(s.maxTotal, s.total)
	s.maxPod = max(s.maxPod, s.inflight[name])
	failing := s.fail > 0
	if failing {
		s.fail--
	}
	s.mu.Unlock()
	s.arrived <- name
	if s.release != nil {
		<-s.release
	}
	s.mu.Lock()
	s.inflight[name]--
	s.total--
	if !failing {
		s.got[name] = append(s.got[name], patch.Status.Phase)
	}
	s.mu.Unlock()
	if failing {
		http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":500}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v1.Pod{TypeMeta: v1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "ns"}})
}

// startStatusManager runs a status manager against srv until the test ends.
func startStatusManager(t *testing.T, srv *statusServer) *statusManager {
	t.Helper()
	ts := httptest.NewTLSServer(srv)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	cl, err := client.New(&client.Config{Servers: []string{ts.URL}, CertificateAuthorityData: caPEM, Token: "node", FailoverRounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := newStatusManager(cl, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if srv.release != nil {
			select {
			case <-srv.release:
			default:
				close(srv.release)
			}
		}
		<-done
		cl.CloseIdleConnections()
		ts.Close()
	})
	return m
}

func statusPod(name string) *v1.Pod {
	return &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "ns", UID: "uid-" + name}}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // poll cadence of a condition with a deadline
	}
}

func TestStatusManagerSendsPodsConcurrently(t *testing.T) {
	for _, tc := range []struct {
		name string
		pods int
		want int // requests in flight at once
	}{
		{"fewer pods than senders", 3, 3},
		{"as many as senders", statusSenders, statusSenders},
		{"more pods than senders", 3 * statusSenders, statusSenders},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newStatusServer(true)
			m := startStatusManager(t, srv)
			for i := range tc.pods {
				m.set(statusPod(string(rune('a'+i))), v1.PodStatus{Phase: v1.PodRunning})
			}
			// Every request blocks: want of them must be in flight
			// together, and never more.
			for range tc.want {
				select {
				case <-srv.arrived:
				case <-time.After(10 * time.Second):
					srv.mu.Lock()
					n := srv.total
					srv.mu.Unlock()
					t.Fatalf("%d requests in flight at once, want %d", n, tc.want)
				}
			}
			srv.mu.Lock()
			if srv.total != tc.want {
				t.Errorf("%d requests in flight, want %d", srv.total, tc.want)
			}
			srv.mu.Unlock()
			close(srv.release)
			waitFor(t, "every status sent", func() bool {
				srv.mu.Lock()
				defer srv.mu.Unlock()
				return len(srv.got) == tc.pods
			})
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if srv.maxTotal != tc.want || srv.maxPod != 1 {
				t.Errorf("at most %d requests in flight, %d for one pod; want %d and 1", srv.maxTotal, srv.maxPod, tc.want)
			}
			for name, got := range srv.got {
				if len(got) != 1 {
					t.Errorf("pod %s: statuses %v, want one", name, got)
				}
			}
		})
	}
}

func TestStatusManagerOnePodInOrder(t *testing.T) {
	srv := newStatusServer(true)
	m := startStatusManager(t, srv)
	pod := statusPod("web")
	m.set(pod, v1.PodStatus{Phase: v1.PodPending})
	<-srv.arrived
	// Newer statuses while the first is in flight: only the newest is
	// sent, after the first's answer.
	m.set(pod, v1.PodStatus{Phase: v1.PodRunning})
	m.set(pod, v1.PodStatus{Phase: v1.PodSucceeded})
	select {
	case <-srv.arrived:
		t.Fatal("a second status of the pod was sent while the first was in flight")
	case <-time.After(50 * time.Millisecond): // a negative check: nothing may arrive
	}
	close(srv.release)
	waitFor(t, "the newest status sent", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.got["web"]) == 2
	})
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if got := srv.got["web"]; got[0] != v1.PodPending || got[1] != v1.PodSucceeded || srv.maxPod != 1 {
		t.Errorf("statuses %v with up to %d in flight, want [Pending Succeeded] one at a time", got, srv.maxPod)
	}
}

func TestStatusManagerRetriesFailures(t *testing.T) {
	srv := newStatusServer(false)
	srv.fail = 1
	m := startStatusManager(t, srv)
	m.set(statusPod("web"), v1.PodStatus{Phase: v1.PodRunning})
	waitFor(t, "the status sent after a failure", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.got["web"]) == 1
	})
	// The server has the status before the manager has its answer: wait
	// for the manager to record it as acknowledged.
	waitFor(t, "the status acknowledged", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		_, busy := m.inflight[statusPod("web").UID]
		return m.sent[statusPod("web").UID] != nil && !busy
	})
	// An acknowledged status is not sent again.
	m.set(statusPod("web"), v1.PodStatus{Phase: v1.PodRunning})
	m.mu.Lock()
	n := len(m.pending)
	m.mu.Unlock()
	if n != 0 {
		t.Errorf("%d statuses pending after the same status was set again, want 0", n)
	}
}

// TestStatusManagerForgetsPodTornDownInFlight tears a pod down while its
// status is in flight: the answer must not leave the pod's last status
// behind (a node that runs many short pods kept one per pod for ever).
func TestStatusManagerForgetsPodTornDownInFlight(t *testing.T) {
	srv := newStatusServer(true)
	m := startStatusManager(t, srv)
	pod := statusPod("web")
	m.set(pod, v1.PodStatus{Phase: v1.PodSucceeded})
	<-srv.arrived
	m.forget(pod.UID)
	close(srv.release)
	waitFor(t, "the answer to the send in flight", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		_, busy := m.inflight[pod.UID]
		return !busy
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, kept := m.sent[pod.UID]; kept || len(m.pending) != 0 {
		t.Errorf("after the pod was forgotten: sent holds it %v, %d pending; want neither", kept, len(m.pending))
	}
}
