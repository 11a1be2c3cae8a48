package node

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// A new pod's token is requested beside its sandbox and used by the
// volume without a second request; a held token is not requested again;
// a failed prefetch leaves the request (and its error) to the volume.
func TestPrefetchTokens(t *testing.T) {
	for _, tc := range []struct {
		name         string
		held         bool // the worker holds the token already
		down         bool // the masters refuse the request
		wantRequests int  // after the prefetch and one volume sync
		wantSyncErr  bool
	}{
		{"new pod", false, false, 1, false},
		{"token held", true, false, 0, false},
		{"request fails", false, true, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(2_000_000, 0)
			clock := func() time.Time { return now }
			ts := &tokenServer{now: clock}
			cms := &configMapServer{next: ts}
			cms.set(&v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: v1.RootCAConfigMap, Namespace: "team"}, Data: map[string]string{v1.RootCAKey: "CA\n"}})
			var h http.Handler = cms
			if tc.down {
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":403,"reason":"Forbidden"}`, http.StatusForbidden)
				})
			}
			srv := httptest.NewTLSServer(h)
			defer srv.Close()
			caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
			cl, err := client.New(&client.Config{Servers: []string{srv.URL}, CertificateAuthorityData: caPEM, Token: "node", FailoverRounds: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.CloseIdleConnections()
			a, err := New(Config{Name: "n1", StateDir: t.TempDir(), Client: cl, Runtime: &fakeRuntime{},
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
			key := ""
			for i, src := range pod.Spec.Volumes[0].Projected.Sources {
				if src.ServiceAccountToken != nil {
					key = tokenKey(pod.Spec.Volumes[0].Name, i)
				}
			}
			if tc.held {
				w.tokens = map[string]*projectedToken{key: {token: "held", issued: now, expires: now.Add(time.Hour)}}
			}
			ctx := context.Background()
			w.prefetchTokens(ctx, pod)()
			if got := w.tokens[key] != nil; got != (tc.held || !tc.down) {
				t.Errorf("token held after the prefetch: %v", got)
			}
			if err := makePrivateDirs(a.podDir("pod-uid"), filepath.Join(a.podDir("pod-uid"), volumesDir)); err != nil {
				t.Fatal(err)
			}
			_, err = w.syncProjected(ctx, pod)
			if (err != nil) != tc.wantSyncErr {
				t.Fatalf("volume sync: %v, want an error: %v", err, tc.wantSyncErr)
			}
			if n := ts.count(); n != tc.wantRequests {
				t.Errorf("%d token requests, want %d", n, tc.wantRequests)
			}
			if !tc.wantSyncErr {
				want := "tok-1"
				if tc.held {
					want = "held"
				}
				if got := readVolumeFile(t, filepath.Join(a.podDir("pod-uid"), volumesDir, "kube-api-access-abcde"), "token"); got != want {
					t.Errorf("token file %q, want %q", got, want)
				}
			}
		})
	}
}
