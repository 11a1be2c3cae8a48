package e2e

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// walkManifest is what the walk creates with kubectl create -f: pods to
// exec into, attach to and read logs of, a replication controller of
// HTTP servers with its service, and a role (a kind of another group).
const walkManifest = `apiVersion: v1
kind: Pod
metadata:
  name: shell
  labels: {app: shell}
spec:
  containers:
  - name: c
    image: busybox:1.35
    command: ["sh", "-c", "echo hello-from-pod > /tmp/index.html && exec httpd -f -p 127.0.0.1:8080 -h /tmp"]
---
apiVersion: v1
kind: Pod
metadata:
  name: lines
spec:
  containers:
  - name: c
    image: busybox:1.35
    command: ["sh", "-c", "echo early; sleep 3; echo late >&2; exec sleep 100000"]
---
apiVersion: v1
kind: Pod
metadata:
  name: once
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:1.35
    stdin: true
    stdinOnce: true
    command: ["sh", "-c", "while read l; do echo got:$l; done; echo bye"]
---
apiVersion: v1
kind: Pod
metadata:
  name: once2
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:1.35
    stdin: true
    stdinOnce: true
    command: ["sh", "-c", "read l; echo got:$l; echo oops >&2; exit 2"]
---
apiVersion: v1
kind: Pod
metadata:
  name: term
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:1.35
    stdin: true
    tty: true
    command: ["sh"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ReplicationController
metadata:
  name: web
spec:
  replicas: 1
  selector: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox:1.35
        command: ["sh", "-c", "echo web > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"]
        ports:
        - containerPort: 8080
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: walk
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
`

// confManifest is a replication controller of no replicas with two
// containers, the first exposing ports: what apply, diff, patch and set
// change.
func confManifest(ports ...string) string {
	var b strings.Builder
	b.WriteString(`apiVersion: v1
kind: ReplicationController
metadata:
  name: conf
  namespace: default
spec:
  replicas: 0
  selector: {app: conf}
  template:
    metadata:
      labels: {app: conf}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        command: ["sleep", "3600"]
        ports:
`)
	for _, p := range ports {
		b.WriteString("        - containerPort: " + p + "\n")
	}
	b.WriteString(`      - name: side
        image: busybox:1.36
        command: ["sleep", "3600"]
`)
	return b.String()
}

const walkPDB = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 2
  selector:
    matchLabels: {app: web}
`

// checkAPIResources checks kubectl api-resources -o wide against the
// resource table (views too): every kind, with its names, group, scope, verbs and
// categories.
func checkAPIResources(t *testing.T, out string) {
	t.Helper()
	res := parseKubectlTable(t, out)
	if want := []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND", "VERBS", "CATEGORIES"}; !slices.Equal(res.header, want) {
		t.Fatalf("api-resources header %v, want %v", res.header, want)
	}
	if len(res.rows) != len(v1.Served()) {
		t.Errorf("api-resources lists %d resources, the table has %d:\n%v", len(res.rows), len(v1.Served()), res.rows)
	}
	for _, r := range v1.Served() {
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
		for col, w := range want {
			if got[col] != w {
				t.Errorf("api-resources %s: %s = %q, want %q", r.Name, col, got[col], w)
			}
		}
	}
}

// checkGetEveryKind: kubectl get of every listable kind across namespaces
// prints a table whose first column is NAMESPACE (namespaced kinds) or
// NAME.
func checkGetEveryKind(t *testing.T, k *kubectlCLI) {
	t.Helper()
	for _, r := range v1.Served() {
		if r.Review {
			continue
		}
		name := r.Name
		if r.Group != "" {
			name += "." + r.Group
		}
		out, errOut, code := k.run(t, "", "get", name, "-A")
		if code != 0 {
			t.Errorf("kubectl get %s -A: exit %d\n%s", name, code, errOut)
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
}
