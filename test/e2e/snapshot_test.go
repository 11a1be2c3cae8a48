package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
	"orch.io/orch/test/harness"
)

// Snapshot save → restore into a fresh three-master cluster → every object
// identical, field by field (resourceVersions included), and the restored
// cluster takes writes after the backup's history.
func TestSnapshotRestore(t *testing.T) {
	parallel(t)
	a := startCluster(t, harness.Options{})
	cl := a.Client()
	for _, name := range []string{"team-a", "team-b"} {
		if err := cl.Create(ctxT(t, 5*time.Second), &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 30; i++ {
		p := testPod("p" + strconv.Itoa(i))
		if i%2 == 1 {
			p.Namespace = "team-a"
		}
		if err := cl.Create(ctxT(t, 5*time.Second), p); err != nil {
			t.Fatal(err)
		}
	}
	rc := rcOf("keep", 2)
	rc.Spec.Template.Spec.SchedulerName = unscheduled
	if err := cl.Create(ctxT(t, 5*time.Second), rc); err != nil {
		t.Fatal(err)
	}
	svc := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []v1.ServicePort{{Port: 80}}}}
	if err := cl.Create(ctxT(t, 5*time.Second), svc); err != nil {
		t.Fatal(err)
	}
	// Let the controllers settle: the RC's pods exist and its status says so.
	waitFor(t, 30*time.Second, "the RC reporting 2 replicas", func() (bool, string) {
		var got v1.ReplicationController
		err := cl.Get(ctxT(t, 5*time.Second), "replicationcontrollers", "default", "keep", &got)
		return err == nil && got.Status.Replicas == 2 && got.Status.ObservedGeneration == got.Generation, ""
	})
	a.WaitCaughtUp(30 * time.Second)

	file := filepath.Join(t.TempDir(), "backup.orch")
	if out, stderr, err := a.Orchctl("", "snapshot", "save", file); err != nil || !strings.Contains(out, "saved") {
		t.Fatalf("snapshot save: %v\n%s%s", err, out, stderr)
	}
	out, stderr, err := a.Orchctl("", "snapshot", "inspect", file)
	if err != nil || !strings.Contains(out, "(ok)") || !strings.Contains(out, "pods") {
		t.Fatalf("snapshot inspect: %v\n%s%s", err, out, stderr)
	}
	before := allObjects(t, cl)

	b := startCluster(t, harness.Options{MasterArgs: []string{"--restore", file}})
	bcl := b.Client()
	after := allObjects(t, bcl)
	if len(after) != len(before) {
		t.Errorf("restored %d objects, the backup's cluster had %d", len(after), len(before))
	}
	for key, want := range before {
		if strings.HasSuffix(key, "/"+v1.RootCAConfigMap) {
			// The restored cluster has a CA of its own, which its leader
			// publishes in every namespace (checked below).
			continue
		}
		if slices.Contains([]string{"services/default/kubernetes", "endpoints/default/kubernetes", "endpointslices/default/kubernetes"}, key) {
			// The restored cluster's masters have API addresses of their
			// own, which its leader puts in the kubernetes service (below).
			if _, ok := after[key]; !ok {
				t.Errorf("%s missing after the restore", key)
			}
			continue
		}
		if got, ok := after[key]; !ok {
			t.Errorf("%s missing after the restore", key)
		} else if !v1.JSONEqual(json.RawMessage(got), json.RawMessage(want)) {
			t.Errorf("%s differs after the restore:\n got %s\nwant %s", key, got, want)
		}
	}
	bundle, err := pki.Load(b.PKIDir)
	if err != nil {
		t.Fatal(err)
	}
	for key := range before {
		if !strings.HasSuffix(key, "/"+v1.RootCAConfigMap) {
			continue
		}
		ns := strings.Split(key, "/")[1]
		waitFor(t, 30*time.Second, key+" holds the restored cluster's CA", func() (bool, string) {
			var cm v1.ConfigMap
			err := bcl.Get(ctxT(t, 5*time.Second), "configmaps", ns, v1.RootCAConfigMap, &cm)
			return err == nil && cm.Data[v1.RootCAKey] == string(bundle.CAPEM), errString(err)
		})
	}
	var ports []string // the restored masters' API ports: the leader's is the target
	for _, m := range b.Masters {
		ports = append(ports, m.APIAddr[strings.LastIndex(m.APIAddr, ":")+1:])
	}
	waitFor(t, 30*time.Second, fmt.Sprintf("the kubernetes service targets a restored master's API port %v", ports), func() (bool, string) {
		var svc v1.Service
		err := bcl.Get(ctxT(t, 5*time.Second), "services", "default", "kubernetes", &svc)
		return err == nil && svc.Spec.ClusterIP == "10.96.0.1" && len(svc.Spec.Ports) == 1 && slices.Contains(ports, svc.Spec.Ports[0].TargetPort.String()),
			fmt.Sprint(err, svc.Spec.Ports)
	})
	// New writes continue the history: their resourceVersions are higher.
	fresh := testPod("after-restore")
	if err := bcl.Create(ctxT(t, 5*time.Second), fresh); err != nil {
		t.Fatal(err)
	}
	var oldMax uint64
	for _, raw := range before {
		var m struct {
			Metadata v1.ObjectMeta `json:"metadata"`
		}
		json.Unmarshal([]byte(raw), &m)
		if rv, _ := strconv.ParseUint(m.Metadata.ResourceVersion, 10, 64); rv > oldMax {
			oldMax = rv
		}
	}
	if rv, _ := strconv.ParseUint(fresh.ResourceVersion, 10, 64); rv <= oldMax {
		t.Errorf("a write after the restore got resourceVersion %d, not above the backup's %d", rv, oldMax)
	}
	// A corrupted backup is refused with a clear error.
	if _, stderr, err := a.Orchctl("", "snapshot", "inspect", "/dev/null"); err == nil || !strings.Contains(stderr, "backup") {
		t.Errorf("inspect of an empty file: %v %s", err, stderr)
	}
}

// allObjects returns every object of every resource, by resource/ns/name.
func allObjects(t *testing.T, cl *client.Client) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range v1.Resources() {
		if r.Review {
			continue // answered, never stored (access reviews)
		}
		l, err := cl.List(ctxT(t, 10*time.Second), r.Name, "", client.ListOptions{})
		if err != nil {
			t.Fatalf("list %s: %v", r.Name, err)
		}
		for _, raw := range l.Items {
			var m struct {
				Metadata v1.ObjectMeta `json:"metadata"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			out[r.Name+"/"+m.Metadata.Namespace+"/"+m.Metadata.Name] = string(raw)
		}
	}
	return out
}
