package e2e

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// loadImage builds an image of busybox named name, with the host's files
// (and the shared libraries ldd lists for each) at their paths, and
// loads it into every node.
func loadImage(t *testing.T, c *harness.Cluster, name string, hostFiles ...string) {
	t.Helper()
	files := map[string]bool{}
	for _, f := range hostFiles {
		files[f] = true
		for _, lib := range lddLibs(t, f) {
			files[lib] = true
		}
	}
	img := filepath.Join(t.TempDir(), "image.tar")
	args := []string{"image", "busybox", "--name", name, "-o", img}
	for _, f := range slices.Sorted(maps.Keys(files)) {
		args = append(args, "--add", f+":"+f)
	}
	if out, err := exec.Command(bins.Orchd, args...).CombinedOutput(); err != nil {
		t.Fatalf("build the image %s: %v\n%s", name, err, out)
	}
	if out, stderr, err := c.Orchctl("", "image", "load", img, "--all-nodes"); err != nil {
		t.Fatalf("load the image %s: %v\n%s%s", name, err, out, stderr)
	}
}

// waitPodRunning waits until every container of the pod runs.
func waitPodRunning(t *testing.T, cl *client.Client, name string) *v1.Pod {
	t.Helper()
	var p *v1.Pod
	waitFor(t, 90*time.Second, name+" running", func() (bool, string) {
		p = getPod(t, cl, name)
		running := len(p.Status.ContainerStatuses) > 0
		for _, cs := range p.Status.ContainerStatuses {
			running = running && cs.State.Running != nil
		}
		return p.Status.Phase == v1.PodRunning && running, fmt.Sprintf("%s %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	return p
}

// The Kubernetes docs' downward API examples (testdata/docs/pods/inject,
// unchanged) applied with kubectl on a real node, behaving as the docs
// describe: labels and annotations as files (a label change reaching the
// file within the node's bound), the pod's fields as variables, its
// container's resources as variables and files.
func TestDownwardAPIDocs(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	k := adminKubectl(t, c)
	// The examples' busybox runs printenv, an applet Debian's
	// busybox-static lacks: the host's printenv stands in.
	printenv, err := exec.LookPath("printenv")
	if err != nil {
		t.Fatal(err)
	}
	loadImage(t, c, "registry.k8s.io/busybox:1.27.2", printenv)
	for _, f := range []string{"dapi-volume.yaml", "dapi-envars-pod.yaml", "dapi-envars-container.yaml", "dapi-volume-resources.yaml"} {
		k.ok(t, "", "apply", "-f", "testdata/docs/pods/inject/"+f)
	}

	// dapi-volume.yaml: the files, printed by the container every 5 s.
	waitPodRunning(t, cl, "kubernetes-downwardapi-volume-example")
	waitFor(t, 60*time.Second, "the labels and annotations in the log", func() (bool, string) {
		out, _, _ := k.run(t, "", "logs", "kubernetes-downwardapi-volume-example")
		return strings.Contains(out, "cluster=\"test-cluster1\"\nrack=\"rack-22\"\nzone=\"us-est-coast\"") &&
			strings.Contains(out, "build=\"two\"\nbuilder=\"john-doe\""), out
	})
	if out := k.ok(t, "", "exec", "kubernetes-downwardapi-volume-example", "--", "ls", "-la", "/etc/podinfo"); !strings.Contains(out, "..data -> ..") ||
		!strings.Contains(out, "labels -> ..data/labels") {
		t.Errorf("ls -la /etc/podinfo: the atomic writer's links are missing:\n%s", out)
	}
	k.ok(t, "", "label", "pod", "kubernetes-downwardapi-volume-example", "zone=us-west-coast", "--overwrite")
	start := time.Now()
	waitFor(t, 30*time.Second, "the new label in the file", func() (bool, string) {
		out, _, _ := k.run(t, "", "exec", "kubernetes-downwardapi-volume-example", "--", "cat", "/etc/podinfo/labels")
		return strings.Contains(out, "zone=\"us-west-coast\""), out
	})
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the label change took %v to reach the file (bound 5 s after the node sees it, plus polling)", d)
	}

	// dapi-envars-pod.yaml: node, name, namespace, IP, service account.
	p := waitPodRunning(t, cl, "dapi-envars-fieldref")
	want := strings.Join([]string{nodes[0].Name, "dapi-envars-fieldref", "default", p.Status.PodIP, "default"}, "\n") + "\n"
	waitFor(t, 60*time.Second, "the fields in dapi-envars-fieldref's log", func() (bool, string) {
		out, stderr, _ := k.run(t, "", "logs", "dapi-envars-fieldref")
		return strings.Contains(out, want), out + stderr
	})

	// dapi-envars-container.yaml: cpu in cores rounded up, memory in bytes
	// (the docs' output: 1, 1, 33554432, 67108864).
	waitPodRunning(t, cl, "dapi-envars-resourcefieldref")
	waitFor(t, 60*time.Second, "the resources in dapi-envars-resourcefieldref's log", func() (bool, string) {
		out, stderr, _ := k.run(t, "", "logs", "dapi-envars-resourcefieldref")
		return strings.Contains(out, "1\n1\n33554432\n67108864\n"), out + stderr
	})

	// dapi-volume-resources.yaml: millicores and MiB in files.
	waitPodRunning(t, cl, "kubernetes-downwardapi-volume-example-2")
	out := k.ok(t, "", "exec", "kubernetes-downwardapi-volume-example-2", "--", "sh", "-c",
		"cat /etc/podinfo/cpu_limit; echo; cat /etc/podinfo/cpu_request; echo; cat /etc/podinfo/mem_limit; echo; cat /etc/podinfo/mem_request")
	if out != "250\n125\n64\n32" {
		t.Errorf("the resource files read %q, want 250 125 64 32", out)
	}
	waitFor(t, 60*time.Second, "the resource files in the log", func() (bool, string) {
		out, _, _ := k.run(t, "", "logs", "kubernetes-downwardapi-volume-example-2")
		return strings.Contains(out, "\n250\n125\n64\n32"), out
	})

	// What Kubernetes refuses, with its words.
	bad := strings.Replace(readDoc(t, "pods/inject/dapi-envars-pod.yaml"), "fieldPath: spec.nodeName", "fieldPath: status.phase", 1)
	bad = strings.Replace(bad, "name: dapi-envars-fieldref", "name: dapi-envars-bad", 1)
	if _, stderr, code := k.run(t, bad, "apply", "-f", "-"); code == 0 ||
		!strings.Contains(stderr, `spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "status.phase"`) {
		t.Errorf("a fieldRef to status.phase: exit %d, %s", code, stderr)
	}
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitPodPhase waits until the pod of default reaches phase.
func waitPodPhase(t *testing.T, cl *client.Client, name string, phase string) *v1.Pod {
	t.Helper()
	var p *v1.Pod
	waitFor(t, 90*time.Second, name+" "+phase, func() (bool, string) {
		p = getPod(t, cl, name)
		return p.Status.Phase == phase, fmt.Sprintf("%s %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	return p
}

// The docs' commands.yaml (printenv HOSTNAME KUBERNETES_PORT in debian)
// and pod-configmap-envFrom.yaml (env in registry.k8s.io/busybox) with
// configmap-multikeys.yaml apply unchanged and run to completion printing
// what the docs show. Their images are untagged, so pulled Always: the
// node pulls them through the cluster's registry mirror, as nodes of an
// air-gapped site do (harness.Options.RegistryMirror).
func TestCommandsAndEnvFromDocs(t *testing.T) {
	parallel(t)
	c, _ := nodeClusterWith(t, 1, harness.Options{RegistryMirror: true})
	cl := c.Client()
	k := adminKubectl(t, c)
	k.ok(t, "", "apply", "-f", "testdata/docs/configmap/configmap-multikeys.yaml")
	for _, f := range []string{"pods/commands.yaml", "pods/pod-configmap-envFrom.yaml"} {
		k.ok(t, "", "apply", "-f", "testdata/docs/"+f)
	}
	waitPodPhase(t, cl, "command-demo", v1.PodSucceeded)
	// The kubernetes Service of default, or (until the cluster has it)
	// the first master's API address the node was given.
	var host, port string
	var svc v1.Service
	if err := cl.Get(ctxT(t, 5*time.Second), "services", "default", "kubernetes", &svc); err == nil {
		host, port = svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port))
	} else {
		u, err := url.Parse(c.Masters[0].URL())
		if err != nil {
			t.Fatal(err)
		}
		host, port = u.Hostname(), u.Port()
	}
	if out := k.ok(t, "", "logs", "command-demo"); out != "command-demo\ntcp://"+host+":"+port+"\n" {
		t.Errorf("command-demo printed %q, want its name and tcp://%s:%s", out, host, port)
	}
	waitPodPhase(t, cl, "dapi-test-pod", v1.PodSucceeded)
	// Each ran the image the mirror holds.
	for name, image := range map[string]string{"command-demo": "docker.io/library/debian:latest", "dapi-test-pod": "registry.k8s.io/busybox:latest"} {
		p, digest := getPod(t, cl, name), c.Mirror().Digests[image]
		if cs := containerStatus(p, p.Spec.Containers[0].Name); digest == "" || cs == nil || !strings.Contains(cs.ImageID, digest) {
			t.Errorf("%s's container status %+v, want the image ID of the mirror's %s, %q", name, cs, image, digest)
		}
	}
	out := k.ok(t, "", "logs", "dapi-test-pod")
	for _, want := range []string{"SPECIAL_LEVEL=very\n", "SPECIAL_TYPE=charm\n", "HOSTNAME=dapi-test-pod\n", "KUBERNETES_SERVICE_HOST="} {
		if !strings.Contains(out, want) {
			t.Errorf("dapi-test-pod's env lacks %q:\n%s", want, out)
		}
	}
}
