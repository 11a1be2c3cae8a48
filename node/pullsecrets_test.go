package node

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/node/credentialprovider"
)

// secretServer answers GETs of Secrets from a map (namespace/name) and
// counts them.
type secretServer struct {
	mu      sync.Mutex
	secrets map[string]*v1.Secret
	gets    int
}

func (s *secretServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/namespaces/"), "/")
	if r.Method != http.MethodGet || len(parts) != 3 || parts[1] != "secrets" {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	s.mu.Lock()
	s.gets++
	sec, ok := s.secrets[parts[0]+"/"+parts[2]]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(v1.Status{TypeMeta: v1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Failure",
			Reason: v1.ReasonNotFound, Code: http.StatusNotFound, Message: `secrets "` + parts[2] + `" not found`})
		return
	}
	json.NewEncoder(w).Encode(sec)
}

func (s *secretServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets
}

func TestPullCredentials(t *testing.T) {
	dockerJSON := func(name, host, user, pass string) *v1.Secret {
		return &v1.Secret{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "team"}, Type: v1.SecretTypeDockerConfigJSON,
			Data: map[string][]byte{v1.DockerConfigJSONKey: []byte(`{"auths":{"` + host + `":{"username":"` + user + `","password":"` + pass + `"}}}`)}}
	}
	srv := &secretServer{secrets: map[string]*v1.Secret{
		"team/regcred": dockerJSON("regcred", "127.0.0.1:5000", "u", "p"),
		"team/hub":     dockerJSON("hub", "https://index.docker.io/v1/", "hubuser", "hubpass"),
		"team/legacy": {ObjectMeta: v1.ObjectMeta{Name: "legacy", Namespace: "team"}, Type: v1.SecretTypeDockercfg,
			Data: map[string][]byte{v1.DockerConfigKey: []byte(`{"127.0.0.1:5000/orch":{"username":"old","password":"o"}}`)}},
		"team/bad": {ObjectMeta: v1.ObjectMeta{Name: "bad", Namespace: "team"}, Type: v1.SecretTypeDockerConfigJSON,
			Data: map[string][]byte{v1.DockerConfigJSONKey: []byte(`{"auths":`)}},
		"other/regcred": dockerJSON("regcred", "127.0.0.1:5000", "wrong-namespace", "x"),
	}}
	a := newConfigMapAgent(t, srv, time.Now)
	w := newPodWorker(a, "pod-uid", nil)
	refs := func(names ...string) []v1.LocalObjectRef {
		var out []v1.LocalObjectRef
		for _, n := range names {
			out = append(out, v1.LocalObjectRef{Name: n})
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		secrets  []v1.LocalObjectRef
		image    string
		want     []credentialprovider.AuthConfig
		wantErr  string
		wantGets int
	}{
		{"no secrets: no reads", nil, "127.0.0.1:5000/orch/app:1", nil, "", 0},
		{"matching host", refs("regcred"), "127.0.0.1:5000/orch/app:1", []credentialprovider.AuthConfig{{Username: "u", Password: "p"}}, "", 1},
		{"other registry", refs("regcred"), "registry.example.com/app:1", nil, "", 1},
		{"docker hub", refs("regcred", "hub"), "busybox", []credentialprovider.AuthConfig{{Username: "hubuser", Password: "hubpass"}}, "", 2},
		{"most specific first", refs("regcred", "legacy"), "127.0.0.1:5000/orch/app@sha256:" + strings.Repeat("a", 64),
			[]credentialprovider.AuthConfig{{Username: "old", Password: "o"}, {Username: "u", Password: "p"}}, "", 2},
		{"missing and empty names skipped", refs("", "gone", "regcred"), "127.0.0.1:5000/orch/app:1",
			[]credentialprovider.AuthConfig{{Username: "u", Password: "p"}}, "", 2},
		{"malformed", refs("regcred", "bad"), "127.0.0.1:5000/orch/app:1", nil, "secret team/bad: .dockerconfigjson", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "team", UID: "pod-uid"},
				Spec: v1.PodSpec{ImagePullSecrets: tc.secrets}}
			before := srv.count()
			got, err := w.pullCredentials(context.Background(), pod, tc.image)
			if n := srv.count() - before; n != tc.wantGets {
				t.Errorf("%d GETs, want %d (one per named Secret, no cache)", n, tc.wantGets)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("pullCredentials = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// pullRuntime fails every pull with pullErr while it is set, and records
// the credentials of each.
type pullRuntime struct {
	scriptRuntime
	pullErr error
	auths   [][]credentialprovider.AuthConfig
}

func (r *pullRuntime) EnsureImage(_ context.Context, _, _ string, auth []credentialprovider.AuthConfig) (ImageInfo, error) {
	r.auths = append(r.auths, auth)
	if r.pullErr != nil {
		return ImageInfo{}, r.pullErr
	}
	return ImageInfo{Digest: "sha256:0"}, nil
}

// TestImagePullBackOff: a failed pull shows the kubelet's ErrImagePull,
// then ImagePullBackOff with its message until the back-off ends; the
// next pull that works starts the container.
func TestImagePullBackOff(t *testing.T) {
	ctx := context.Background()
	lw := newLifecycleWorker(t, nil)
	rt := &pullRuntime{pullErr: errors.New(`failed to pull and unpack image "127.0.0.1:5000/orch/app:1": 401 Unauthorized`)}
	lw.a.cfg.Runtime = rt
	lw.rt = &rt.scriptRuntime
	pod := initPod(v1.RestartAlways)
	pod.Spec.Containers[0].Image = "127.0.0.1:5000/orch/app:1"
	lw.pod = pod
	waiting := func() (string, string) {
		t.Helper()
		st := lw.podStatus(pod)
		w := st.ContainerStatuses[0].State.Waiting
		if w == nil {
			return "", ""
		}
		return w.Reason, w.Message
	}
	steps := []struct {
		advance    time.Duration
		fix        bool
		reason     string
		message    string
		wantDelay  time.Duration
		wantPulls  int
		wantStarts string
	}{
		{0, false, "ErrImagePull", `failed to pull and unpack image "127.0.0.1:5000/orch/app:1": 401 Unauthorized`, time.Second, 1, ""},
		{time.Second, false, "ImagePullBackOff",
			`Back-off pulling image "127.0.0.1:5000/orch/app:1": ErrImagePull: failed to pull and unpack image "127.0.0.1:5000/orch/app:1": 401 Unauthorized`,
			9 * time.Second, 1, ""},
		// Still backing off: no pull, the same state.
		{5 * time.Second, false, "ImagePullBackOff", "", 4 * time.Second, 1, ""},
		// The back-off is over: pull again, fail again.
		{4 * time.Second, false, "ErrImagePull", "", time.Second, 2, ""},
		{time.Second, false, "ImagePullBackOff", "", 9 * time.Second, 2, ""},
		// The registry lets it in now: the pull after the back-off works.
		{9 * time.Second, true, "", "", 0, 3, "app-0"},
	}
	for i, s := range steps {
		lw.now = lw.now.Add(s.advance)
		if s.fix {
			rt.pullErr = nil
		}
		d := lw.syncContainer(ctx, pod, &pod.Spec.Containers[0], lw.state("app"), pod.Spec.RestartPolicy)
		reason, msg := waiting()
		if reason != s.reason || (s.message != "" && msg != s.message) {
			t.Fatalf("step %d: waiting %q %q, want %q %q", i, reason, msg, s.reason, s.message)
		}
		if d != s.wantDelay {
			t.Errorf("step %d: next look in %v, want %v", i, d, s.wantDelay)
		}
		if len(rt.auths) != s.wantPulls {
			t.Errorf("step %d: %d pulls, want %d", i, len(rt.auths), s.wantPulls)
		}
		if got := rt.startedIDs(); got != s.wantStarts {
			t.Errorf("step %d: started %q, want %q", i, got, s.wantStarts)
		}
	}
}
