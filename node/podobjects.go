package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	v1 "orch.io/orch/api/v1"
)

// What ConfigMaps and Secrets in pods have in common: the node reads each
// with a GET (the kubelet's "Get" change-detection strategy) through a
// node-wide cache, resolves envFrom the same way, and writes a volume of
// keys through the atomic writer on a tmpfs.

// objectCache holds the node's recent reads of one kind (ConfigMaps or
// Secrets), so pods naming the same object share one GET per
// ConfigMapCacheTTL (every service account token volume names
// kube-root-ca.crt).
type objectCache[T any] struct {
	mu      sync.Mutex
	entries map[string]cachedObject[T]
}

// maxCachedObjects is the size above which an insert drops expired reads.
const maxCachedObjects = 256

type cachedObject[T any] struct {
	obj *T // nil: not found
	at  time.Time
}

// errObjectNotFound is the kubelet's error for a missing ConfigMap or
// Secret: `configmap "x" not found`, `secret "x" not found`.
type errObjectNotFound struct{ kind, name string }

func (e errObjectNotFound) Error() string { return fmt.Sprintf("%s %q not found", e.kind, e.name) }

// errConfigKeyMissing is the kubelet's error for a key a container's
// environment names that its ConfigMap or Secret lacks.
type errConfigKeyMissing struct{ msg string }

func (e errConfigKeyMissing) Error() string { return e.msg }

// configMissing reports whether a container cannot start because a
// ConfigMap, a Secret or a key it names does not exist (yet).
func configMissing(err error) bool {
	var m errObjectNotFound
	var k errConfigKeyMissing
	return errors.As(err, &m) || errors.As(err, &k) || errors.Is(err, errServicesNotSynced)
}

// objectKind describes one kind pods consume: its resource, the word of
// the kubelet's messages, and the node-wide cache of its reads.
type objectKind[T any, PT interface {
	*T
	v1.Object
}] struct {
	resource string // "configmaps"
	kind     string // "configmap", as in the kubelet's not-found error
	cache    *objectCache[T]
}

// get reads an object of the namespace, from the node's cache when cached
// allows a read up to ConfigMapCacheTTL old. A missing one is
// errObjectNotFound.
func (k objectKind[T, PT]) get(ctx context.Context, a *Agent, namespace, name string, cached bool) (*T, error) {
	c := k.cache
	key := namespace + "/" + name
	now := a.cfg.Now()
	if cached {
		c.mu.Lock()
		e, ok := c.entries[key]
		c.mu.Unlock()
		if ok && now.Sub(e.at) < ConfigMapCacheTTL && !now.Before(e.at) {
			if e.obj == nil {
				return nil, errObjectNotFound{kind: k.kind, name: name}
			}
			return e.obj, nil
		}
	}
	obj, err := k.read(ctx, a, namespace, name)
	var missing errObjectNotFound
	if err == nil || errors.As(err, &missing) {
		c.mu.Lock()
		if c.entries == nil {
			c.entries = map[string]cachedObject[T]{}
		}
		if len(c.entries) >= maxCachedObjects {
			// Reads that expired are dropped (of objects no pod names any
			// more, too), so the cache stays about the working set.
			for k, e := range c.entries {
				if now.Sub(e.at) >= ConfigMapCacheTTL {
					delete(c.entries, k)
				}
			}
		}
		c.entries[key] = cachedObject[T]{obj: obj, at: now}
		c.mu.Unlock()
	}
	return obj, err
}

// forget drops the node's reads of the named objects of a namespace (a
// pod that named them is gone; another pod naming one reads it again).
func (c *objectCache[T]) forget(namespace string, names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range names {
		delete(c.entries, namespace+"/"+name)
	}
}

// read GETs an object through the API.
func (k objectKind[T, PT]) read(ctx context.Context, a *Agent, namespace, name string) (*T, error) {
	obj := new(T)
	err := a.cfg.Client.Get(ctx, k.resource, namespace, name, PT(obj))
	if v1.IsNotFound(err) {
		return nil, errObjectNotFound{kind: k.kind, name: name}
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %q: %w", k.kind, name, err)
	}
	return obj, nil
}

// podObjects holds the objects of one kind read during one container
// start or volume sync, so an object named twice is read once. A
// container start reads them fresh; a volume sync may use the node's
// cache.
type podObjects[T any, PT interface {
	*T
	v1.Object
}] struct {
	a      *Agent
	kind   objectKind[T, PT]
	ns     string
	cached bool
	byKey  map[string]*T
	errs   map[string]error
}

