package node

import (
	"context"
	"fmt"

	v1 "orch.io/orch/api/v1"
)

// Secrets in pods, as the kubelet consumes them and read like ConfigMaps
// (the same node-wide cache and refresh bound, see podobjects.go):
// environment variables (env[].valueFrom.secretKeyRef, envFrom[].secretRef)
// resolved when a container starts, and secret volumes (and secret sources
// of projected volumes) written by the atomic writer on a tmpfs of their
// own, so no value touches the node's disk, rewritten within
// ConfigMapSyncPeriod + ConfigMapCacheTTL of a change and unmounted with
// the pod. The Node authorizer lets the agent get only the Secrets its
// pods name. No value is logged, and no event or status names one.

// secretKind is how the agent reads Secrets.
func (a *Agent) secretKind() objectKind[v1.Secret, *v1.Secret] {
	return objectKind[v1.Secret, *v1.Secret]{resource: "secrets", kind: "secret", cache: &a.secrets}
}

// secrets holds the Secrets read during one container start or volume
// sync (see podObjects).
type secrets = podObjects[v1.Secret, *v1.Secret]

func (w *podWorker) secrets(namespace string, cached bool) *secrets {
	return newPodObjects(w.a, w.a.secretKind(), namespace, cached)
}

// secretMissingKey starts the kubelet's error for an item naming a key
// the Secret lacks.
const secretMissingKey = "references non-existent secret key: "

// secretStrings is a Secret's data as variables hold it.
func secretStrings(s *v1.Secret) map[string]string {
	out := make(map[string]string, len(s.Data))
	for k, v := range s.Data {
		out[k] = string(v)
	}
	return out
}

// secretData is a Secret's data, never nil for a Secret that exists.
func secretData(s *v1.Secret) map[string][]byte {
	if s.Data == nil {
		return map[string][]byte{}
	}
	return s.Data
}

// secretKeyValue resolves env[].valueFrom.secretKeyRef as the kubelet:
// the key's value, or not ok for an optional Secret or key that is
// missing; a missing one otherwise is an error the container waits on.
func secretKeyValue(ctx context.Context, ss *secrets, namespace string, ref *v1.SecretKeySelector) (string, bool, error) {
	optional := v1.IsOptional(ref.Optional)
	s, err := ss.get(ctx, ref.Name, optional)
	if err != nil || s == nil {
		return "", false, err
	}
	v, ok := s.Data[ref.Key]
	if !ok {
		if optional {
			return "", false, nil
		}
		return "", false, errConfigKeyMissing{fmt.Sprintf("couldn't find key %s in Secret %s/%s", ref.Key, namespace, ref.Name)}
	}
	return string(v), true, nil
}

// syncSecretVolume writes one secret volume: the Secret's files, or none
// for a missing optional one.
func (w *podWorker) syncSecretVolume(ctx context.Context, pod *v1.Pod, v *v1.Volume, ss *secrets) error {
	src := v.Secret
	optional := v1.IsOptional(src.Optional)
	return w.syncKeyVolume(ctx, pod, v.Name, keyVolume{items: src.Items, defaultMode: src.DefaultMode, optional: optional,
		missingKey: secretMissingKey,
		data: func(ctx context.Context) (map[string][]byte, error) {
			s, err := ss.get(ctx, src.SecretName, optional)
			if s == nil || err != nil {
				return nil, err
			}
			return secretData(s), nil
		}})
}
