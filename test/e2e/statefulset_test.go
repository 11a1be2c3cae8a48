package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// statefulSetManifest is a headless service and the stateful set it
// governs: each pod serves its host name over HTTP and is ready once it
// answers.
const statefulSetManifest = `apiVersion: v1
kind: Service
metadata:
  name: nginx
  namespace: default
spec:
  clusterIP: None
  selector:
    app: sts-web
  ports:
  - name: web
    port: 8080
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  namespace: default
spec:
  serviceName: nginx
  replicas: 3
  selector:
    matchLabels:
      app: sts-web
  template:
    metadata:
      labels:
        app: sts-web
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: busybox:1.35
        command: ["sh", "-c", "hostname > /tmp/index.html; httpd -f -p 8080 -h /tmp & trap 'kill $!; exit 0' TERM; wait"]
        ports:
        - name: web
          containerPort: 8080
        readinessProbe:
          httpGet: {path: /, port: web}
          periodSeconds: 1
`

// webYAML is the Kubernetes documentation's application/web/web.yaml: its
// stateful set asks for a volume claim template, which orch cannot serve.
const webYAML = `apiVersion: v1
kind: Service
metadata:
  name: nginx-docs
  labels:
    app: nginx
spec:
  ports:
  - port: 80
    name: web
  clusterIP: None
  selector:
    app: nginx
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web-docs
spec:
  serviceName: "nginx-docs"
  replicas: 2
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: registry.k8s.io/nginx-slim:0.21
        ports:
        - containerPort: 80
          name: web
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ "ReadWriteOnce" ]
      resources:
        requests:
          storage: 1Gi
`

// podOrder records, from a watch of the set's pods, each pod's creation
// and whether the pod of the ordinal before it was Running and Ready then.
type podOrder struct {
	mu      sync.Mutex
	ready   map[string]bool
	created []string
	bad     []string
}

func (o *podOrder) observe(ev client.Event) {
	var p v1.Pod
	if err := json.Unmarshal(ev.Object, &p); err != nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if ev.Type == v1.Added {
		o.created = append(o.created, p.Name)
		var ord int
		if _, err := fmt.Sscanf(p.Name, "web-%d", &ord); err == nil && ord > 0 {
			if prev := fmt.Sprintf("web-%d", ord-1); !o.ready[prev] {
				o.bad = append(o.bad, fmt.Sprintf("%s created while %s was not Running and Ready", p.Name, prev))
			}
		}
	}
	o.ready[p.Name] = ev.Type != v1.Deleted && p.DeletionTimestamp == nil && p.Status.Phase == v1.PodRunning && p.IsReady()
}

func (o *podOrder) snapshot() (created, bad []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.created...), append([]string(nil), o.bad...)
}

