package node

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// configMapServer answers GETs of ConfigMaps and Secrets from maps
// (namespace/name) and passes every other request to next; it counts the
// GETs.
type configMapServer struct {
	mu      sync.Mutex
	cms     map[string]*v1.ConfigMap
	secrets map[string]*v1.Secret
	gets    int
	next    http.Handler
}

func (s *configMapServer) setSecret(sec *v1.Secret) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secrets == nil {
		s.secrets = map[string]*v1.Secret{}
	}
	s.secrets[sec.Namespace+"/"+sec.Name] = sec
}

func (s *configMapServer) removeSecret(ns, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets, ns+"/"+name)
}

func (s *configMapServer) set(cm *v1.ConfigMap) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cms == nil {
		s.cms = map[string]*v1.ConfigMap{}
	}
	s.cms[cm.Namespace+"/"+cm.Name] = cm
}

func (s *configMapServer) remove(ns, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cms, ns+"/"+name)
}

func (s *configMapServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets
}

func (s *configMapServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/namespaces/"), "/")
	if r.Method != http.MethodGet || len(parts) != 3 || (parts[1] != "configmaps" && parts[1] != "secrets") {
		if s.next == nil {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		s.next.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	s.gets++
	var obj any
	cm, ok := s.cms[parts[0]+"/"+parts[2]]
	obj = cm
	if parts[1] == "secrets" {
		var sec *v1.Secret
		sec, ok = s.secrets[parts[0]+"/"+parts[2]]
		obj = sec
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(v1.Status{TypeMeta: v1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Failure",
			Reason: v1.ReasonNotFound, Code: http.StatusNotFound, Message: parts[1] + ` "` + parts[2] + `" not found`})
		return
	}
	json.NewEncoder(w).Encode(obj)
}

// newConfigMapAgent starts an agent whose API is srv's handler.
func newConfigMapAgent(t *testing.T, h http.Handler, now func() time.Time) *Agent {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cl, err := client.New(&client.Config{Servers: []string{srv.URL}, CertificateAuthorityData: caPEM, Token: "node", FailoverRounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdleConnections)
	a, err := New(Config{Name: "n1", StateDir: t.TempDir(), Client: cl, Runtime: &fakeRuntime{},
		Network:               func(context.Context, *net.IPNet) (Network, error) { return nil, nil },
		KubernetesServiceHost: "10.96.0.1", KubernetesServicePort: "443", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestContainerEnvFromConfigMaps(t *testing.T) {
	cms := &configMapServer{}
	cms.set(&v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "app", Namespace: "team"},
		Data:       map[string]string{"LEVEL": "debug", "b-key": "kept", "MODE": "fast", "1BAD": "skipped"},
		BinaryData: map[string][]byte{"BIN": {1}}})
	cms.set(&v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "keys", Namespace: "team"}, Data: map[string]string{"color": "red"}})
	a := newConfigMapAgent(t, cms, time.Now)
	w := newPodWorker(a, "pod-uid", nil)
	yes := true
	ref := func(name, key string, optional bool) *v1.EnvVarSource {
		return &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectRef: v1.LocalObjectRef{Name: name}, Key: key, Optional: &optional}}
	}
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "team", UID: "pod-uid"}}
	// base is what every container gets first: HOSTNAME and the
	// configured kubernetes Service's variables (servicePort replaced).
	base := func(servicePort string, more ...string) []string {
		return append([]string{"HOSTNAME=web", "KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=" + servicePort,
			"KUBERNETES_SERVICE_PORT_HTTPS=443", "KUBERNETES_PORT=tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
			"KUBERNETES_PORT_443_TCP_PROTO=tcp", "KUBERNETES_PORT_443_TCP_PORT=443", "KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1"}, more...)
	}
	tests := []struct {
		name    string
		c       v1.Container
		want    []string
		wantErr string
		missing bool
	}{
		{"envFrom then env", v1.Container{
			EnvFrom: []v1.EnvFromSource{{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectRef: v1.LocalObjectRef{Name: "app"}}}},
			Env:     []v1.EnvVar{{Name: "MODE", Value: "slow"}, {Name: "COLOR", ValueFrom: ref("keys", "color", false)}}},
			base("443", "LEVEL=debug", "MODE=slow", "b-key=kept", "COLOR=red"), "", false},
		{"prefix", v1.Container{
			EnvFrom: []v1.EnvFromSource{{Prefix: "APP_", ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectRef: v1.LocalObjectRef{Name: "app"}}}}},
			base("443", "APP_1BAD=skipped", "APP_LEVEL=debug", "APP_MODE=fast", "APP_b-key=kept"), "", false},
		{"env overrides the service variables", v1.Container{Env: []v1.EnvVar{{Name: "KUBERNETES_SERVICE_PORT", Value: "6443"}}},
			base("6443"), "", false},
		{"optional missing ConfigMap and key", v1.Container{
			EnvFrom: []v1.EnvFromSource{{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectRef: v1.LocalObjectRef{Name: "gone"}, Optional: &yes}}},
			Env:     []v1.EnvVar{{Name: "A", ValueFrom: ref("gone", "x", true)}, {Name: "B", ValueFrom: ref("keys", "nope", true)}}},
			base("443"), "", false},
		{"missing ConfigMap", v1.Container{Env: []v1.EnvVar{{Name: "A", ValueFrom: ref("gone", "x", false)}}},
			nil, `configmap "gone" not found`, true},
		{"missing envFrom ConfigMap", v1.Container{
			EnvFrom: []v1.EnvFromSource{{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectRef: v1.LocalObjectRef{Name: "gone"}}}}},
			nil, `configmap "gone" not found`, true},
		{"missing key", v1.Container{Env: []v1.EnvVar{{Name: "A", ValueFrom: ref("keys", "nope", false)}}},
			nil, "couldn't find key nope in ConfigMap team/keys", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := w.containerEnv(context.Background(), pod, &tt.c)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || configMissing(err) != tt.missing {
					t.Fatalf("containerEnv = %v, %v; want error %q (missing %v)", got, err, tt.wantErr, tt.missing)
				}
				return
			}
			if err != nil || strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("containerEnv = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// A configMap volume holds the keys (or items) with their modes; a change
// of the ConfigMap reaches the files after the cache's TTL, all at once;
// a subPath mount keeps the file it was made from; a missing optional
// ConfigMap is an empty volume and a missing one an error.
func TestConfigMapVolume(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(2_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	cms := &configMapServer{}
	cms.set(&v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "app", Namespace: "team"},
		Data: map[string]string{"game.properties": "lives=3", "ui": "dark"}, BinaryData: map[string][]byte{"logo": {0, 1, 2}}})
	a := newConfigMapAgent(t, cms, clock)
	w := newPodWorker(a, "pod-uid", nil)
	t.Cleanup(func() {
		if err := unmountPod(a.podDir("pod-uid")); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	yes := true
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "team", UID: "pod-uid"}, Spec: v1.PodSpec{
		Containers: []v1.Container{{Name: "c", VolumeMounts: []v1.VolumeMount{{Name: "all", MountPath: "/cfg"},
			{Name: "all", MountPath: "/etc/game.properties", SubPath: "game.properties"}}}},
		Volumes: []v1.Volume{
			{Name: "all", ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectRef: v1.LocalObjectRef{Name: "app"}}},
			{Name: "items", ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectRef: v1.LocalObjectRef{Name: "app"}, DefaultMode: new(int32(0o440)),
				Items: []v1.KeyToPath{{Key: "ui", Path: "theme/ui"}, {Key: "logo", Path: "logo.bin", Mode: new(int32(0o400))}}}},
			{Name: "maybe", ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectRef: v1.LocalObjectRef{Name: "gone"}, Optional: &yes}},
		}}}
	v1.Default(pod)
	if err := makePrivateDirs(a.podDir("pod-uid"), filepath.Join(a.podDir("pod-uid"), volumesDir)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	next, err := w.syncProjected(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if next != ConfigMapSyncPeriod {
		t.Errorf("next sync in %v, want %v", next, ConfigMapSyncPeriod)
	}
	vol := func(name string) string { return filepath.Join(a.podDir("pod-uid"), volumesDir, name) }
	if mounted, err := isMountPoint(vol("all")); err != nil || !mounted {
		t.Errorf("the volume is not a tmpfs of its own: %v %v", mounted, err)
	}
	if readVolumeFile(t, vol("all"), "game.properties") != "lives=3" || readVolumeFile(t, vol("all"), "ui") != "dark" ||
		readVolumeFile(t, vol("all"), "logo") != "\x00\x01\x02" {
		t.Fatal("volume all: wrong files")
	}
	modes := map[string]os.FileMode{filepath.Join(vol("all"), "ui"): 0o644, filepath.Join(vol("items"), "theme/ui"): 0o440,
		filepath.Join(vol("items"), "logo.bin"): 0o400}
	for p, want := range modes {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", p, st.Mode().Perm(), err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(vol("items"), "game.properties")); !os.IsNotExist(err) {
		t.Errorf("an unlisted key is in the items volume: %v", err)
	}
	if ents, err := os.ReadDir(vol("maybe")); err != nil || len(ents) != 2 || ents[1].Name() != "..data" {
		t.Errorf("optional missing ConfigMap: %v %v", ents, err)
	}
	mounts, err := w.volumeMounts(pod, &pod.Spec.Containers[0])
	if err != nil {
		t.Fatal(err)
	}
	sub := mounts[1].Source
	if b, err := os.ReadFile(sub); err != nil || string(b) != "lives=3" {
		t.Fatalf("subPath file %s: %q %v", sub, b, err)
	}
	// An update: not seen while the cached read is fresh, then all at once.
	cms.set(&v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "app", Namespace: "team"},
		Data: map[string]string{"game.properties": "lives=5", "ui": "light"}})
	gets := cms.count()
	if _, err := w.syncProjected(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if cms.count() != gets || readVolumeFile(t, vol("all"), "ui") != "dark" {
		t.Fatalf("a fresh cached read was not used: %d GETs after %d, ui %q", cms.count(), gets, readVolumeFile(t, vol("all"), "ui"))
	}
	advance(ConfigMapCacheTTL)
	if _, err := w.syncProjected(ctx, pod); err == nil || !strings.Contains(err.Error(), "configmap references non-existent config key: logo") {
		t.Fatalf("items volume naming a removed key: %v", err)
	}
	pod.Spec.Volumes[1].ConfigMap.Items = pod.Spec.Volumes[1].ConfigMap.Items[:1]
	if _, err := w.syncProjected(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if readVolumeFile(t, vol("all"), "game.properties") != "lives=5" || readVolumeFile(t, vol("all"), "ui") != "light" {
		t.Fatal("the update did not reach the volume")
	}
	if _, err := os.Stat(filepath.Join(vol("all"), "logo")); !os.IsNotExist(err) {
		t.Errorf("a removed key is still a file: %v", err)
	}
	if b, err := os.ReadFile(sub); err != nil || string(b) != "lives=3" {
		t.Errorf("the subPath file changed: %q %v", b, err)
	}
	// Gone, not optional: an error naming it; the files stay.
	cms.remove("team", "app")
	advance(ConfigMapCacheTTL)
	if _, err := w.syncProjected(ctx, pod); err == nil || !strings.Contains(err.Error(), `MountVolume.SetUp failed for volume "all" : configmap "app" not found`) {
		t.Fatalf("missing ConfigMap: %v", err)
	}
	if readVolumeFile(t, vol("all"), "ui") != "light" {
		t.Error("a failed read emptied the volume")
	}
}

// With an fsGroup, a configMap volume's files and data directory get the
// group and group read (mode 0400 becomes 0440), as the kubelet manages a
// read-only volume's ownership; without one, nothing changes.
func TestConfigMapVolumeFSGroup(t *testing.T) {
	cms := &configMapServer{}
	cms.set(&v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "app", Namespace: "team"}, Data: map[string]string{"key": "v", "sub/key": "w"}})
	a := newConfigMapAgent(t, cms, time.Now)
	for _, tt := range []struct {
		name      string
		fsGroup   *int64
		wantMode  os.FileMode
		wantGroup uint32
	}{
		{"no fsGroup", nil, 0o400, 0},
		{"fsGroup", new(int64(2000)), 0o440, 2000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			uid := "pod-" + strings.ReplaceAll(tt.name, " ", "-")
			w := newPodWorker(a, uid, nil)
			t.Cleanup(func() {
				if err := unmountPod(a.podDir(uid)); err != nil {
					t.Errorf("unmount: %v", err)
				}
			})
			pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "team", UID: uid}, Spec: v1.PodSpec{
				SecurityContext: &v1.PodSecurityContext{FSGroup: tt.fsGroup},
				Containers:      []v1.Container{{Name: "c"}},
				Volumes: []v1.Volume{{Name: "cfg", ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectRef: v1.LocalObjectRef{Name: "app"},
					DefaultMode: new(int32(0o400)), Items: []v1.KeyToPath{{Key: "key", Path: "key"}, {Key: "sub/key", Path: "sub/key"}}}}}}}
			if err := makePrivateDirs(a.podDir(uid), filepath.Join(a.podDir(uid), volumesDir)); err != nil {
				t.Fatal(err)
			}
			if _, err := w.syncProjected(context.Background(), pod); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(a.podDir(uid), volumesDir, "cfg")
			for _, p := range []string{"key", "sub/key", "..data/", "..data/sub/"} {
				st, err := os.Stat(filepath.Join(dir, p))
				if err != nil {
					t.Fatal(err)
				}
				if gid := st.Sys().(*syscall.Stat_t).Gid; gid != tt.wantGroup {
					t.Errorf("%s: group %d, want %d", p, gid, tt.wantGroup)
				}
				if !st.IsDir() && st.Mode().Perm() != tt.wantMode {
					t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), tt.wantMode)
				}
			}
		})
	}
}
