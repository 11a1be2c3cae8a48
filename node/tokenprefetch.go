package node

import (
	"context"
	"sync"

	v1 "orch.io/orch/api/v1"
)

// prefetchTokens requests, on goroutines of their own, the service
// account tokens of the pod's projected volumes that the worker holds
// none of, so a new pod's token requests run beside its sandbox's
// creation instead of after it (the kubelet's token manager fetches them
// when the volumes are mounted). The returned wait keeps the tokens that
// came; a failed request is left to syncProjected, which asks again and
// reports the error.
func (w *podWorker) prefetchTokens(ctx context.Context, pod *v1.Pod) (wait func()) {
	type fetched struct {
		key string
		t   *projectedToken
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got []fetched
	)
	now := w.a.cfg.Now()
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.Projected == nil {
			continue
		}
		for j, src := range v.Projected.Sources {
			key := tokenKey(v.Name, j)
			if src.ServiceAccountToken == nil || w.tokens[key] != nil {
				continue
			}
			wg.Go(func() {
				t, err := w.requestToken(ctx, pod, src.ServiceAccountToken, now)
				if err != nil {
					return
				}
				mu.Lock()
				got = append(got, fetched{key, t})
				mu.Unlock()
			})
		}
	}
	return func() {
		wg.Wait()
		if len(got) == 0 {
			return
		}
		if w.tokens == nil {
			w.tokens = map[string]*projectedToken{}
		}
		for _, f := range got {
			w.tokens[f.key] = f.t
		}
	}
}