// Done-when 5 of issue 15, on real nodes: a StatefulSet of 3 OrderedReady
// pods appear in order, each once the one before is Running and Ready;
// each is resolvable by its stable DNS name from another pod (and the
// headless service by its own); a deleted pod comes back with the same
// name and name in DNS. kubectl shows the set's columns; a new template
// rolls out from the highest ordinal down (kubectl rollout history lists
// both revisions); kubectl scales the set down from the highest ordinal; the documentation's web.yaml, whose set asks
// for a volume claim template, is refused with orch's reason.
func TestStatefulSetOrderedReady(t *testing.T) {
	parallel(t)
	network := harness.NewNet(t)
	c := startCluster(t, harness.Options{Net: network, Gossip: true})
	cl := c.Client()
	k := adminKubectl(t, c)
	common := []string{"--heartbeat-interval", "1s", "--resync-interval", "2s"}
	a := c.StartNode(network, "node-a", append(common, "--node-labels", "role=client")...)
	c.StartNode(network, "node-b", append(common, "--node-labels", "role=web")...)
	waitFor(t, 60*time.Second, "2 nodes Ready", func() (bool, string) {
		ns, _, err := client.ListTyped[v1.Node](ctxT(t, 5*time.Second), cl, "nodes", "", client.ListOptions{})
		n := 0
		for _, nd := range ns {
			if r := nd.Status.Condition(v1.NodeReady); r != nil && r.Status == v1.ConditionTrue {
				n++
			}
		}
		return err == nil && n == 2, fmt.Sprint(n, err)
	})

	// Watch the set's pods from before it exists.
	_, rv, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: "app=sts-web"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cl.Watch(t.Context(), "pods", "default", client.WatchOptions{ResourceVersion: rv,
		ListOptions: client.ListOptions{LabelSelector: "app=sts-web"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	order := &podOrder{ready: map[string]bool{}}
	go func() {
		for ev := range w.Events() {
			order.observe(ev)
		}
	}()

	// The client pod asks from node A; the set's pods may land anywhere.
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "client", Labels: map[string]string{"app": "client"}},
		Spec: v1.PodSpec{NodeSelector: map[string]string{"role": "client"}, TerminationGracePeriodSeconds: int64p(1),
			Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sh", "-c", clientScript}}}}})
	var clientIP string
	waitFor(t, 60*time.Second, "the client pod answering", func() (bool, string) {
		ps := runningPods(t, cl, "app=client")
		if len(ps) != 1 {
			return false, "not running"
		}
		clientIP = ps[0].Status.PodIP
		out, err := httpGet(a, "http://"+clientIP+":9000/cgi-bin/get?127.0.0.1:9000/cgi-bin/get&0")
		return err == nil, fmt.Sprintf("%q %v", out, err)
	})
	get := func(target string) string {
		t.Helper()
		out, err := a.Exec(20*time.Second, "busybox", "wget", "-q", "-O", "-",
			fmt.Sprintf("http://%s:9000/cgi-bin/get?%s&1", clientIP, target))
		if err != nil {
			return "FAIL " + err.Error()
		}
		return strings.TrimSpace(out)
	}

	if out := k.ok(t, "", "apply", "-f", manifest(t, "sts.yaml", statefulSetManifest)); !strings.Contains(out, "statefulset.apps/web created") {
		t.Fatalf("kubectl apply said %q", out)
	}
	waitFor(t, 120*time.Second, "3 pods Running and Ready", func() (bool, string) {
		ps := runningPods(t, cl, "app=sts-web")
		ready := 0
		for _, p := range ps {
			if p.IsReady() {
				ready++
			}
		}
		created, _ := order.snapshot()
		return ready == 3, fmt.Sprintf("%d ready, created %v", ready, created)
	})
	created, bad := order.snapshot()
	if strings.Join(created, ",") != "web-0,web-1,web-2" || len(bad) > 0 {
		t.Fatalf("pods created in order %v; %v", created, bad)
	}
	for _, p := range runningPods(t, cl, "app=sts-web") {
		if p.Spec.Hostname != p.Name || p.Spec.Subdomain != "nginx" || p.Labels[v1.StatefulSetPodNameLabel] != p.Name ||
			p.Labels[v1.PodIndexLabel] != strings.TrimPrefix(p.Name, "web-") || p.Labels[v1.ControllerRevisionHashLabel] == "" {
			t.Errorf("pod %s: hostname %q subdomain %q labels %v", p.Name, p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
		}
		if ref := p.ControllerRef(); ref == nil || ref.Kind != "StatefulSet" || ref.Name != "web" {
			t.Errorf("pod %s controller %+v", p.Name, ref)
		}
	}

	// Each pod by its stable name, from the client pod.
	for _, name := range []string{"web-0", "web-1", "web-2"} {
		waitFor(t, 30*time.Second, name+" by its DNS name", func() (bool, string) {
			out := get(name + ".nginx.default.svc.cluster.local:8080")
			return out == name, out
		})
	}
	// The headless service's name answers with the pods' addresses.
	waitFor(t, 30*time.Second, "the headless service's name", func() (bool, string) {
		out := get("nginx.default.svc.cluster.local:8080")
		return strings.HasPrefix(out, "web-"), out
	})

	var ss v1.StatefulSet
	waitFor(t, 30*time.Second, "the set's status", func() (bool, string) {
		if err := cl.Get(ctxT(t, 5*time.Second), "statefulsets", "default", "web", &ss); err != nil {
			return false, err.Error()
		}
		st := ss.Status
		return st.Replicas == 3 && st.ReadyReplicas == 3 && st.AvailableReplicas == 3 && st.UpdatedReplicas == 3 &&
			st.CurrentReplicas == 3 && st.CurrentRevision != "" && st.CurrentRevision == st.UpdateRevision &&
			st.ObservedGeneration == ss.Generation, fmt.Sprintf("%+v", st)
	})
	tab := parseKubectlTable(t, k.ok(t, "", "get", "sts", "-o", "wide"))
	if row := tab.row(t, "web"); row["READY"] != "3/3" || row["CONTAINERS"] != "web" || row["IMAGES"] != "busybox:1.35" {
		t.Errorf("kubectl get sts -o wide: %v", row)
	}

	// A deleted pod comes back under its name, with a new uid, and its
	// name resolves again.
	old := getPod(t, cl, "web-1")
	k.ok(t, "", "delete", "pod", "web-1", "--wait=false")
	waitFor(t, 90*time.Second, "web-1 back", func() (bool, string) {
		var p v1.Pod
		if err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", "web-1", &p); err != nil {
			return false, err.Error()
		}
		return p.UID != old.UID && p.Status.Phase == v1.PodRunning && p.IsReady(), fmt.Sprintf("uid %s phase %s", p.UID, p.Status.Phase)
	})
	waitFor(t, 30*time.Second, "web-1 by its DNS name again", func() (bool, string) {
		out := get("web-1.nginx.default.svc.cluster.local:8080")
		return out == "web-1", out
	})

	// A new template rolls out from the highest ordinal down, one pod at a
	// time; kubectl reads the history from the set's ControllerRevisions.
	before, _ := order.snapshot()
	k.ok(t, "", "patch", "sts", "web", "-p", `{"spec":{"template":{"metadata":{"annotations":{"rev":"2"}}}}}`)
	waitFor(t, 120*time.Second, "the rolling update done", func() (bool, string) {
		if err := cl.Get(ctxT(t, 5*time.Second), "statefulsets", "default", "web", &ss); err != nil {
			return false, err.Error()
		}
		st := ss.Status
		return st.ObservedGeneration == ss.Generation && st.UpdatedReplicas == 3 && st.ReadyReplicas == 3 &&
			st.CurrentRevision == st.UpdateRevision, fmt.Sprintf("%+v", st)
	})
	after, bad := order.snapshot()
	if got := strings.Join(after[len(before):], ","); got != "web-2,web-1,web-0" || len(bad) > 0 {
		t.Fatalf("pods remade in order %s; %v", got, bad)
	}
	for _, p := range runningPods(t, cl, "app=sts-web") {
		if p.Labels[v1.ControllerRevisionHashLabel] != ss.Status.UpdateRevision || p.Annotations["rev"] != "2" {
			t.Errorf("pod %s after the update: labels %v annotations %v", p.Name, p.Labels, p.Annotations)
		}
	}
	hist := k.ok(t, "", "rollout", "history", "sts/web")
	if !strings.Contains(hist, "REVISION") || !strings.Contains(hist, "1 ") || !strings.Contains(hist, "2 ") {
		t.Errorf("kubectl rollout history:\n%s", hist)
	}

	// kubectl scale: the highest ordinal goes first.
	k.ok(t, "", "scale", "sts", "web", "--replicas=1")
	waitFor(t, 90*time.Second, "the set scaled to web-0", func() (bool, string) {
		pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: "app=sts-web"})
		var names []string
		for _, p := range pods {
			names = append(names, p.Name)
		}
		return err == nil && len(names) == 1 && names[0] == "web-0", fmt.Sprint(names, err)
	})
	if p := getPod(t, cl, "web-0"); p.DeletionTimestamp != nil {
		t.Fatal("web-0 is being deleted")
	}

	// The documentation's web.yaml: the service is made, the set refused.
	stdout, stderr, code := k.run(t, "", "apply", "-f", manifest(t, "web.yaml", webYAML))
	if code == 0 || !strings.Contains(stdout, "service/nginx-docs created") ||
		!strings.Contains(stderr, "spec.volumeClaimTemplates: Forbidden: orch has no persistent volumes yet") {
		t.Fatalf("kubectl apply web.yaml: code %d\n%s%s", code, stdout, stderr)
	}
}
