package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// heartbeater posts Ready=True with a fresh lastHeartbeatTime for some
// simulated nodes, as a node agent does, until stopped per node.
type heartbeater struct {
	t      *testing.T
	cl     *client.Client
	mu     sync.Mutex
	silent map[string]bool
	cancel context.CancelFunc
	done   chan struct{}
}

func startHeartbeats(t *testing.T, cl *client.Client, nodes []string, every time.Duration) *heartbeater {
	ctx, cancel := context.WithCancel(context.Background())
	h := &heartbeater{t: t, cl: cl, silent: map[string]bool{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			for _, n := range nodes {
				h.mu.Lock()
				quiet := h.silent[n]
				h.mu.Unlock()
				if quiet {
					continue
				}
				patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []v1.NodeCondition{{
					Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "NodeReady",
					LastHeartbeatTime: v1.NewTime(time.Now()), LastTransitionTime: v1.NewTime(time.Now())}}}})
				pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
				// Errors during a leader kill are expected; the next beat retries.
				h.cl.PatchStatus(pctx, "nodes", "", n, patch, &v1.Node{})
				pcancel()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *heartbeater) silence(node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.silent[node] = true
}

func (h *heartbeater) resume(node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.silent, node)
}

func (h *heartbeater) stop() {
	h.cancel()
	<-h.done
}

// podsByNode lists the live (not terminating) pods matching a selector, by node.
func podsByNode(t *testing.T, cl *client.Client, selector string) (map[string][]v1.Pod, error) {
	pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	out := map[string][]v1.Pod{}
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
		}
	}
	return out, nil
}

func rcOf(name string, replicas int32) *v1.ReplicationController {
	return &v1.ReplicationController{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.ReplicationControllerSpec{Replicas: &replicas, Selector: map[string]string{"app": name},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
					Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}},
	}
}

func nodeNames(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("node-%d", i))
	}
	return out
}
