package node

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

func readVolumeFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	files := map[string]projectedFile{"token": {[]byte("t1"), 0o644}, "ca.crt": {[]byte("ca"), 0o644}, "sub/namespace": {[]byte("team"), 0o600}}
	if err := writeAtomic(dir, files, -1); err != nil {
		t.Fatal(err)
	}
	first, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	if readVolumeFile(t, dir, "token") != "t1" || readVolumeFile(t, dir, "sub/namespace") != "team" {
		t.Fatal("first write not visible through the links")
	}
	if st, _ := os.Stat(filepath.Join(dir, "sub/namespace")); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	// The same content changes nothing.
	if err := writeAtomic(dir, files, -1); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.Readlink(filepath.Join(dir, "..data")); again != first {
		t.Errorf("..data moved from %s to %s for the same content", first, again)
	}
	// An update swaps ..data to a new directory, removes the old one and
	// the links of names no longer there.
	delete(files, "sub/namespace")
	files["token"] = projectedFile{[]byte("t2"), 0o644}
	if err := writeAtomic(dir, files, -1); err != nil {
		t.Fatal(err)
	}
	second, _ := os.Readlink(filepath.Join(dir, "..data"))
	if second == first || readVolumeFile(t, dir, "token") != "t2" || readVolumeFile(t, dir, "ca.crt") != "ca" {
		t.Fatalf("update: ..data %s (was %s), token %q", second, first, readVolumeFile(t, dir, "token"))
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if fmt.Sprint(names) != fmt.Sprintf("[%s ..data ca.crt token]", second) {
		t.Errorf("volume holds %v", names)
	}
	for _, bad := range []string{"../x", "/abs", "a/../../b", ""} {
		if err := writeAtomic(dir, map[string]projectedFile{bad: {}}, -1); err == nil {
			t.Errorf("path %q accepted", bad)
		}
	}
}

func TestTokenRefreshAt(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	for _, tc := range []struct {
		life, want time.Duration
	}{
		{time.Hour, 48 * time.Minute},                    // 80% of an hour
		{3607 * time.Second, 3607 * time.Second * 4 / 5}, // the token volume's
		{48 * time.Hour, 24 * time.Hour},                 // at most a day
	} {
		tok := projectedToken{issued: t0, expires: t0.Add(tc.life)}
		if got := tok.refreshAt(0).Sub(t0); got != tc.want {
			t.Errorf("life %v: refresh after %v, want %v", tc.life, got, tc.want)
		}
	}
}

// tokenServer answers TokenRequests with tok-1, tok-2, ... and records them.
type tokenServer struct {
	mu       sync.Mutex
	requests []v1.TokenRequest
	now      func() time.Time
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/namespaces/team/serviceaccounts/builder/token" {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	var tr v1.TokenRequest
	if err := json.NewDecoder(r.Body).Decode(&tr); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, tr)
	n := len(s.requests)
	s.mu.Unlock()
	tr.Status.Token = fmt.Sprintf("tok-%d", n)
	tr.Status.ExpirationTimestamp = v1.NewTime(s.now().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(&tr)
}

func (s *tokenServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// The token volume gets a token bound to the pod, the cluster CA and the
// namespace, on a tmpfs; the token is refreshed at 80% of its life and
// not before.
func TestProjectedTokenVolume(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(2_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ts := &tokenServer{now: clock}
	cms := &configMapServer{next: ts}
	cms.set(&v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: v1.RootCAConfigMap, Namespace: "team"}, Data: map[string]string{v1.RootCAKey: "CLUSTER CA\n"}})
	srv := httptest.NewTLSServer(cms)
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cl, err := client.New(&client.Config{Servers: []string{srv.URL}, CertificateAuthorityData: caPEM, Token: "node", FailoverRounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseIdleConnections()
	stateDir := t.TempDir()
	a, err := New(Config{Name: "n1", StateDir: stateDir, Client: cl, Runtime: &fakeRuntime{},
		Network: func(context.Context, *net.IPNet) (Network, error) { return nil, nil }, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	w := newPodWorker(a, "pod-uid", nil)
	t.Cleanup(func() {
		if err := unmountPod(a.podDir("pod-uid")); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "team", UID: "pod-uid"},
		Spec: v1.PodSpec{ServiceAccountName: "builder", Containers: []v1.Container{{Name: "c"}}}}
	v1.AdmitServiceAccount(pod, nil, "kube-api-access-abcde")
	if err := makePrivateDirs(a.podDir("pod-uid"), filepath.Join(a.podDir("pod-uid"), volumesDir)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	next, err := w.syncProjected(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(a.podDir("pod-uid"), volumesDir, "kube-api-access-abcde")
	if mounted, err := isMountPoint(dir); err != nil || !mounted {
		t.Errorf("the volume is not a tmpfs of its own: %v %v", mounted, err)
	}
	if readVolumeFile(t, dir, "token") != "tok-1" || readVolumeFile(t, dir, "ca.crt") != "CLUSTER CA\n" || readVolumeFile(t, dir, "namespace") != "team" {
		t.Fatalf("volume files: token %q ca.crt %q namespace %q", readVolumeFile(t, dir, "token"), readVolumeFile(t, dir, "ca.crt"), readVolumeFile(t, dir, "namespace"))
	}
	if st, _ := os.Stat(filepath.Join(dir, "token")); st.Mode().Perm() != 0o644 {
		t.Errorf("token mode %v, want 0644 (defaultMode)", st.Mode().Perm())
	}
	req := ts.requests[0]
	if r := req.Spec.BoundObjectRef; r == nil || r.Kind != "Pod" || r.Name != "web" || r.UID != "pod-uid" || *req.Spec.ExpirationSeconds != 3607 || len(req.Spec.Audiences) != 0 {
		t.Errorf("token request %+v", req.Spec)
	}
	life := 3607 * time.Second
	// The CA comes from the kube-root-ca.crt ConfigMap, re-read sooner
	// than the token wants refreshing.
	if next != ConfigMapSyncPeriod {
		t.Errorf("next sync in %v, want %v", next, ConfigMapSyncPeriod)
	}
	// Well before 80%: the held token is kept.
	advance(life * 3 / 5)
	if _, err := w.syncProjected(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if ts.count() != 1 || readVolumeFile(t, dir, "token") != "tok-1" {
		t.Fatalf("refreshed early: %d requests", ts.count())
	}
	// Past 80%: a new token, swapped in.
	advance(life / 5)
	if _, err := w.syncProjected(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if ts.count() != 2 || readVolumeFile(t, dir, "token") != "tok-2" {
		t.Fatalf("not refreshed after 80%%: %d requests, token %q", ts.count(), readVolumeFile(t, dir, "token"))
	}
	// A refresh that fails keeps the still-valid token.
	cms.next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	advance(life * 4 / 5)
	if _, err := w.syncProjected(ctx, pod); err != nil || readVolumeFile(t, dir, "token") != "tok-2" {
		t.Fatalf("failed refresh: %v, token %q", err, readVolumeFile(t, dir, "token"))
	}
	// Once it has expired, the error surfaces.
	advance(life)
	if _, err := w.syncProjected(ctx, pod); err == nil {
		t.Fatal("an expired token without a refresh was accepted")
	}
}