func newPodObjects[T any, PT interface {
	*T
	v1.Object
}](a *Agent, kind objectKind[T, PT], namespace string, cached bool) *podObjects[T, PT] {
	return &podObjects[T, PT]{a: a, kind: kind, ns: namespace, cached: cached, byKey: map[string]*T{}, errs: map[string]error{}}
}

// get returns the named object; with optional, a missing one is nil and
// no error.
func (c *podObjects[T, PT]) get(ctx context.Context, name string, optional bool) (*T, error) {
	obj, ok := c.byKey[name]
	err := c.errs[name]
	if !ok && err == nil {
		obj, err = c.kind.get(ctx, c.a, c.ns, name, c.cached)
		c.byKey[name], c.errs[name] = obj, err
	}
	var missing errObjectNotFound
	if errors.As(err, &missing) && optional {
		return nil, nil
	}
	return obj, err
}

// setEnvFrom sets every key of an envFrom source as a variable, with the
// prefix, as the kubelet: keys that are not valid variable names are
// skipped, with its event naming them (kind is "configMap" or "secret").
func (w *podWorker) setEnvFrom(env *orderedEnv, pod *v1.Pod, prefix, kind, name string, data map[string]string) {
	var invalid []string
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n := prefix + k
		if len(validation.IsEnvVarName(n)) != 0 {
			invalid = append(invalid, n)
			continue
		}
		env.set(n, data[k])
	}
	if len(invalid) > 0 {
		w.a.cfg.Recorder.Eventf(pod, v1.EventTypeWarning, "InvalidEnvironmentVariableNames",
			"Keys [%s] from the EnvFrom %s %s/%s were skipped since they are considered invalid environment variable names.",
			strings.Join(invalid, ", "), kind, pod.Namespace, name)
	}
}

// keyFiles is the kubelet's MakePayload for configMap and secret volumes:
// every key of data as a file of its name, or the listed items, with the
// item's mode or the default. A listed key data lacks is an error
// (missingKey, the kubelet's words, followed by the key) unless optional.
func keyFiles(data map[string][]byte, items []v1.KeyToPath, defaultMode os.FileMode, optional bool, missingKey string, files map[string]projectedFile) error {
	if len(items) == 0 {
		for k, v := range data {
			files[k] = projectedFile{data: v, mode: defaultMode}
		}
		return nil
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("%s%s", missingKey, it.Key)
		}
		mode := defaultMode
		if it.Mode != nil {
			mode = os.FileMode(*it.Mode) & 0o777
		}
		files[it.Path] = projectedFile{data: b, mode: mode}
	}
	return nil
}

// keyVolume is what a configMap or a secret volume says: the object, its
// items, the files' default mode and whether it may be missing.
type keyVolume struct {
	items       []v1.KeyToPath
	defaultMode *int32
	optional    bool
	// data reads the object's keys and values (nil for a missing
	// optional one).
	data func(ctx context.Context) (map[string][]byte, error)
	// missingKey starts the kubelet's error for a listed key that is not
	// there.
	missingKey string
}

// syncKeyVolume writes one configMap or secret volume on its tmpfs: the
// object's files, or none for a missing optional one. Nothing is written
// unless the tmpfs is mounted.
func (w *podWorker) syncKeyVolume(ctx context.Context, pod *v1.Pod, volName string, kv keyVolume) error {
	fail := func(err error) error { return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", volName, err) }
	dir := filepath.Join(w.a.podDir(w.uid), volumesDir, volName)
	if err := w.a.setupProjectedDir(dir); err != nil {
		return fail(err)
	}
	data, err := kv.data(ctx)
	if err != nil {
		return fail(err)
	}
	mode := os.FileMode(v1.ConfigMapVolumeDefaultMode)
	if kv.defaultMode != nil {
		mode = os.FileMode(*kv.defaultMode) & 0o777
	}
	files := map[string]projectedFile{}
	if data != nil {
		if err := keyFiles(data, kv.items, mode, kv.optional, kv.missingKey, files); err != nil {
			return fail(err)
		}
	}
	if err := w.a.fitTmpfs(dir, files); err != nil {
		return fail(err)
	}
	if err := writeAtomic(dir, files, volumeGroup(pod, files)); err != nil {
		return fail(err)
	}
	return nil
}
