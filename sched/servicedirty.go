package sched

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// serviceRetryDelay is how soon a loop keeping per-service objects
// (Endpoints, EndpointSlices) tries again the services whose writes failed
// without a change to wake it.
const serviceRetryDelay = time.Second

// serviceResync is the longest pause between the full passes of the
// endpoints and endpoint slice controllers. Every change that matters to a
// service's objects (its pods, itself, its objects) dirties that service,
// so the full pass is only a safety net: rare, as Kubernetes' informers
// resync rarely, since each costs a read of every service and pod.
const serviceResync = 10 * time.Minute

// servicesDirtiedBy returns the keys ("<ns>/<name>") of the services that
// evs concern, sorted: a service's own events; a pod's events for each
// service of the pod's namespace whose selector matched the pod before or
// after the change (as Kubernetes' getPodServiceMemberships: the services of
// one namespace are read once per pass); and the keys owned returns for the
// events of the controller's own resource. Cost: O(services in the
// namespaces of the changed pods); a pod's labels are read (its summary)
// only when its namespace has services with a selector.
func servicesDirtiedBy(store *fsm.Store, evs []fsm.Event, resource string, owned func(r *fsm.Record) []string) ([]string, error) {
	dirty := map[string]bool{}
	// byNS is the services with a selector of each namespace seen.
	type selecting struct {
		key string
		sel labels.Selector
	}
	byNS := map[string][]selecting{}
	for _, ev := range evs {
		switch ev.Resource {
		case "services":
			dirty[ev.Record.Key()] = true
		case resource:
			for _, r := range []*fsm.Record{ev.Record, ev.Prev} {
				if r != nil {
					for _, k := range owned(r) {
						dirty[k] = true
					}
				}
			}
		case "pods":
			ns, _, _ := strings.Cut(ev.Record.Key(), "/") // pods are namespaced
			svcs, ok := byNS[ns]
			if !ok {
				l, err := store.List("services", fsm.ListOptions{Namespace: ns})
				if err != nil {
					return nil, fmt.Errorf("services of namespace %s: %w", ns, err)
				}
				for _, r := range l.Items {
					if svc := r.Object().(*v1.Service); len(svc.Spec.Selector) > 0 {
						svcs = append(svcs, selecting{r.Key(), v1.SelectorFromMap(svc.Spec.Selector)})
					}
				}
				byNS[ns] = svcs
			}
			for _, svc := range svcs {
				if svc.sel.Matches(labels.Set(ev.Record.Summary().Meta.Labels)) ||
					(ev.Prev != nil && svc.sel.Matches(labels.Set(ev.Prev.Summary().Meta.Labels))) {
					dirty[svc.key] = true
				}
			}
		}
	}
	keys := make([]string, 0, len(dirty))
	for k := range dirty {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// getService returns the service of key from store, nil when there is none.
func getService(store *fsm.Store, key string) (*v1.Service, error) {
	ns, name, _ := strings.Cut(key, "/")
	r, err := store.Get("services", ns, name)
	if v1.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", key, err)
	}
	return r.Object().(*v1.Service), nil
}

// servicePods returns the pods of svc's namespace its selector matches,
// read through the pod informer (which the caller has synced to store).
// Cost: O(pods of the selector's most selective requirement).
func servicePods(store *fsm.Store, pods *Informer, svc *v1.Service) ([]*v1.Pod, error) {
	rs, err := pods.Select(store, svc.Namespace, v1.SelectorFromMap(svc.Spec.Selector))
	if err != nil {
		return nil, fmt.Errorf("pods of service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	out := make([]*v1.Pod, len(rs))
	for i, r := range rs {
		out[i] = r.Object().(*v1.Pod)
	}
	return out, nil
}

// retrySet is the services a loop must sync again: those whose writes
// failed (all of them when a whole pass failed).
type retrySet struct {
	all  bool
	keys map[string]bool
}

func (r *retrySet) add(key string) {
	if r.keys == nil {
		r.keys = map[string]bool{}
	}
	r.keys[key] = true
}

// take returns the keys and whether everything must be retried, and empties r.
func (r *retrySet) take() (keys []string, all bool) {
	for k := range r.keys {
		keys = append(keys, k)
	}
	all = r.all
	*r = retrySet{}
	return keys, all
}

// wake asks for a pass soon while something waits to be retried.
func (r *retrySet) wake() (time.Duration, bool) {
	return serviceRetryDelay, r.all || len(r.keys) > 0
}

// mergeKeys returns the sorted union of a and b.
func mergeKeys(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}
