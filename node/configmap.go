package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	v1 "orch.io/orch/api/v1"
)

// ConfigMaps in pods, as the kubelet consumes them: environment variables
// (env[].valueFrom.configMapKeyRef, envFrom[].configMapRef) resolved when
// a container starts, and configMap volumes (and configMap sources of
// projected volumes) written by the atomic writer on a tmpfs and rewritten
// when the ConfigMap changes. The agent reads each ConfigMap with a GET
// (the kubelet's "Get" change-detection strategy); the Node authorizer
// lets it read only those its pods name.

// ConfigMapSyncPeriod is how often the agent rewrites a pod's ConfigMap
// volumes, from reads at most ConfigMapCacheTTL old (shared by the node's
// pods): a change reaches the files within their sum, 10 s, all files at
// once (a subPath mount keeps the file it started with).
const (
	ConfigMapSyncPeriod = 5 * time.Second
	ConfigMapCacheTTL   = 5 * time.Second
)

// configMissingRetry is how soon a container whose ConfigMap or key is
// missing is tried again (not the crash-loop back-off: it has not run).
const configMissingRetry = 2 * time.Second

// configMapCache holds the node's recent ConfigMap reads, so pods naming
// the same ConfigMap (every service account token volume names
// kube-root-ca.crt) share one GET per ConfigMapCacheTTL.
type configMapCache struct {
	mu      sync.Mutex
	entries map[string]cachedConfigMap
}

// maxCachedConfigMaps is the size above which an insert drops expired reads.
const maxCachedConfigMaps = 256

type cachedConfigMap struct {
	cm *v1.ConfigMap // nil: not found
	at time.Time
}

// errConfigKeyMissing is the kubelet's error for a key a container's
// environment names that its ConfigMap lacks.
type errConfigKeyMissing struct{ msg string }

func (e errConfigKeyMissing) Error() string { return e.msg }

// configMissing reports whether a container cannot start because a
// ConfigMap or a key it names does not exist (yet).
func configMissing(err error) bool {
	var m errConfigMapNotFound
	var k errConfigKeyMissing
	return errors.As(err, &m) || errors.As(err, &k)
}

// errConfigMapNotFound is the kubelet's error for a missing ConfigMap.
type errConfigMapNotFound struct{ name string }

func (e errConfigMapNotFound) Error() string { return fmt.Sprintf("configmap %q not found", e.name) }

// getConfigMap reads a ConfigMap of the pod's namespace, from the node's
// cache when fresh allows a read up to ConfigMapCacheTTL old. A missing
// one is errConfigMapNotFound.
func (w *podWorker) getConfigMap(ctx context.Context, namespace, name string, cached bool) (*v1.ConfigMap, error) {
	c := &w.a.configMaps
	key := namespace + "/" + name
	now := w.a.cfg.Now()
	if cached {
		c.mu.Lock()
		e, ok := c.entries[key]
		c.mu.Unlock()
		if ok && now.Sub(e.at) < ConfigMapCacheTTL && !now.Before(e.at) {
			if e.cm == nil {
				return nil, errConfigMapNotFound{name: name}
			}
			return e.cm, nil
		}
	}
	cm, err := w.readConfigMap(ctx, namespace, name)
	var missing errConfigMapNotFound
	if err == nil || errors.As(err, &missing) {
		c.mu.Lock()
		if c.entries == nil {
			c.entries = map[string]cachedConfigMap{}
		}
		if len(c.entries) >= maxCachedConfigMaps {
			// Reads that expired are dropped (of ConfigMaps no pod names
			// any more, too), so the cache stays about the working set.
			for k, e := range c.entries {
				if now.Sub(e.at) >= ConfigMapCacheTTL {
					delete(c.entries, k)
				}
			}
		}
		c.entries[key] = cachedConfigMap{cm: cm, at: now}
		c.mu.Unlock()
	}
	return cm, err
}

// readConfigMap GETs a ConfigMap through the API.
func (w *podWorker) readConfigMap(ctx context.Context, namespace, name string) (*v1.ConfigMap, error) {
	var cm v1.ConfigMap
	err := w.a.cfg.Client.Get(ctx, "configmaps", namespace, name, &cm)
	if v1.IsNotFound(err) {
		return nil, errConfigMapNotFound{name: name}
	}
	if err != nil {
		return nil, fmt.Errorf("get configmap %q: %w", name, err)
	}
	return &cm, nil
}

// configMaps holds the ConfigMaps read during one container start or
// volume sync, so a ConfigMap named twice is read once. A container start
// reads them fresh; a volume sync may use the node's cache.
type configMaps struct {
	w      *podWorker
	ns     string
	cached bool
	byKey  map[string]*v1.ConfigMap
	errs   map[string]error
}

func (w *podWorker) configMaps(namespace string, cached bool) *configMaps {
	return &configMaps{w: w, ns: namespace, cached: cached, byKey: map[string]*v1.ConfigMap{}, errs: map[string]error{}}
}

// get returns the named ConfigMap; with optional, a missing one is nil
// and no error.
func (c *configMaps) get(ctx context.Context, name string, optional bool) (*v1.ConfigMap, error) {
	cm, ok := c.byKey[name]
	err := c.errs[name]
	if !ok && err == nil {
		cm, err = c.w.getConfigMap(ctx, c.ns, name, c.cached)
		c.byKey[name], c.errs[name] = cm, err
	}
	var missing errConfigMapNotFound
	if errors.As(err, &missing) && optional {
		return nil, nil
	}
	return cm, err
}

