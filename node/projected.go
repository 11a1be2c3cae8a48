package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// Projected volumes (the service account token volume), and configMap and
// secret volumes. Each lives on a small tmpfs in the pod's volumes
// directory, written by writeAtomic, and is mounted read-only into
// containers. The token of a
// serviceAccountToken source is requested from the masters (bound to the
// pod) and refreshed as the kubelet's token manager does: once 80% of its
// lifetime has passed, or after 24 h, whichever is first.

const (
	// projectedTmpfsSize bounds one projected volume's tmpfs.
	projectedTmpfsSize = 4 << 20
	// maxTokenTTL is the age after which a token is refreshed whatever
	// its lifetime (the kubelet's maxTTL).
	maxTokenTTL = 24 * time.Hour
	// maxTokenJitter spreads refreshes (the kubelet's maxJitter).
	maxTokenJitter = 10 * time.Second
)

// projectedToken is a token the worker holds for one source of a volume.
type projectedToken struct {
	token   string
	issued  time.Time
	expires time.Time
}

// refreshAt is when the token must be replaced: 80% into its lifetime or
// 24 h after it was issued, less a jitter.
func (t *projectedToken) refreshAt(jitter time.Duration) time.Time {
	life := t.expires.Sub(t.issued)
	at := t.expires.Add(-life / 5)
	if ttl := t.issued.Add(maxTokenTTL); ttl.Before(at) {
		at = ttl
	}
	return at.Add(-jitter)
}

