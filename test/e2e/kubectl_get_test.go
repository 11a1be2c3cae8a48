package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	utilversion "k8s.io/apimachinery/pkg/util/version"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// kubectlTable is kubectl's human-readable output split into columns at
// the header's column starts (cells may hold spaces, as "NOMINATED NODE"
// and "1 (5s ago)" do).
type kubectlTable struct {
	header []string
	rows   [][]string
}

// parseKubectlTable splits kubectl's table output. Columns start where a
// header word follows two or more spaces (kubectl pads with at least three).
func parseKubectlTable(t *testing.T, out string) kubectlTable {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("no table in %q", out)
	}
	head := lines[0]
	starts := []int{0}
	for i := 2; i < len(head); i++ {
		if head[i] != ' ' && head[i-1] == ' ' && head[i-2] == ' ' {
			starts = append(starts, i)
		}
	}
	cut := func(line string) []string {
		var cells []string
		for j, s := range starts {
			end := len(line)
			if j+1 < len(starts) && starts[j+1] < end {
				end = starts[j+1]
			}
			if s >= len(line) {
				cells = append(cells, "")
				continue
			}
			cells = append(cells, strings.TrimSpace(line[s:end]))
		}
		return cells
	}
	tab := kubectlTable{header: cut(head)}
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) != "" {
			tab.rows = append(tab.rows, cut(l))
		}
	}
	return tab
}

// row returns the row whose first cell is name.
func (k kubectlTable) row(t *testing.T, name string) map[string]string {
	t.Helper()
	for _, r := range k.rows {
		if r[0] == name {
			m := map[string]string{}
			for i, h := range k.header {
				m[h] = r[i]
			}
			return m
		}
	}
	t.Fatalf("no row %q in %v", name, k.rows)
	return nil
}