// containerEnv resolves a container's environment as the kubelet's
// makeEnvironmentVariables: envFrom first (keys that are not valid
// variable names skipped, with an event), then env in order, each
// replacing an earlier variable of its name; service variables
// (KUBERNETES_SERVICE_HOST/PORT) go first and are overridden by both.
func (w *podWorker) containerEnv(ctx context.Context, pod *v1.Pod, c *v1.Container) ([]string, error) {
	env := &orderedEnv{index: map[string]int{}}
	if h, p := w.a.cfg.KubernetesServiceHost, w.a.cfg.KubernetesServicePort; h != "" && p != "" {
		env.set("KUBERNETES_SERVICE_HOST", h)
		env.set("KUBERNETES_SERVICE_PORT", p)
	}
	cms := w.configMaps(pod.Namespace, false)
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		cm, err := cms.get(ctx, ef.ConfigMapRef.Name, v1.IsOptional(ef.ConfigMapRef.Optional))
		if err != nil {
			return nil, err
		}
		if cm == nil {
			continue
		}
		var invalid []string
		keys := make([]string, 0, len(cm.Data))
		for k := range cm.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			name := ef.Prefix + k
			if len(validation.IsEnvVarName(name)) != 0 {
				invalid = append(invalid, name)
				continue
			}
			env.set(name, cm.Data[k])
		}
		if len(invalid) > 0 {
			w.a.cfg.Recorder.Eventf(pod, v1.EventTypeWarning, "InvalidEnvironmentVariableNames",
				"Keys [%s] from the EnvFrom configMap %s/%s were skipped since they are considered invalid environment variable names.",
				strings.Join(invalid, ", "), pod.Namespace, cm.Name)
		}
	}
	for _, e := range c.Env {
		val := e.Value
		switch {
		case e.ValueFrom == nil:
		case e.ValueFrom.FieldRef != nil:
			val = w.fieldRef(pod, e.ValueFrom.FieldRef.FieldPath)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			optional := v1.IsOptional(ref.Optional)
			cm, err := cms.get(ctx, ref.Name, optional)
			if err != nil {
				return nil, err
			}
			if cm == nil {
				continue
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, errConfigKeyMissing{fmt.Sprintf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)}
			}
			val = v
		}
		env.set(e.Name, val)
	}
	return env.list(), nil
}

// orderedEnv is a container's environment: names in first-set order, the
// last value of each.
type orderedEnv struct {
	names  []string
	values []string
	index  map[string]int
}

func (e *orderedEnv) set(name, value string) {
	if i, ok := e.index[name]; ok {
		e.values[i] = value
		return
	}
	e.index[name] = len(e.names)
	e.names = append(e.names, name)
	e.values = append(e.values, value)
}

func (e *orderedEnv) list() []string {
	out := make([]string, len(e.names))
	for i, n := range e.names {
		out[i] = n + "=" + e.values[i]
	}
	return out
}

// configMapFiles is the kubelet's MakePayload: every key of the ConfigMap
// (data and binaryData) as a file of its name, or the listed items, with
// the item's mode or the default.
func configMapFiles(cm *v1.ConfigMap, items []v1.KeyToPath, defaultMode os.FileMode, optional bool, files map[string]projectedFile) error {
	if len(items) == 0 {
		for k, v := range cm.Data {
			files[k] = projectedFile{data: []byte(v), mode: defaultMode}
		}
		for k, v := range cm.BinaryData {
			files[k] = projectedFile{data: slices.Clone(v), mode: defaultMode}
		}
		return nil
	}
	for _, it := range items {
		var data []byte
		if s, ok := cm.Data[it.Key]; ok {
			data = []byte(s)
		} else if b, ok := cm.BinaryData[it.Key]; ok {
			data = slices.Clone(b)
		} else {
			if optional {
				continue
			}
			return fmt.Errorf("configmap references non-existent config key: %s", it.Key)
		}
		mode := defaultMode
		if it.Mode != nil {
			mode = os.FileMode(*it.Mode) & 0o777
		}
		files[it.Path] = projectedFile{data: data, mode: mode}
	}
	return nil
}

// syncConfigMapVolume writes one configMap volume: the ConfigMap's files,
// or none for a missing optional one.
func (w *podWorker) syncConfigMapVolume(ctx context.Context, pod *v1.Pod, v *v1.Volume, cms *configMaps) error {
	dir := filepath.Join(w.a.podDir(w.uid), volumesDir, v.Name)
	if err := w.a.setupProjectedDir(dir); err != nil {
		return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
	}
	src := v.ConfigMap
	optional := v1.IsOptional(src.Optional)
	cm, err := cms.get(ctx, src.Name, optional)
	if err != nil {
		return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
	}
	mode := os.FileMode(v1.ConfigMapVolumeDefaultMode)
	if src.DefaultMode != nil {
		mode = os.FileMode(*src.DefaultMode) & 0o777
	}
	files := map[string]projectedFile{}
	if cm != nil {
		if err := configMapFiles(cm, src.Items, mode, optional, files); err != nil {
			return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
	}
	gid := volumeGroup(pod, files)
	if err := writeAtomic(dir, files, gid); err != nil {
		return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
	}
	return nil
}

// usesConfigMapVolumes reports whether a pod has a volume whose files come
// from ConfigMaps, which the worker re-reads every ConfigMapSyncPeriod.
func usesConfigMapVolumes(pod *v1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil {
			return true
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					return true
				}
			}
		}
	}
	return false
}

// volumeGroup returns the pod's fsGroup for a volume the agent writes (-1
// for none), and gives every file group read, as the kubelet's ownership
// management of a read-only volume (its roMask): a pod running as a user
// other than root then reads files of mode 0400 through its fsGroup.
func volumeGroup(pod *v1.Pod, files map[string]projectedFile) int {
	sc := pod.Spec.SecurityContext
	if sc == nil || sc.FSGroup == nil {
		return -1
	}
	for p, f := range files {
		f.mode |= 0o440
		files[p] = f
	}
	return int(*sc.FSGroup)
}
