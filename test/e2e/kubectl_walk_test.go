package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	utilversion "k8s.io/apimachinery/pkg/util/version"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/auth/rbac"
)

// TestKubectlWalk is done-when 1 of issue 14: the kubectl built from
// k8s.io/kubectl, with its default client-side validation (never
// --validate=false), walks every verb a user needs against three masters
// and a real node, in the order a user would, one subtest per verb.
func TestKubectlWalk(t *testing.T) {
	parallel(t)
	c, _ := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	k := adminKubectl(t, c)
	ctx := ctxT(t, 10*time.Minute)
	getRC := func(t *testing.T, name string) *v1.ReplicationController {
		t.Helper()
		var rc v1.ReplicationController
		if err := cl.Get(ctx, "replicationcontrollers", "default", name, &rc); err != nil {
			t.Fatalf("get rc %s: %v", name, err)
		}
		return &rc
	}
	container := func(t *testing.T, rc *v1.ReplicationController, name string) *v1.Container {
		t.Helper()
		for i := range rc.Spec.Template.Spec.Containers {
			if c := &rc.Spec.Template.Spec.Containers[i]; c.Name == name {
				return c
			}
		}
		t.Fatalf("rc has no container %q: %+v", name, rc.Spec.Template.Spec.Containers)
		return nil
	}
	ports := func(c *v1.Container) []int32 {
		var out []int32
		for _, p := range c.Ports {
			out = append(out, p.ContainerPort)
		}
		return out
	}
	running := func(t *testing.T, names ...string) {
		t.Helper()
		for _, name := range names {
			waitFor(t, 90*time.Second, name+" running", func() (bool, string) {
				p := getPod(t, cl, name)
				cs := containerStatus(p, "c")
				return cs != nil && cs.State.Running != nil, p.Status.Phase
			})
		}
	}

	t.Run("version", func(t *testing.T) {
		var ver struct {
			ServerVersion struct {
				Major, Minor, GitVersion string
			} `json:"serverVersion"`
		}
		if err := json.Unmarshal([]byte(k.ok(t, "", "version", "-o", "json")), &ver); err != nil {
			t.Fatalf("kubectl version -o json: %v", err)
		}
		sv, err := utilversion.ParseSemantic(ver.ServerVersion.GitVersion)
		if err != nil {
			t.Fatalf("server gitVersion %q: %v", ver.ServerVersion.GitVersion, err)
		}
		if ver.ServerVersion.Major != strconv.Itoa(int(sv.Major())) || ver.ServerVersion.Minor != strconv.Itoa(int(sv.Minor())) {
			t.Errorf("server major.minor %s.%s do not match %s", ver.ServerVersion.Major, ver.ServerVersion.Minor, ver.ServerVersion.GitVersion)
		}
		if out := k.ok(t, "", "version"); !strings.Contains(out, "Server Version: "+ver.ServerVersion.GitVersion) {
			t.Errorf("kubectl version:\n%s", out)
		}
	})

	t.Run("api-resources", func(t *testing.T) {
		checkAPIResources(t, k.ok(t, "", "api-resources", "-o", "wide"))
	})

	t.Run("explain", func(t *testing.T) {
		out := k.ok(t, "", "explain", "pod.spec.containers")
		for _, want := range []string{"KIND:       Pod", "FIELD: containers <[]Container>", "Container is one process tree of a pod.",
			"image\t<string>", "name\t<string> -required-"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl explain pod.spec.containers lacks %q:\n%s", want, out)
			}
		}
		if out := k.ok(t, "", "explain", "pod.spec.containers.image"); !strings.Contains(out, "The container image to run") {
			t.Errorf("kubectl explain pod.spec.containers.image:\n%s", out)
		}
		// From the v2 document as well.
		if out := k.ok(t, "", "explain", "pod.spec.containers.image", "--output=plaintext-openapiv2"); !strings.Contains(out, "The container image to run") {
			t.Errorf("kubectl explain --output=plaintext-openapiv2:\n%s", out)
		}
		if out := k.ok(t, "", "explain", "clusterrole.rules.verbs"); !strings.Contains(out, "GROUP:      rbac.authorization.k8s.io") {
			t.Errorf("kubectl explain clusterrole.rules.verbs:\n%s", out)
		}
	})

	t.Run("create", func(t *testing.T) {
		k.ok(t, "", "create", "-f", manifest(t, "walk.yaml", walkManifest))
		for _, o := range []struct {
			res, name string
			obj       v1.Object
		}{{"pods", "shell", &v1.Pod{}}, {"pods", "lines", &v1.Pod{}}, {"pods", "once", &v1.Pod{}}, {"pods", "once2", &v1.Pod{}},
			{"pods", "term", &v1.Pod{}}, {"services", "web", &v1.Service{}}, {"replicationcontrollers", "web", &v1.ReplicationController{}},
			{"roles", "walk", &v1.Role{}}} {
			if err := cl.Get(ctx, o.res, "default", o.name, o.obj); err != nil {
				t.Errorf("%s/%s after kubectl create -f: %v", o.res, o.name, err)
			}
		}
		// The typed clients' protobuf bodies.
		k.ok(t, "", "create", "namespace", "walk-ns")
		if err := cl.Get(ctx, "namespaces", "", "walk-ns", &v1.Namespace{}); err != nil {
			t.Fatalf("the namespace was not created: %v", err)
		}
		k.ok(t, "", "create", "service", "clusterip", "conf", "--tcp=80:8080")
		var svc v1.Service
		if err := cl.Get(ctx, "services", "default", "conf", &svc); err != nil {
			t.Fatalf("the service was not created: %v", err)
		}
		if svc.Spec.ClusterIP == "" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.IntValue() != 8080 {
			t.Fatalf("service spec %+v", svc.Spec)
		}
		// Creating it again is refused with Kubernetes' wording.
		if _, errOut, code := k.run(t, "", "create", "namespace", "walk-ns"); code == 0 || !strings.Contains(errOut, `namespaces "walk-ns" already exists`) {
			t.Errorf("second create namespace: exit %d, %q", code, errOut)
		}
	})

	t.Run("apply twice with a changed list", func(t *testing.T) {
		k.ok(t, confManifest("80", "443"), "apply", "-f", "-")
		k.ok(t, confManifest("8080", "80"), "apply", "-f", "-")
		rc := getRC(t, "conf")
		if got := ports(container(t, rc, "web")); len(got) != 2 || got[0] != 8080 || got[1] != 80 {
			t.Fatalf("ports after the second apply: %v", got)
		}
		if len(rc.Spec.Template.Spec.Containers) != 2 {
			t.Fatalf("containers %+v", rc.Spec.Template.Spec.Containers)
		}
		// An unknown field is refused, named, and nothing is created.
		bad := strings.Replace(strings.Replace(confManifest("80"), "name: conf", "name: bad", 1),
			"        image: busybox:1.36\n        command:", "        image: busybox:1.36\n        imagePullPolicyy: Always\n        command:", 1)
		out, errOut, code := k.run(t, bad, "apply", "--validate=strict", "-f", "-")
		if code == 0 || !strings.Contains(out+errOut, `unknown field "spec.template.spec.containers[0].imagePullPolicyy"`) {
			t.Errorf("kubectl apply --validate=strict of an unknown field: exit %d, %q %q; want a failure naming imagePullPolicyy", code, out, errOut)
		}
		if err := cl.Get(ctx, "replicationcontrollers", "default", "bad", &v1.ReplicationController{}); !v1.IsNotFound(err) {
			t.Errorf("rc bad with an unknown field: %v, want not found", err)
		}
	})

	// Server-side apply (t-ssa builds it): a second manager that sets a
	// field the first owns is refused with a conflict naming the owner and
	// the field; --force-conflicts takes the field over.
	t.Run("apply --server-side with a conflict", func(t *testing.T) {
		first := "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: ssa\n  labels: {owner: kubectl}\nspec:\n  replicas: 0\n  selector: {app: ssa}\n  template:\n    metadata:\n      labels: {app: ssa}\n    spec:\n      containers:\n      - name: c\n        image: busybox:1.35\n"
		if out := k.ok(t, first, "apply", "--server-side", "-f", "-"); !strings.Contains(out, "replicationcontroller/ssa serverside-applied") {
			t.Errorf("apply --server-side said %q", out)
		}
		second := "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: ssa\n  labels: {owner: other}\n"
		out, errOut, code := k.run(t, second, "apply", "--server-side", "--field-manager=walk-other", "-f", "-")
		if code == 0 || !strings.Contains(errOut, "Apply failed with 1 conflict") ||
			!strings.Contains(errOut, `conflict with "kubectl"`) || !strings.Contains(errOut, ".metadata.labels.owner") {
			t.Fatalf("a conflicting server-side apply: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if got := getRC(t, "ssa").Labels["owner"]; got != "kubectl" {
			t.Fatalf("the refused apply changed the label to %q", got)
		}
		k.ok(t, second, "apply", "--server-side", "--field-manager=walk-other", "--force-conflicts", "-f", "-")
		rc := getRC(t, "ssa")
		if rc.Labels["owner"] != "other" {
			t.Fatalf("after --force-conflicts the label is %q", rc.Labels["owner"])
		}
		managed := k.ok(t, "", "get", "rc", "ssa", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}")
		if !strings.Contains(managed, "kubectl") || !strings.Contains(managed, "walk-other") {
			t.Errorf("managedFields managers %q, want kubectl and walk-other", managed)
		}
	})

	t.Run("diff", func(t *testing.T) {
		before := getRC(t, "conf")
		changed := strings.Replace(confManifest("8080", "80", "9090"), "replicas: 0", "replicas: 5", 1)
		out, errOut, code := k.run(t, changed, "diff", "-f", "-")
		if code != 1 || !strings.Contains(out, "containerPort: 9090") || !strings.Contains(out, "+  replicas: 5") {
			t.Fatalf("kubectl diff: exit %d (want 1: differences)\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if out, errOut, code := k.run(t, confManifest("8080", "80"), "diff", "-f", "-"); code != 0 || out != "" {
			t.Errorf("kubectl diff of what is there: exit %d, %q %q", code, out, errOut)
		}
		// Server dry runs change nothing either.
		k.ok(t, changed, "apply", "--dry-run=server", "-f", "-")
		pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: dry, namespace: default}\nspec:\n  containers: [{name: c, image: busybox:1.35}]\n"
		if out := k.ok(t, pod, "create", "--dry-run=server", "-f", "-"); !strings.Contains(out, "pod/dry created (server dry run)") {
			t.Errorf("create --dry-run=server said %q", out)
		}
		k.ok(t, "", "delete", "rc", "conf", "--dry-run=server")
		k.ok(t, "", "delete", "namespace", "walk-ns", "--dry-run=server")
		after := getRC(t, "conf")
		if after.Generation != before.Generation || *after.Spec.Replicas != *before.Spec.Replicas || after.DeletionTimestamp != nil ||
			len(ports(container(t, after, "web"))) != 2 {
			t.Fatalf("a dry run changed the rc: generation %d→%d replicas %d→%d ports %v", before.Generation, after.Generation,
				*before.Spec.Replicas, *after.Spec.Replicas, ports(container(t, after, "web")))
		}
		if err := cl.Get(ctx, "pods", "default", "dry", &v1.Pod{}); !v1.IsNotFound(err) {
			t.Fatalf("a dry-run create left a pod: %v", err)
		}
		var ns v1.Namespace
		if err := cl.Get(ctx, "namespaces", "", "walk-ns", &ns); err != nil || ns.DeletionTimestamp != nil || ns.Status.Phase == v1.NamespaceTerminating {
			t.Fatalf("a dry-run delete touched the namespace: %v %+v", err, ns.Status)
		}
	})

	t.Run("edit", func(t *testing.T) {
		editor := manifest(t, "editor.sh", "#!/bin/sh\nsed -i 's/app: shell$/app: edited/' \"$1\"\n")
		if err := os.Chmod(editor, 0o700); err != nil {
			t.Fatal(err)
		}
		k.withEnv("EDITOR="+editor, "KUBE_EDITOR="+editor).ok(t, "", "edit", "pod/shell")
		if got := getPod(t, cl, "shell").Labels["app"]; got != "edited" {
			t.Errorf("pod shell after kubectl edit: app=%q, want edited", got)
		}
	})

	t.Run("patch", func(t *testing.T) {
		k.ok(t, "", "patch", "rc", "conf", "--type=strategic", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:1.35"}]}}}}`)
		rc := getRC(t, "conf")
		if container(t, rc, "side").Image != "busybox:1.35" || container(t, rc, "web").Image != "busybox:1.36" {
			t.Fatalf("a name-keyed strategic patch did not merge: %+v", rc.Spec.Template.Spec.Containers)
		}
		k.ok(t, "", "patch", "rc", "conf", "--type=merge", "-p", `{"metadata":{"labels":{"patched":"merge"}}}`)
		if got := getRC(t, "conf").Labels["patched"]; got != "merge" {
			t.Fatalf("label after a merge patch %q", got)
		}
		k.ok(t, "", "patch", "rc", "conf", "--type=json", "-p", `[{"op":"test","path":"/metadata/labels/patched","value":"merge"},{"op":"replace","path":"/metadata/labels/patched","value":"json"}]`)
		if got := getRC(t, "conf").Labels["patched"]; got != "json" {
			t.Fatalf("label after a json patch %q", got)
		}
		if _, _, code := k.run(t, "", "patch", "rc", "conf", "--type=json", "-p", `[{"op":"test","path":"/metadata/labels/patched","value":"other"}]`); code == 0 {
			t.Fatalf("a json patch whose test op fails succeeded")
		}
	})

	t.Run("set image", func(t *testing.T) {
		k.ok(t, "", "set", "image", "rc/conf", "web=busybox:1.34")
		rc := getRC(t, "conf")
		if container(t, rc, "web").Image != "busybox:1.34" || container(t, rc, "side").Image != "busybox:1.35" {
			t.Fatalf("images %+v", rc.Spec.Template.Spec.Containers)
		}
		k.ok(t, "", "set", "env", "rc/conf", "-c", "web", "GREETING=hello")
		k.ok(t, "", "set", "env", "rc/conf", "-c", "web", "OTHER=1")
		env := container(t, getRC(t, "conf"), "web").Env
		if len(env) != 2 || env[0].Name != "GREETING" || env[0].Value != "hello" || env[1].Name != "OTHER" {
			t.Fatalf("env %+v", env)
		}
	})

	t.Run("label", func(t *testing.T) {
		k.ok(t, "", "label", "pod", "shell", "walk=yes")
		if _, errOut, code := k.run(t, "", "label", "pod", "shell", "walk=no"); code == 0 || !strings.Contains(errOut, "already has a value (yes)") {
			t.Errorf("label without --overwrite: exit %d, %q", code, errOut)
		}
		k.ok(t, "", "label", "pod", "shell", "walk=no", "--overwrite")
		if got := getPod(t, cl, "shell").Labels["walk"]; got != "no" {
			t.Errorf("label walk=%q, want no", got)
		}
		k.ok(t, "", "label", "pod", "shell", "walk-")
		if l, ok := getPod(t, cl, "shell").Labels["walk"]; ok {
			t.Errorf("label walk=%q left after walk-", l)
		}
	})

	t.Run("annotate", func(t *testing.T) {
		k.ok(t, "", "annotate", "rc", "web", "walk.orch.io/note=hello world")
		if got := getRC(t, "web").Annotations["walk.orch.io/note"]; got != "hello world" {
			t.Errorf("annotation %q", got)
		}
		k.ok(t, "", "annotate", "rc", "web", "walk.orch.io/note-")
		if a, ok := getRC(t, "web").Annotations["walk.orch.io/note"]; ok {
			t.Errorf("annotation %q left after note-", a)
		}
	})

	// scale, watched with get -w: the new pod's rows as it starts.
	t.Run("scale and get -w", func(t *testing.T) {
		waitFor(t, 90*time.Second, "the first web pod Ready", func() (bool, string) {
			n := len(readyPods(t, cl, "app=web"))
			return n == 1, fmt.Sprintf("%d ready", n)
		})
		cmd := k.command(t, "get", "pods", "-l", "app=web", "-w")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}()
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
			case <-time.After(90 * time.Second):
				t.Fatalf("kubectl get -w: no line for %s within 90s", what)
			}
			return ""
		}
		if h := strings.Fields(next("the header")); !slices.Equal(h, []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}) {
			t.Fatalf("kubectl get -w header %v", h)
		}
		first := strings.Fields(next("the first pod's row"))
		if len(first) != 5 || first[1] != "1/1" || first[2] != "Running" {
			t.Fatalf("kubectl get -w first row %v", first)
		}
		if out := k.ok(t, "", "scale", "rc", "web", "--replicas=2"); !strings.Contains(out, "replicationcontroller/web scaled") {
			t.Errorf("kubectl scale said %q", out)
		}
		if rc := getRC(t, "web"); rc.Spec.Replicas == nil || *rc.Spec.Replicas != 2 {
			t.Fatalf("replicas %v after scale", rc.Spec.Replicas)
		}
		var statuses []string
		for !slices.Contains(statuses, "Running") {
			f := strings.Fields(next("the new pod Running"))
			if len(f) != 5 {
				t.Fatalf("kubectl get -w row %v has %d cells, want 5", f, len(f))
			}
			if f[0] == first[0] {
				continue
			}
			if f[1] != "0/1" && f[1] != "1/1" {
				t.Errorf("new pod READY = %q", f[1])
			}
			statuses = append(statuses, f[2])
		}
		if statuses[0] != "Pending" && statuses[0] != "ContainerCreating" {
			t.Errorf("the new pod's first status %q, want Pending or ContainerCreating (all: %v)", statuses[0], statuses)
		}
		// --current-replicas is a precondition.
		if _, errOut, code := k.run(t, "", "scale", "rc", "web", "--current-replicas=5", "--replicas=3"); code == 0 ||
			!strings.Contains(errOut, "Expected replicas to be 5, was 2") {
			t.Errorf("scale with a wrong --current-replicas: exit %d, %q", code, errOut)
		}
	})

	t.Run("wait", func(t *testing.T) {
		out := k.ok(t, "", "wait", "--for=condition=Ready", "pod", "-l", "app=web", "--timeout=90s")
		if n := strings.Count(out, "condition met"); n != 2 {
			t.Errorf("kubectl wait for the web pods: %q", out)
		}
		k.ok(t, "", "wait", "--for=condition=Ready", "pod/shell", "pod/lines", "pod/once", "pod/once2", "pod/term", "--timeout=90s")
		k.ok(t, "", "wait", "--for=jsonpath={.status.readyReplicas}=2", "rc/web", "--timeout=60s")
		if _, errOut, code := k.run(t, "", "wait", "--for=condition=Ready", "pod/shell", "pod/nope", "--timeout=2s"); code == 0 || !strings.Contains(errOut, `pods "nope" not found`) {
			t.Errorf("wait for a missing pod: exit %d, %q", code, errOut)
		}
	})

	t.Run("get", func(t *testing.T) {
		pods := readyPods(t, cl, "app=web")
		if len(pods) != 2 {
			t.Fatalf("%d web pods ready", len(pods))
		}
		var svc v1.Service
		if err := cl.Get(ctx, "services", "default", "web", &svc); err != nil {
			t.Fatal(err)
		}
		check := func(args []string, header []string, name string, want map[string]string) {
			t.Helper()
			tab := parseKubectlTable(t, k.ok(t, "", args...))
			if !slices.Equal(tab.header, header) {
				t.Errorf("kubectl %s: header %v, want %v", strings.Join(args, " "), tab.header, header)
				return
			}
			row := tab.row(t, name)
			for col, w := range want {
				if row[col] != w {
					t.Errorf("kubectl %s: %s %s = %q, want %q", strings.Join(args, " "), name, col, row[col], w)
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
		nodes := parseKubectlTable(t, k.ok(t, "", "get", "nodes"))
		if want := []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION"}; !slices.Equal(nodes.header, want) {
			t.Errorf("get nodes header %v, want %v", nodes.header, want)
		} else {
			row := nodes.row(t, "node-1")
			if row["STATUS"] != "Ready" || row["ROLES"] != "<none>" {
				t.Errorf("get nodes: %v", row)
			}
			// The kubelet's version, as Kubernetes shows it: here orch's.
			if _, err := utilversion.ParseSemantic(row["VERSION"]); err != nil || !strings.HasPrefix(row["VERSION"], "v") {
				t.Errorf("get nodes VERSION %q is not a semantic version: %v", row["VERSION"], err)
			}
		}
		check([]string{"get", "nodes", "-o", "wide"}, []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"}, "node-1",
			map[string]string{"STATUS": "Ready"})
		check([]string{"get", "svc"}, []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"}, "web",
			map[string]string{"TYPE": "ClusterIP", "CLUSTER-IP": svc.Spec.ClusterIP, "EXTERNAL-IP": "<none>", "PORT(S)": "80/TCP"})
		check([]string{"get", "svc", "-o", "wide"}, []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"}, "web",
			map[string]string{"SELECTOR": "app=web"})
		check([]string{"get", "rc"}, []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"}, "web",
			map[string]string{"DESIRED": "2", "CURRENT": "2", "READY": "2"})
		check([]string{"get", "ns"}, []string{"NAME", "STATUS", "AGE"}, "default", map[string]string{"STATUS": "Active"})
		// A kind without a printer of its own: Name and Age.
		tokenID, _, _ := v1.ParseBootstrapToken(c.CreateBootstrapToken(time.Hour))
		check([]string{"get", "bootstraptokens"}, []string{"NAME", "AGE"}, tokenID, nil)

		// --sort-by asks for the rows' whole objects (includeObject=Object).
		if sorted := parseKubectlTable(t, k.ok(t, "", "get", "pods", "--sort-by=.status.podIP", "-l", "app=web")); len(sorted.rows) != 2 {
			t.Errorf("get pods --sort-by: %v", sorted.rows)
		}
		// Every listable kind prints a table with a NAME column.
		checkGetEveryKind(t, k)
		// get all: the "all" category (pods, services, replication controllers).
		all := k.ok(t, "", "get", "all")
		for _, want := range []string{"pod/" + pod.Name, "pod/shell", "replicationcontroller/web", "replicationcontroller/conf", "service/web"} {
			if !strings.Contains(all, want) {
				t.Errorf("kubectl get all lacks %s:\n%s", want, all)
			}
		}
	})

	t.Run("describe", func(t *testing.T) {
		// A pod's events.
		waitFor(t, 30*time.Second, "describe pod shows the pod's events", func() (bool, string) {
			out := k.ok(t, "", "describe", "pod", "shell")
			i := strings.Index(out, "Events:")
			if i < 0 {
				return false, out
			}
			events := out[i:]
			for _, want := range []string{"Scheduled", "default-scheduler", "Successfully assigned default/shell to node-1", "Created", "Started", "kubelet"} {
				if !strings.Contains(events, want) {
					return false, fmt.Sprintf("no %q in:\n%s", want, events)
				}
			}
			return true, ""
		})
		// A replication controller's events.
		if out := k.ok(t, "", "describe", "rc", "web"); !strings.Contains(out, "SuccessfulCreate") || !strings.Contains(out, "2 Running / 0 Waiting") {
			t.Errorf("kubectl describe rc web:\n%s", out)
		}
		// A service's endpoints: both pods on the target port.
		pods := readyPods(t, cl, "app=web")
		waitFor(t, 30*time.Second, "describe svc shows both endpoints", func() (bool, string) {
			out := k.ok(t, "", "describe", "svc", "web")
			for _, p := range pods {
				if !strings.Contains(out, p.Status.PodIP+":8080") {
					return false, out
				}
			}
			return true, ""
		})
	})

	t.Run("events", func(t *testing.T) {
		if out := k.ok(t, "", "events", "--for", "pod/shell"); !strings.Contains(out, "Started container c") ||
			!strings.Contains(out, "Successfully assigned default/shell to node-1") {
			t.Errorf("kubectl events --for pod/shell:\n%s", out)
		}
		tab := parseKubectlTable(t, k.ok(t, "", "events"))
		if want := []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}; !slices.Equal(tab.header, want) {
			t.Errorf("kubectl events header %v, want %v", tab.header, want)
		}
		if out := k.ok(t, "", "get", "events", "-o", "jsonpath={.items[*].reason}"); !strings.Contains(out, "Started") {
			t.Errorf("kubectl get events:\n%s", out)
		}
	})

	t.Run("exec", func(t *testing.T) {
		running(t, "shell")
		for _, tc := range []struct {
			name     string
			stdin    string
			args     []string
			wantOut  string
			wantErr  string
			wantCode int
		}{
			{name: "echo", args: []string{"exec", "shell", "--", "echo", "hi"}, wantOut: "hi\n"},
			{name: "exit code", args: []string{"exec", "shell", "--", "sh", "-c", "exit 3"}, wantCode: 3},
			{name: "stderr", args: []string{"exec", "shell", "--", "sh", "-c", "echo oops >&2; exit 1"}, wantErr: "oops\n", wantCode: 1},
			{name: "stdin", stdin: "one\ntwo\n", args: []string{"exec", "-i", "shell", "--", "wc", "-l"}, wantOut: "2\n"},
			{name: "container flag", args: []string{"exec", "shell", "-c", "c", "--", "cat", "/tmp/index.html"}, wantOut: "hello-from-pod\n"},
			{name: "no such container", args: []string{"exec", "shell", "-c", "nope", "--", "true"}, wantErr: "container nope is not valid for pod shell", wantCode: 1},
		} {
			// WebSocket v5 is kubectl's default; SPDY is its fallback, forced here.
			for _, proto := range []struct {
				name string
				env  []string
			}{{"websocket", nil}, {"spdy", []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}}} {
				t.Run(tc.name+"/"+proto.name, func(t *testing.T) {
					out, errOut, code := k.withEnv(proto.env...).run(t, tc.stdin, tc.args...)
					if code != tc.wantCode || (tc.wantOut != "" && strings.TrimSpace(out) != strings.TrimSpace(tc.wantOut)) ||
						!strings.Contains(errOut, strings.TrimSpace(tc.wantErr)) {
						t.Fatalf("kubectl %v: code %d out %q err %q; want code %d out %q err containing %q",
							tc.args, code, out, errOut, tc.wantCode, tc.wantOut, tc.wantErr)
					}
				})
			}
		}
		// A terminal: kubectl exec -it from a pty the test made, with its size.
		// kubectl sends the size just after the stream opens: the typed
		// line waits (at most 5 s) until the terminal has one.
		ttyOut, ttyCode := k.tty(t, "i=0; until stty size >/dev/null 2>&1 || [ $i -ge 50 ]; do sleep 0.1; i=$((i+1)); done; stty size; tty; exit 7\n",
			"exec", "-it", "shell", "--", "sh")
		if ttyCode != 7 || !strings.Contains(ttyOut, "40 120") || !strings.Contains(ttyOut, "/dev/pts/") {
			t.Fatalf("kubectl exec -it: exit %d, output %q; want exit 7, size 40 120 and a /dev/pts terminal", ttyCode, ttyOut)
		}
		// pods/exec is authorized as create on it: a viewer, who may read
		// the pod, is refused with Kubernetes' wording, over both protocols.
		viewer := newKubectl(t, newRBACUser(t, c, "viewer").kubeconfig)
		if err := cl.Create(ctx, &v1.RoleBinding{ObjectMeta: v1.ObjectMeta{Namespace: "default", Name: "viewer-view"},
			RoleRef: v1.RoleRef{Kind: "ClusterRole", Name: rbac.View}, Subjects: []v1.Subject{{Kind: "User", Name: "viewer"}}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "viewer reads the pod", func() (bool, string) {
			_, errOut, code := viewer.run(t, "", "get", "pod", "shell")
			return code == 0, errOut
		})
		for _, env := range [][]string{nil, {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}} {
			out, errOut, code := viewer.withEnv(env...).run(t, "", "exec", "shell", "--", "true")
			if code == 0 || !strings.Contains(errOut, `cannot create resource "pods/exec" in API group "" in the namespace "default"`) {
				t.Fatalf("kubectl exec without rights (%v): code %d out %q err %q", env, code, out, errOut)
			}
		}
	})

	t.Run("cp", func(t *testing.T) {
		local := t.TempDir()
		if err := os.WriteFile(local+"/up.txt", []byte("uploaded\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		k.ok(t, "", "cp", local+"/up.txt", "default/shell:/tmp/up.txt")
		if out := k.ok(t, "", "exec", "shell", "--", "cat", "/tmp/up.txt"); out != "uploaded\n" {
			t.Fatalf("after cp the pod holds %q", out)
		}
		k.ok(t, "", "cp", "default/shell:/tmp/index.html", local+"/down.txt")
		if b, err := os.ReadFile(local + "/down.txt"); err != nil || string(b) != "hello-from-pod\n" {
			t.Fatalf("cp from the pod: %q %v", b, err)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		// To the httpd that listens on the pod's loopback only, over
		// WebSocket (kubectl's default) and SPDY (its fallback).
		for _, tc := range []struct {
			name string
			env  []string
		}{{"websocket", nil}, {"spdy", []string{"KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}}} {
			port := freeLocalPort(t)
			cmd := k.withEnv(tc.env...).command(t, "port-forward", "pod/shell", strconv.Itoa(port)+":8080")
			if got := httpThrough(t, cmd, port); got != "hello-from-pod\n" {
				t.Fatalf("%s port-forward: %q", tc.name, got)
			}
		}
	})

	t.Run("attach", func(t *testing.T) {
		running(t, "once", "term")
		// attach -i to a stdinOnce container: its stdin ends with ours.
		out, errOut, code := k.run(t, "hello\nworld\n", "attach", "-i", "once")
		if code != 0 || !strings.Contains(out, "got:hello\ngot:world\nbye") {
			t.Fatalf("kubectl attach -i: code %d out %q err %q", code, out, errOut)
		}
		// attach -it to a shell on a terminal.
		ttyOut, ttyCode := k.tty(t, "echo $((6*7)); exit 3\n", "attach", "-it", "term")
		if !strings.Contains(ttyOut, "42") {
			t.Fatalf("kubectl attach -it: exit %d, output %q", ttyCode, ttyOut)
		}
	})

	t.Run("run -i --rm", func(t *testing.T) {
		// The pod gets stdin, its output comes back, the pod goes.
		out, errOut, code := k.run(t, "ping\n", "run", "runner", "-i", "--rm", "--restart=Never", "--image=busybox:1.35",
			"--", "sh", "-c", "read x; echo got:$x")
		if code != 0 || !strings.Contains(out, "got:ping") {
			t.Fatalf("kubectl run -i --rm: code %d out %q err %q", code, out, errOut)
		}
		waitFor(t, 30*time.Second, "runner deleted", func() (bool, string) {
			err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", "runner", &v1.Pod{})
			return v1.IsNotFound(err), "still there"
		})
	})

	t.Run("logs", func(t *testing.T) {
		// Each line has its own time.
		var stamps []time.Time
		waitFor(t, 30*time.Second, "both lines logged", func() (bool, string) {
			out, errOut, _ := k.run(t, "", "logs", "lines", "--timestamps")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 {
				return false, out + errOut
			}
			stamps = stamps[:0]
			for i, want := range []string{"early", "late"} {
				ts, text, _ := strings.Cut(lines[i], " ")
				tm, err := time.Parse(time.RFC3339Nano, ts)
				if err != nil || text != want {
					t.Fatalf("line %d of logs --timestamps: %q (%v)", i, lines[i], err)
				}
				stamps = append(stamps, tm)
			}
			return true, ""
		})
		if gap := stamps[1].Sub(stamps[0]); gap < 2*time.Second {
			t.Fatalf("the lines' timestamps are %v apart, want the ~3s between the writes", gap)
		}
		if out := k.ok(t, "", "logs", "lines", "--since-time="+stamps[1].Truncate(time.Second).Format(time.RFC3339)); out != "late\n" {
			t.Fatalf("logs --since-time: %q, want only the late line", out)
		}
		if out := k.ok(t, "", "logs", "lines", "--since=1h"); out != "early\nlate\n" {
			t.Fatalf("logs --since=1h: %q", out)
		}
		if out := k.ok(t, "", "logs", "lines", "--limit-bytes=3"); out != "ear" {
			t.Fatalf("logs --limit-bytes=3: %q", out)
		}
		if out, errOut, code := k.run(t, "", "logs", "lines", "--since=1s", "--since-time=2020-01-01T00:00:00Z"); code == 0 {
			t.Fatalf("logs with both --since and --since-time: %q %q", out, errOut)
		}
	})

	// drain: a budget that allows no disruption blocks it (kubectl retries
	// its evictions until its timeout and fails with the budget's message;
	// the pods stay), one that allows them lets it cordon the node and
	// evict its pods, which the replication controller makes again.
	t.Run("drain", func(t *testing.T) {
		k.ok(t, walkPDB, "apply", "-f", "-")
		waitFor(t, 30*time.Second, "the budget computed", func() (bool, string) {
			var pdb v1.PodDisruptionBudget
			if err := cl.Get(ctxT(t, 5*time.Second), "poddisruptionbudgets", "default", "web", &pdb); err != nil {
				return false, err.Error()
			}
			st := pdb.Status
			return st.CurrentHealthy == 2 && st.DesiredHealthy == 2 && st.ExpectedPods == 2 && st.DisruptionsAllowed == 0,
				fmt.Sprintf("%+v", st)
		})
		if out := k.ok(t, "", "get", "pdb", "web"); !strings.Contains(out, "MIN AVAILABLE") || !strings.Contains(out, "ALLOWED DISRUPTIONS") {
			t.Errorf("kubectl get pdb:\n%s", out)
		}
		before := readyPods(t, cl, "app=web")
		if len(before) != 2 {
			t.Fatalf("%d web pods ready before the drain", len(before))
		}
		// --force: the walk's bare pods go too (Kubernetes refuses to
		// drain pods without a controller otherwise).
		out, errOut, code := k.run(t, "", "drain", "node-1", "--force", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=10s")
		if code == 0 {
			t.Fatalf("drain with a budget allowing no disruption succeeded:\n%s\n%s", out, errOut)
		}
		if !strings.Contains(errOut, "Cannot evict pod as it would violate the pod's disruption budget.") {
			t.Errorf("drain's error does not name the budget:\n%s", errOut)
		}
		if now := readyPods(t, cl, "app=web"); !slices.Equal(podNames(now), podNames(before)) {
			t.Fatalf("web pods changed while the drain was blocked: %v, were %v", podNames(now), podNames(before))
		}
		var nd v1.Node
		if err := cl.Get(ctx, "nodes", "", "node-1", &nd); err != nil || !nd.Spec.Unschedulable {
			t.Fatalf("node-1 not cordoned by the drain: %v", err)
		}

		k.ok(t, "", "patch", "pdb", "web", "--type=merge", "-p", `{"spec":{"minAvailable":0}}`)
		if out := k.ok(t, "", "drain", "node-1", "--force", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s"); !strings.Contains(out, "node/node-1 drained") {
			t.Errorf("drain output:\n%s", out)
		}
		// The replication controller made the pods again; the node is
		// cordoned, so they wait unbound until it is uncordoned.
		waitFor(t, 30*time.Second, "two new unbound web pods", func() (bool, string) {
			ps, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: "app=web"})
			if err != nil {
				return false, err.Error()
			}
			unbound := 0
			for _, p := range ps {
				if slices.Contains(podNames(before), p.Name) {
					return false, p.Name + " still there"
				}
				if p.Spec.NodeName == "" {
					unbound++
				}
			}
			return unbound == 2 && len(ps) == 2, fmt.Sprintf("%d pods, %d unbound", len(ps), unbound)
		})
		k.ok(t, "", "uncordon", "node-1")
		waitFor(t, 90*time.Second, "two web pods Ready again", func() (bool, string) {
			n := len(readyPods(t, cl, "app=web"))
			return n == 2, fmt.Sprintf("%d ready", n)
		})
	})

	t.Run("delete", func(t *testing.T) {
		web := []string{"wait", "--for=delete", "--timeout=90s"}
		for _, p := range readyPods(t, cl, "app=web") {
			web = append(web, "pod/"+p.Name)
		}
		k.ok(t, "", "delete", "rc", "web", "conf")
		k.ok(t, "", "delete", "rc", "ssa", "--ignore-not-found")
		// The replication controller's pods go with it.
		if len(web) > 3 {
			k.ok(t, "", web...)
		}
		k.ok(t, "", "delete", "-f", manifest(t, "walk.yaml", walkManifest), "--ignore-not-found", "--wait=false")
		k.ok(t, "", "delete", "service", "conf")
		k.ok(t, "", "delete", "pdb", "web")
		k.ok(t, "", "delete", "namespace", "walk-ns")
		for _, o := range []struct {
			res, name string
			obj       v1.Object
		}{{"replicationcontrollers", "web", &v1.ReplicationController{}}, {"services", "conf", &v1.Service{}},
			{"roles", "walk", &v1.Role{}}, {"poddisruptionbudgets", "web", &v1.PodDisruptionBudget{}}} {
			if err := cl.Get(ctx, o.res, "default", o.name, o.obj); !v1.IsNotFound(err) {
				t.Errorf("%s/%s after kubectl delete: %v", o.res, o.name, err)
			}
		}
		if _, errOut, code := k.run(t, "", "delete", "rc", "web"); code == 0 || !strings.Contains(errOut, `replicationcontrollers "web" not found`) {
			t.Errorf("deleting a deleted rc: exit %d, %q", code, errOut)
		}
	})
}