// kubectl runs the test kubectl against the cluster and fails on an error.
func kubectl(t *testing.T, run func(...string) (string, string, error), args ...string) string {
	t.Helper()
	out, errOut, err := run(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	t.Logf("kubectl %s:\n%s", strings.Join(args, " "), out)
	return out
}

// TestKubectlGet drives the kubectl built from k8s.io/kubectl against three
// masters and a node: version, api-resources from aggregated discovery,
// server-side Table columns of get (and -o wide, -w and get all).
func TestKubectlGet(t *testing.T) {
	t.Parallel()
	c, _ := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	run := c.Kubectl

	// kubectl version: exit 0 and a server version it parses as semver.
	var ver struct {
		ServerVersion struct {
			Major, Minor, GitVersion string
		} `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(kubectl(t, run, "version", "-o", "json")), &ver); err != nil {
		t.Fatalf("kubectl version -o json: %v", err)
	}
	sv, err := utilversion.ParseSemantic(ver.ServerVersion.GitVersion)
	if err != nil {
		t.Fatalf("server gitVersion %q: %v", ver.ServerVersion.GitVersion, err)
	}
	if ver.ServerVersion.Major != strconv.Itoa(int(sv.Major())) || ver.ServerVersion.Minor != strconv.Itoa(int(sv.Minor())) {
		t.Errorf("server major.minor %s.%s do not match %s", ver.ServerVersion.Major, ver.ServerVersion.Minor, ver.ServerVersion.GitVersion)
	}
	if out := kubectl(t, run, "version"); !strings.Contains(out, "Server Version: "+ver.ServerVersion.GitVersion) {
		t.Errorf("kubectl version:\n%s", out)
	}

	// kubectl api-resources lists every kind of the resource table.
	res := parseKubectlTable(t, kubectl(t, run, "api-resources", "-o", "wide"))
	if want := []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND", "VERBS", "CATEGORIES"}; !slices.Equal(res.header, want) {
		t.Fatalf("api-resources header %v, want %v", res.header, want)
	}
	if len(res.rows) != len(v1.Resources()) {
		t.Errorf("api-resources lists %d resources, the table has %d:\n%v", len(res.rows), len(v1.Resources()), res.rows)
	}
	for _, r := range v1.Resources() {
		var got map[string]string
		for _, row := range res.rows {
			if row[0] == r.Name && row[2] == r.GroupVersion() {
				got = map[string]string{}
				for i, h := range res.header {
					got[h] = row[i]
				}
			}
		}
		if got == nil {
			t.Errorf("api-resources does not list %s (%s)", r.Name, r.GroupVersion())
			continue
		}
		verbs := r.Verbs
		if verbs == nil {
			verbs = []string{"create", "delete", "get", "list", "patch", "update", "watch"}
		}
		want := map[string]string{"NAME": r.Name, "SHORTNAMES": strings.Join(r.ShortNames, ","), "APIVERSION": r.GroupVersion(),
			"NAMESPACED": strconv.FormatBool(r.Namespaced), "KIND": r.Kind, "VERBS": strings.Join(verbs, ","),
			"CATEGORIES": strings.Join(r.Categories, ",")}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("api-resources %s: %s = %q, want %q", r.Name, k, got[k], w)
			}
		}
	}

	// Objects to get: a replication controller's pods, a service.
	replicas := int32(2)
	rc := &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: v1.ReplicationControllerSpec{Replicas: &replicas, Selector: map[string]string{"app": "kweb"},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "kweb"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"}}}}}}}
	if err := cl.Create(ctxT(t, 10*time.Second), rc); err != nil {
		t.Fatal(err)
	}
	svc := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: v1.ServiceSpec{
		Selector: map[string]string{"app": "kweb"}, Ports: []v1.ServicePort{{Port: 80}}}}
	if err := cl.Create(ctxT(t, 5*time.Second), svc); err != nil {
		t.Fatal(err)
	}
	var pods []v1.Pod
	waitFor(t, 90*time.Second, "two web pods ready", func() (bool, string) {
		ps, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: "app=kweb"})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, p := range ps {
			if cond := p.Status.Condition(v1.PodReady); cond != nil && cond.Status == v1.ConditionTrue && p.Status.PodIP != "" {
				ready++
			}
		}
		pods = ps
		return ready == 2, fmt.Sprintf("%d ready", ready)
	})
	waitFor(t, 30*time.Second, "rc status 2 ready", func() (bool, string) {
		var got v1.ReplicationController
		if err := cl.Get(ctxT(t, 5*time.Second), "replicationcontrollers", "default", "web", &got); err != nil {
			return false, err.Error()
		}
		return got.Status.ReadyReplicas == 2, fmt.Sprintf("%+v", got.Status)
	})
	if err := cl.Get(ctxT(t, 5*time.Second), "services", "default", "web", svc); err != nil {
		t.Fatal(err)
	}

	check := func(args []string, header []string, name string, want map[string]string) {
		t.Helper()
		tab := parseKubectlTable(t, kubectl(t, run, args...))
		if !slices.Equal(tab.header, header) {
			t.Errorf("kubectl %s: header %v, want %v", strings.Join(args, " "), tab.header, header)
			return
		}
		row := tab.row(t, name)
		for k, w := range want {
			if row[k] != w {
				t.Errorf("kubectl %s: %s %s = %q, want %q", strings.Join(args, " "), name, k, row[k], w)
			}
		}
		if a, ok := row["AGE"]; ok && (a == "" || a == "<unknown>") {
			t.Errorf("kubectl %s: %s AGE = %q", strings.Join(args, " "), name, a)
		}
	}
	pod := pods[0]
	check([]string{"get", "pods"}, []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}, pod.Name,
		map[string]string{"READY": "1/1", "STATUS": "Running", "RESTARTS": "0"})
	check([]string{"get", "pods", "-o", "wide"}, []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"}, pod.Name,
		map[string]string{"READY": "1/1", "STATUS": "Running", "IP": pod.Status.PodIP, "NODE": pod.Spec.NodeName, "NOMINATED NODE": "<none>"})
	check([]string{"get", "po", pod.Name}, []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}, pod.Name,
		map[string]string{"STATUS": "Running"})
	check([]string{"get", "nodes"}, []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION"}, "node-1",
		map[string]string{"STATUS": "Ready", "ROLES": "<none>"})
	check([]string{"get", "svc"}, []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"}, "web",
		map[string]string{"TYPE": "ClusterIP", "CLUSTER-IP": svc.Spec.ClusterIP, "EXTERNAL-IP": "<none>", "PORT(S)": "80/TCP"})
	check([]string{"get", "svc", "-o", "wide"}, []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"}, "web",
		map[string]string{"SELECTOR": "app=kweb"})
	check([]string{"get", "rc"}, []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"}, "web",
		map[string]string{"DESIRED": "2", "CURRENT": "2", "READY": "2"})
	check([]string{"get", "ns"}, []string{"NAME", "STATUS", "AGE"}, "default", map[string]string{"STATUS": "Active"})
	// A kind without a printer of its own: Name and Age.
	tokenID, _, _ := v1.ParseBootstrapToken(c.CreateBootstrapToken(time.Hour))
	check([]string{"get", "bootstraptokens"}, []string{"NAME", "AGE"}, tokenID, nil)

	// --sort-by asks for the rows' whole objects (includeObject=Object).
	sorted := parseKubectlTable(t, kubectl(t, run, "get", "pods", "--sort-by=.status.podIP", "-l", "app=kweb"))
	if len(sorted.rows) != 2 {
		t.Errorf("get pods --sort-by: %v", sorted.rows)
	}
	// Every listable kind prints a table with a NAME column.
	for _, r := range v1.Resources() {
		if r.Review {
			continue
		}
		name := r.Name
		if r.Group != "" {
			name += "." + r.Group
		}
		out, errOut, err := run("get", name, "-A")
		if err != nil {
			t.Errorf("kubectl get %s -A: %v\n%s", name, err, errOut)
			continue
		}
		if out == "" {
			continue // No resources found (on stderr)
		}
		tab := parseKubectlTable(t, out)
		want := "NAME"
		if r.Namespaced {
			want = "NAMESPACE"
		}
		if tab.header[0] != want {
			t.Errorf("kubectl get %s -A: header %v", name, tab.header)
		}
	}

	// get all: the "all" category (pods, services, replication controllers).
	all := kubectl(t, run, "get", "all")
	for _, want := range []string{"pod/" + pod.Name, "replicationcontroller/web", "service/web"} {
		if !strings.Contains(all, want) {
			t.Errorf("kubectl get all lacks %s:\n%s", want, all)
		}
	}

	// get -w: Table rows for a pod as it changes.
	cmd := c.KubectlCommand("get", "pods", "-w")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
	}()
	next := func(what string) string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("kubectl get -w ended waiting for %s", what)
			}
			return l
		case <-time.After(60 * time.Second):
			t.Fatalf("kubectl get -w: no line for %s within 60s", what)
		}
		return ""
	}
	if h := strings.Fields(next("the header")); !slices.Equal(h, []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}) {
		t.Fatalf("kubectl get -w header %v", h)
	}
	for range pods {
		next("the initial rows")
	}
	late := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "late", Namespace: "default"},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"}}}}}
	createPod(t, cl, late)
	var statuses []string
	for !slices.Contains(statuses, "Running") {
		f := strings.Fields(next("the late pod Running"))
		if len(f) != 5 {
			t.Fatalf("kubectl get -w row %v has %d cells, want 5", f, len(f))
		}
		if f[0] != "late" {
			continue
		}
		if f[1] != "0/1" && f[1] != "1/1" {
			t.Errorf("late READY = %q", f[1])
		}
		statuses = append(statuses, f[2])
	}
	if statuses[0] != "Pending" && statuses[0] != "ContainerCreating" {
		t.Errorf("late pod's first status %q, want Pending or ContainerCreating (all: %v)", statuses[0], statuses)
	}
}
