package node

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	v1 "orch.io/orch/api/v1"
)

func TestContainerEnvFromSecrets(t *testing.T) {
	srv := &configMapServer{}
	srv.setSecret(&v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "db", Namespace: "team"},
		Data: map[string][]byte{"USER": []byte("admin"), "PASS": []byte("s3cr3t"), "1BAD": []byte("x")}})
	srv.setSecret(&v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "empty", Namespace: "team"}})
	srv.set(&v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "db", Namespace: "team"}, Data: map[string]string{"USER": "from-configmap"}})
	a := newConfigMapAgent(t, srv, time.Now)
	w := newPodWorker(a, "pod-uid", nil)
	ref := func(name, key string, optional bool) *v1.EnvVarSource {
		return &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectRef: v1.LocalObjectRef{Name: name}, Key: key, Optional: &optional}}
	}
	envFrom := func(prefix, name string, optional bool) v1.EnvFromSource {
		return v1.EnvFromSource{Prefix: prefix, SecretRef: &v1.SecretEnvSource{LocalObjectRef: v1.LocalObjectRef{Name: name}, Optional: &optional}}
	}
	// What every container gets first: HOSTNAME and the kubernetes
	// Service's variables.
	svc := []string{"HOSTNAME=web", "KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443",
		"KUBERNETES_SERVICE_PORT_HTTPS=443", "KUBERNETES_PORT=tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
		"KUBERNETES_PORT_443_TCP_PROTO=tcp", "KUBERNETES_PORT_443_TCP_PORT=443", "KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1"}
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "team", UID: "pod-uid"}}
	tests := []struct {
		name    string
		c       v1.Container
		want    []string
		wantErr string
	}{
		{"envFrom then env", v1.Container{EnvFrom: []v1.EnvFromSource{envFrom("", "db", false)},
			Env: []v1.EnvVar{{Name: "USER", Value: "root"}, {Name: "PW", ValueFrom: ref("db", "PASS", false)}}},
			append(slices.Clone(svc), "PASS=s3cr3t", "USER=root", "PW=s3cr3t"), ""},
		{"prefix", v1.Container{EnvFrom: []v1.EnvFromSource{envFrom("DB_", "db", false)}},
			append(slices.Clone(svc), "DB_1BAD=x", "DB_PASS=s3cr3t", "DB_USER=admin"), ""},
		{"a secret and a configMap of one name", v1.Container{EnvFrom: []v1.EnvFromSource{envFrom("", "db", false),
			{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectRef: v1.LocalObjectRef{Name: "db"}}}}},
			append(slices.Clone(svc), "PASS=s3cr3t", "USER=from-configmap"), ""},
		{"a Secret without data", v1.Container{EnvFrom: []v1.EnvFromSource{envFrom("", "empty", false)}}, svc, ""},
		{"optional missing Secret and key", v1.Container{EnvFrom: []v1.EnvFromSource{envFrom("", "gone", true)},
			Env: []v1.EnvVar{{Name: "A", ValueFrom: ref("gone", "x", true)}, {Name: "B", ValueFrom: ref("db", "nope", true)}}},
			svc, ""},
		{"missing Secret", v1.Container{Env: []v1.EnvVar{{Name: "A", ValueFrom: ref("gone", "x", false)}}},
			nil, `secret "gone" not found`},
		{"missing envFrom Secret", v1.Container{EnvFrom: []v1.EnvFromSource{envFrom("", "gone", false)}},
			nil, `secret "gone" not found`},
		{"missing key", v1.Container{Env: []v1.EnvVar{{Name: "A", ValueFrom: ref("db", "nope", false)}}},
			nil, "couldn't find key nope in Secret team/db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := w.containerEnv(context.Background(), pod, &tt.c)
			if tt.wantErr != "" {
				// Not a failure of the container: it waits, in
				// CreateContainerConfigError, until the Secret or key is there.
				if err == nil || err.Error() != tt.wantErr || !configMissing(err) {
					t.Fatalf("containerEnv = %v, %v; want error %q, a missing configuration", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("containerEnv = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// tmpfsMounted reports whether dir is a tmpfs mount of its own.
func tmpfsMounted(t *testing.T, dir string) bool {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatalf("statfs %s: %v", dir, err)
	}
	mounted, err := isMountPoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	return mounted && st.Type == unix.TMPFS_MAGIC
}

// A secret volume (and a projected secret source) holds the keys or items
// with their modes and the fsGroup, on a tmpfs of its own; an update
// reaches the files after the cache's TTL, all at once; a missing
// optional Secret is an empty volume, a missing one or a missing key an
// error naming it in the kubelet's words; unmountPod unmounts it all.
func TestSecretVolume(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(2_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	srv := &configMapServer{}
	srv.setSecret(&v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "db", Namespace: "team"},
		Data: map[string][]byte{"username": []byte("my-app"), "password": []byte("39528$vdg7Jb")}})
	srv.set(&v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "cfg", Namespace: "team"}, Data: map[string]string{"host": "db.local"}})
	a := newConfigMapAgent(t, srv, clock)
	w := newPodWorker(a, "pod-uid", nil)
	podDir := a.podDir("pod-uid")
	yes := true
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "team", UID: "pod-uid"}, Spec: v1.PodSpec{
		SecurityContext: &v1.PodSecurityContext{FSGroup: new(int64(2000))},
		Containers:      []v1.Container{{Name: "c"}},
		Volumes: []v1.Volume{
			{Name: "all", Secret: &v1.SecretVolumeSource{SecretName: "db"}},
			{Name: "items", Secret: &v1.SecretVolumeSource{SecretName: "db", DefaultMode: new(int32(0o400)),
				Items: []v1.KeyToPath{{Key: "password", Path: "auth/pw"}, {Key: "username", Path: "user", Mode: new(int32(0o600))}}}},
			{Name: "maybe", Secret: &v1.SecretVolumeSource{SecretName: "gone", Optional: &yes}},
			{Name: "both", Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
				{Secret: &v1.SecretProjection{LocalObjectRef: v1.LocalObjectRef{Name: "db"}, Items: []v1.KeyToPath{{Key: "password", Path: "pw"}}}},
				{ConfigMap: &v1.ConfigMapProjection{LocalObjectRef: v1.LocalObjectRef{Name: "cfg"}}},
				{Secret: &v1.SecretProjection{LocalObjectRef: v1.LocalObjectRef{Name: "gone"}, Optional: &yes}}}}},
		}}}
	v1.Default(pod)
	if err := makePrivateDirs(podDir, filepath.Join(podDir, volumesDir)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unmountPod(podDir); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	ctx := context.Background()
	next, err := w.syncProjected(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if next != ConfigMapSyncPeriod {
		t.Errorf("next sync in %v, want %v", next, ConfigMapSyncPeriod)
	}
	vol := func(name string) string { return filepath.Join(podDir, volumesDir, name) }
	for _, name := range []string{"all", "items", "maybe", "both"} {
		if !tmpfsMounted(t, vol(name)) {
			t.Errorf("volume %s is not a tmpfs of its own", name)
		}
	}
	files := map[string]struct {
		content string
		mode    os.FileMode
	}{
		"all/username": {"my-app", 0o644}, "all/password": {"39528$vdg7Jb", 0o644},
		"items/auth/pw": {"39528$vdg7Jb", 0o440}, "items/user": {"my-app", 0o640},
		"both/pw": {"39528$vdg7Jb", 0o644}, "both/host": {"db.local", 0o644},
	}
	for p, want := range files {
		full := filepath.Join(podDir, volumesDir, p)
		st, err := os.Stat(full)
		if err != nil {
			t.Fatal(err)
		}
		if got := readVolumeFile(t, filepath.Dir(full), filepath.Base(full)); got != want.content || st.Mode().Perm() != want.mode {
			t.Errorf("%s: %q mode %v, want %q mode %v", p, got, st.Mode().Perm(), want.content, want.mode)
		}
		if gid := st.Sys().(*syscall.Stat_t).Gid; gid != 2000 {
			t.Errorf("%s: group %d, want the fsGroup 2000", p, gid)
		}
	}
	if _, err := os.Stat(filepath.Join(vol("items"), "password")); !os.IsNotExist(err) {
		t.Errorf("an unlisted key is in the items volume: %v", err)
	}
	if ents, err := os.ReadDir(vol("maybe")); err != nil || len(ents) != 2 || ents[1].Name() != "..data" {
		t.Errorf("optional missing Secret: %v %v", ents, err)
	}
	// An update: not seen while the cached read is fresh, then all at once.
	srv.setSecret(&v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "db", Namespace: "team"},
		Data: map[string][]byte{"username": []byte("other-app"), "password": []byte("n3w")}})
	if _, err := w.syncProjected(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if readVolumeFile(t, vol("all"), "password") != "39528$vdg7Jb" {
		t.Fatal("a fresh cached read was not used")
	}
	advance(ConfigMapCacheTTL)
	if _, err := w.syncProjected(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if readVolumeFile(t, vol("all"), "password") != "n3w" || readVolumeFile(t, vol("all"), "username") != "other-app" ||
		readVolumeFile(t, vol("items"), "auth/pw") != "n3w" || readVolumeFile(t, vol("both"), "pw") != "n3w" {
		t.Fatal("the update did not reach every volume")
	}
	// A listed key removed: an error in the kubelet's words.
	srv.setSecret(&v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "db", Namespace: "team"}, Data: map[string][]byte{"password": []byte("n3w")}})
	advance(ConfigMapCacheTTL)
	if _, err := w.syncProjected(ctx, pod); err == nil || !strings.Contains(err.Error(), `MountVolume.SetUp failed for volume "items" : references non-existent secret key: username`) {
		t.Fatalf("items volume naming a removed key: %v", err)
	}
	// Gone, not optional: an error naming it; the files stay.
	srv.removeSecret("team", "db")
	advance(ConfigMapCacheTTL)
	if _, err := w.syncProjected(ctx, pod); err == nil || !strings.Contains(err.Error(), `MountVolume.SetUp failed for volume "all" : secret "db" not found`) {
		t.Fatalf("missing Secret: %v", err)
	}
	if readVolumeFile(t, vol("all"), "password") != "n3w" {
		t.Error("a failed read emptied the volume")
	}
	if err := unmountPod(podDir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"all", "items", "maybe", "both"} {
		if mounted, err := isMountPoint(vol(name)); err != nil || mounted {
			t.Errorf("volume %s still mounted after unmountPod: %v %v", name, mounted, err)
		}
	}
}

