package e2e

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// ssaManifest is replication controller ssa-web with the given replicas
// and containers.
func ssaManifest(replicas int, containers ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: ssa-web\nspec:\n  replicas: ")
	b.WriteString(strconv.Itoa(replicas))
	b.WriteString("\n  selector: {app: ssa-web}\n  template:\n    metadata:\n      labels: {app: ssa-web}\n    spec:\n      containers:\n")
	for _, c := range containers {
		b.WriteString("      - {name: " + c + ", image: busybox, command: [sleep, \"3600\"]}\n")
	}
	return b.String()
}

// Done when (issue 14): kubectl apply --server-side against three
// masters: create, a second apply whose container list changed, a second
// field manager's conflicting apply (kubectl prints the conflict),
// --force-conflicts, and get --show-managed-fields showing both managers.
func TestKubectlServerSideApply(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{Masters: 3})
	admin := c.Client()
	ctx := ctxT(t, 2*time.Minute)
	kubectl := func(stdin string, args ...string) (string, string, error) {
		cmd := c.KubectlCommand(append([]string{"--request-timeout=30s"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	getRC := func(t *testing.T) *v1.ReplicationController {
		t.Helper()
		var rc v1.ReplicationController
		if err := admin.Get(ctx, "replicationcontrollers", "default", "ssa-web", &rc); err != nil {
			t.Fatalf("get rc: %v", err)
		}
		return &rc
	}
	names := func(rc *v1.ReplicationController) string {
		var out []string
		for _, c := range rc.Spec.Template.Spec.Containers {
			out = append(out, c.Name)
		}
		return strings.Join(out, ",")
	}

	out, errOut, err := kubectl(ssaManifest(2, "a", "b"), "apply", "--server-side", "-f", "-")
	if err != nil || !strings.Contains(out, "replicationcontroller/ssa-web serverside-applied") {
		t.Fatalf("first apply: %v\n%s%s", err, out, errOut)
	}
	if rc := getRC(t); names(rc) != "a,b" || *rc.Spec.Replicas != 2 {
		t.Fatalf("after the first apply: containers %s, replicas %d", names(rc), *rc.Spec.Replicas)
	}

	if out, errOut, err = kubectl(ssaManifest(2, "a", "c"), "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatalf("second apply: %v\n%s%s", err, out, errOut)
	}
	if rc := getRC(t); names(rc) != "a,c" {
		t.Fatalf("after the second apply: containers %s, want a,c", names(rc))
	}

	out, errOut, err = kubectl(ssaManifest(3, "a", "c"), "apply", "--server-side", "--field-manager=other", "-f", "-")
	if err == nil || !strings.Contains(errOut, `Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas`) {
		t.Fatalf("conflicting apply: err %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	// (The replication manager writes the status meanwhile: the spec and
	// the managers are what the refused apply must leave alone.)
	if rc := getRC(t); *rc.Spec.Replicas != 2 || strings.Contains(fmtManagers(rc), "other") {
		t.Fatalf("the conflicting apply changed the controller: replicas %d, managers %s", *rc.Spec.Replicas, fmtManagers(rc))
	}

	if out, errOut, err = kubectl(ssaManifest(3, "a", "c"), "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-"); err != nil {
		t.Fatalf("forced apply: %v\n%s%s", err, out, errOut)
	}
	if rc := getRC(t); *rc.Spec.Replicas != 3 {
		t.Fatalf("after the forced apply: replicas %d, want 3", *rc.Spec.Replicas)
	}

	out, errOut, err = kubectl("", "get", "rc", "ssa-web", "-o", "yaml", "--show-managed-fields")
	if err != nil {
		t.Fatalf("get --show-managed-fields: %v\n%s", err, errOut)
	}
	for _, want := range []string{"managedFields:", "manager: kubectl", "manager: other", "operation: Apply", "fieldsType: FieldsV1", "f:replicas: {}"} {
		if !strings.Contains(out, want) {
			t.Fatalf("get -o yaml --show-managed-fields lacks %q:\n%s", want, out)
		}
	}
	if out, _, err = kubectl("", "get", "rc", "ssa-web", "-o", "yaml"); err != nil || strings.Contains(out, "managedFields") {
		t.Fatalf("get -o yaml shows managedFields without --show-managed-fields (%v):\n%s", err, out)
	}
}

// fmtManagers lists an object's managers and operations.
func fmtManagers(rc *v1.ReplicationController) string {
	var out []string
	for _, m := range rc.ManagedFields {
		out = append(out, m.Manager+"/"+m.Operation+"/"+m.Subresource)
	}
	return strings.Join(out, ",")
}