// syncProjected writes every projected volume of the pod, requesting or
// refreshing tokens as needed, and returns how soon a token wants
// refreshing (0: none).
func (w *podWorker) syncProjected(ctx context.Context, pod *v1.Pod) (time.Duration, error) {
	var next time.Duration
	now := w.a.cfg.Now()
	cms := w.configMaps(pod.Namespace, true)
	ss := w.secrets(pod.Namespace, true)
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.ConfigMap != nil {
			if err := w.syncConfigMapVolume(ctx, pod, v, cms); err != nil {
				return 0, err
			}
			continue
		}
		if v.Secret != nil {
			if err := w.syncSecretVolume(ctx, pod, v, ss); err != nil {
				return 0, err
			}
			continue
		}
		if v.DownwardAPI != nil {
			if err := w.syncDownwardAPIVolume(pod, v); err != nil {
				return 0, err
			}
			continue
		}
		if v.Projected == nil {
			continue
		}
		dir := filepath.Join(w.a.podDir(w.uid), volumesDir, v.Name)
		if err := w.a.setupProjectedDir(dir); err != nil {
			return 0, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
		files, refresh, err := w.projectedFiles(ctx, pod, v, cms, ss, now)
		if err != nil {
			return 0, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
		if err := w.a.fitTmpfs(dir, files); err != nil {
			return 0, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
		if err := writeAtomic(dir, files, volumeGroup(pod, files)); err != nil {
			return 0, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
		if refresh > 0 && (next == 0 || refresh < next) {
			next = refresh
		}
	}
	if usesConfigMapVolumes(pod) && (next == 0 || ConfigMapSyncPeriod < next) {
		next = ConfigMapSyncPeriod
	}
	if usesDownwardAPIVolumes(pod) && (next == 0 || DownwardAPISyncPeriod < next) {
		next = DownwardAPISyncPeriod
	}
	return next, nil
}

// projectedFiles resolves the sources of one volume to files.
func (w *podWorker) projectedFiles(ctx context.Context, pod *v1.Pod, v *v1.Volume, cms *configMaps, ss *secrets, now time.Time) (map[string]projectedFile, time.Duration, error) {
	mode := os.FileMode(v1.ProjectedDefaultMode)
	if m := v.Projected.DefaultMode; m != nil {
		mode = os.FileMode(*m) & 0o777
	}
	files := map[string]projectedFile{}
	var next time.Duration
	for i, src := range v.Projected.Sources {
		switch {
		case src.ServiceAccountToken != nil:
			t, err := w.token(ctx, pod, tokenKey(v.Name, i), src.ServiceAccountToken, now)
			if err != nil {
				return nil, 0, err
			}
			files[src.ServiceAccountToken.Path] = projectedFile{data: []byte(t.token), mode: mode}
			if d := t.refreshAt(0).Sub(now); next == 0 || d < next {
				next = max(d, time.Second)
			}
		case src.ConfigMap != nil:
			optional := v1.IsOptional(src.ConfigMap.Optional)
			cm, err := cms.get(ctx, src.ConfigMap.Name, optional)
			if err != nil {
				return nil, 0, err
			}
			if cm != nil {
				if err := configMapFiles(cm, src.ConfigMap.Items, mode, optional, files); err != nil {
					return nil, 0, err
				}
			}
		case src.Secret != nil:
			optional := v1.IsOptional(src.Secret.Optional)
			s, err := ss.get(ctx, src.Secret.Name, optional)
			if err != nil {
				return nil, 0, err
			}
			if s != nil {
				if err := keyFiles(secretData(s), src.Secret.Items, mode, optional, secretMissingKey, files); err != nil {
					return nil, 0, err
				}
			}
		case src.DownwardAPI != nil:
			if err := w.downwardAPIFiles(pod, src.DownwardAPI.Items, mode, files); err != nil {
				return nil, 0, err
			}
		}
	}
	return files, next, nil
}

// tokenKey names the token of a volume's source (by index) in w.tokens.
func tokenKey(volume string, source int) string { return fmt.Sprintf("%s/%d", volume, source) }

// token returns the held token of a source, or a new one when there is
// none yet or it is due for a refresh. A failed refresh keeps the old
// token while it is still valid.
func (w *podWorker) token(ctx context.Context, pod *v1.Pod, key string, src *v1.ServiceAccountTokenProjection, now time.Time) (*projectedToken, error) {
	if w.tokens == nil {
		w.tokens = map[string]*projectedToken{}
	}
	held := w.tokens[key]
	jitter := time.Duration(rand.Float64() * float64(maxTokenJitter))
	if held != nil && now.Before(held.refreshAt(jitter)) {
		return held, nil
	}
	t, err := w.requestToken(ctx, pod, src, now)
	if err != nil {
		if held != nil && now.Before(held.expires) {
			w.log.Warn("token refresh failed; keeping the current token", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			return held, nil
		}
		return nil, err
	}
	w.tokens[key] = t
	return t, nil
}

// requestToken asks the masters for a token of the pod's service account
// bound to the pod (POST .../serviceaccounts/{name}/token).
func (w *podWorker) requestToken(ctx context.Context, pod *v1.Pod, src *v1.ServiceAccountTokenProjection, now time.Time) (*projectedToken, error) {
	path, err := client.ResourcePath("serviceaccounts", pod.Namespace, pod.Spec.ServiceAccountName, "token")
	if err != nil {
		return nil, err
	}
	req := v1.TokenRequest{
		TypeMeta: v1.TypeMeta{Kind: "TokenRequest", APIVersion: v1.AuthenticationAPIVersion},
		Spec: v1.TokenRequestSpec{ExpirationSeconds: src.ExpirationSeconds,
			BoundObjectRef: &v1.BoundObjectReference{Kind: "Pod", APIVersion: v1.APIVersion, Name: pod.Name, UID: pod.UID}},
	}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	var out v1.TokenRequest
	if err := w.a.cfg.Client.Do(ctx, http.MethodPost, path, nil, &req, &out); err != nil {
		return nil, fmt.Errorf("failed to fetch token: %w", err)
	}
	if out.Status.Token == "" || out.Spec.ExpirationSeconds == nil {
		return nil, fmt.Errorf("failed to fetch token: the answer holds no token")
	}
	exp := out.Status.ExpirationTimestamp.Time
	return &projectedToken{token: out.Status.Token, expires: exp,
		issued: exp.Add(-time.Duration(*out.Spec.ExpirationSeconds) * time.Second)}, nil
}

// setupProjectedDir mounts a tmpfs (0755, nosuid, nodev, noexec) on dir,
// once: a restarted agent finds it mounted.
func (a *Agent) setupProjectedDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mounted, err := isMountPoint(dir)
	if err != nil || mounted {
		return err
	}
	opts := fmt.Sprintf("mode=0755,size=%d", projectedTmpfsSize)
	if err := a.mountTmpfs("tmpfs", dir, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		return fmt.Errorf("mount a tmpfs: %w", err)
	}
	return nil
}

// fitTmpfs grows the tmpfs of a volume the agent writes (mounted by
// setupProjectedDir) when files would not fit twice in it: the atomic
// writer holds the old and the new version together until the swap. A
// Secret or ConfigMap holds up to 1 MiB, and a projected volume may
// gather several; the tmpfs never shrinks while the pod lives.
func (a *Agent) fitTmpfs(dir string, files map[string]projectedFile) error {
	const page = 4 << 10
	need := uint64(64 << 10) // directories and links
	for _, f := range files {
		need += 2 * ((uint64(len(f.data)) + page - 1) / page * page)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("statfs: %w", err)
	}
	if have := st.Blocks * uint64(st.Bsize); need <= have {
		return nil
	}
	size := (need + (1<<20 - 1)) / (1 << 20) * (1 << 20)
	if err := a.mountTmpfs("tmpfs", dir, unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, fmt.Sprintf("size=%d", size)); err != nil {
		return fmt.Errorf("grow the tmpfs to %d bytes: %w", size, err)
	}
	return nil
}

// anyStarted reports whether a container of the pod was ever started here
// (a token refresh failing then must not hold the pod back).
func (w *podWorker) anyStarted() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range w.containers {
		if st.id != "" {
			return true
		}
	}
	return false
}
