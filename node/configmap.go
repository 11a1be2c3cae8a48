package node

import (
	"context"
	"fmt"
	"os"
	"time"

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

// configMapKind is how the agent reads ConfigMaps.
func (a *Agent) configMapKind() objectKind[v1.ConfigMap, *v1.ConfigMap] {
	return objectKind[v1.ConfigMap, *v1.ConfigMap]{resource: "configmaps", kind: "configmap", cache: &a.configMaps}
}

// configMaps holds the ConfigMaps read during one container start or
// volume sync (see podObjects).
type configMaps = podObjects[v1.ConfigMap, *v1.ConfigMap]

func (w *podWorker) configMaps(namespace string, cached bool) *configMaps {
	return newPodObjects(w.a, w.a.configMapKind(), namespace, cached)
}

// containerEnv resolves a container's environment as the kubelet's
// makeEnvironmentVariables: envFrom first (keys that are not valid
// variable names skipped, with an event), then env in order, each
// replacing an earlier variable of its name. HOSTNAME (set by containerd's
// CRI) and the service environment go first and are overridden by both.
func (w *podWorker) containerEnv(ctx context.Context, pod *v1.Pod, c *v1.Container) ([]string, error) {
	env := &orderedEnv{index: map[string]int{}}
	host, err := containerHostname(pod)
	if err != nil {
		return nil, err
	}
	env.set("HOSTNAME", host)
	svcEnv, err := w.a.serviceEnv(pod)
	if err != nil {
		return nil, err
	}
	for _, kv := range svcEnv {
		env.set(kv[0], kv[1])
	}
	cms := w.configMaps(pod.Namespace, false)
	secrets := w.secrets(pod.Namespace, false)
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, err := cms.get(ctx, ef.ConfigMapRef.Name, v1.IsOptional(ef.ConfigMapRef.Optional))
			if err != nil {
				return nil, err
			}
			if cm != nil {
				w.setEnvFrom(env, pod, ef.Prefix, "configMap", cm.Name, cm.Data)
			}
		case ef.SecretRef != nil:
			s, err := secrets.get(ctx, ef.SecretRef.Name, v1.IsOptional(ef.SecretRef.Optional))
			if err != nil {
				return nil, err
			}
			if s != nil {
				w.setEnvFrom(env, pod, ef.Prefix, "secret", s.Name, secretStrings(s))
			}
		}
	}
	for _, e := range c.Env {
		val := e.Value
		switch {
		case e.ValueFrom == nil:
		case e.ValueFrom.FieldRef != nil:
			v, err := w.fieldRef(pod, e.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return nil, err
			}
			val = v
		case e.ValueFrom.ResourceFieldRef != nil:
			v, err := w.resourceFieldRef(pod, c, e.ValueFrom.ResourceFieldRef)
			if err != nil {
				return nil, err
			}
			val = v
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
		case e.ValueFrom.SecretKeyRef != nil:
			v, ok, err := secretKeyValue(ctx, secrets, pod.Namespace, e.ValueFrom.SecretKeyRef)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
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

// configMapData is a ConfigMap's keys and values (data and binaryData)
// as files hold them.
func configMapData(cm *v1.ConfigMap) map[string][]byte {
	out := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		out[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		out[k] = v
	}
	return out
}

// configMapFiles is the kubelet's MakePayload of a ConfigMap: every key
// (data and binaryData) as a file of its name, or the listed items.
func configMapFiles(cm *v1.ConfigMap, items []v1.KeyToPath, defaultMode os.FileMode, optional bool, files map[string]projectedFile) error {
	return keyFiles(configMapData(cm), items, defaultMode, optional, "configmap references non-existent config key: ", files)
}

// syncConfigMapVolume writes one configMap volume: the ConfigMap's files,
// or none for a missing optional one.
func (w *podWorker) syncConfigMapVolume(ctx context.Context, pod *v1.Pod, v *v1.Volume, cms *configMaps) error {
	src := v.ConfigMap
	optional := v1.IsOptional(src.Optional)
	return w.syncKeyVolume(ctx, pod, v.Name, keyVolume{items: src.Items, defaultMode: src.DefaultMode, optional: optional,
		missingKey: "configmap references non-existent config key: ",
		data: func(ctx context.Context) (map[string][]byte, error) {
			cm, err := cms.get(ctx, src.Name, optional)
			if cm == nil || err != nil {
				return nil, err
			}
			return configMapData(cm), nil
		}})
}

// usesConfigMapVolumes reports whether a pod has a volume whose files come
// from ConfigMaps or Secrets, which the worker re-reads every
// ConfigMapSyncPeriod.
func usesConfigMapVolumes(pod *v1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil || v.Secret != nil {
			return true
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil || s.Secret != nil {
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