// The node forgets a Secret's value once a pod naming it is gone: the
// next read, even one that may use the cache, asks the API.
func TestSecretCacheForget(t *testing.T) {
	srv := &configMapServer{}
	srv.setSecret(&v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "db", Namespace: "team"}, Data: map[string][]byte{"k": []byte("v")}})
	srv.setSecret(&v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "other", Namespace: "team"}, Data: map[string][]byte{"k": []byte("v")}})
	a := newConfigMapAgent(t, srv, time.Now)
	ctx := context.Background()
	read := func(name string) int {
		t.Helper()
		before := srv.count()
		if _, err := a.secretKind().get(ctx, a, "team", name, true); err != nil {
			t.Fatal(err)
		}
		return srv.count() - before
	}
	if read("db") != 1 || read("other") != 1 || read("db") != 0 {
		t.Fatal("the cache did not serve a fresh read")
	}
	a.secrets.forget("team", []string{"db", "gone"})
	if n := read("db"); n != 1 {
		t.Errorf("a forgotten Secret was served from the cache (%d GETs)", n)
	}
	if n := read("other"); n != 0 {
		t.Errorf("forget dropped another Secret (%d GETs)", n)
	}
}

// A volume whose files would not fit twice in the volume's tmpfs (the old
// and the new version live together until the swap) gets a larger tmpfs,
// and an update of that size still swaps in.
func TestSecretVolumeGrowsItsTmpfs(t *testing.T) {
	big := func(b byte) []byte { return bytes.Repeat([]byte{b}, 3<<20) }
	srv := &configMapServer{}
	srv.setSecret(&v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "big", Namespace: "team"}, Data: map[string][]byte{"blob": big('a')}})
	var mu sync.Mutex
	now := time.Unix(2_000_000, 0)
	a := newConfigMapAgent(t, srv, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	w := newPodWorker(a, "pod-uid", nil)
	podDir := a.podDir("pod-uid")
	if err := makePrivateDirs(podDir, filepath.Join(podDir, volumesDir)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unmountPod(podDir); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "team", UID: "pod-uid"}, Spec: v1.PodSpec{
		Containers: []v1.Container{{Name: "c"}},
		Volumes:    []v1.Volume{{Name: "s", Secret: &v1.SecretVolumeSource{SecretName: "big"}}}}}
	v1.Default(pod)
	dir := filepath.Join(podDir, volumesDir, "s")
	for i, b := range []byte{'a', 'b'} {
		srv.setSecret(&v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "big", Namespace: "team"}, Data: map[string][]byte{"blob": big(b)}})
		mu.Lock()
		now = now.Add(ConfigMapCacheTTL)
		mu.Unlock()
		if _, err := w.syncProjected(context.Background(), pod); err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
		if got, err := os.ReadFile(filepath.Join(dir, "blob")); err != nil || !bytes.Equal(got, big(b)) {
			t.Fatalf("sync %d: the file holds %d bytes (%v), want 3 MiB of %q", i, len(got), err, b)
		}
	}
	if !tmpfsMounted(t, dir) {
		t.Error("the volume is no longer a tmpfs of its own")
	}
}
