package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// Secrets reach pods as Kubernetes' users expect (issue 16, Done-when 1
// and 4): kubectl and orchctl create them from literals and files and show
// their values only base64-encoded; the docs' pods/inject/secret.yaml and
// secret-pod.yaml apply unchanged, its nginx pulled through the cluster's
// registry mirror (harness.Options.RegistryMirror), and the pod runs with
// the docs' files in /etc/secret-volume, a tmpfs in the node's mount
// table; the same pod with variables from secretKeyRef and envFrom shows
// them, and sees an update within the bound; nothing of a volume's value lands on the node's disk outside
// the tmpfs; the volumes are unmounted and gone with the pods; a pod naming
// a Secret that does not exist waits in CreateContainerConfigError and
// starts once it is created.
func TestSecretsInPods(t *testing.T) {
	parallel(t)
	c, nodes := nodeClusterWith(t, 1, harness.Options{RegistryMirror: true})
	cl := c.Client()
	k := adminKubectl(t, c)
	orchctl := func(args ...string) string {
		t.Helper()
		out, stderr, err := c.Orchctl("", args...)
		if err != nil {
			t.Fatalf("orchctl %v: %v %s", args, err, stderr)
		}
		return out
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	// kubectl create secret generic, from literals and a file; get shows
	// kubectl's columns, -o yaml the values base64-encoded only.
	keyFile := filepath.Join(t.TempDir(), "ssh-privatekey")
	if err := os.WriteFile(keyFile, []byte("key-material-5f2e"), 0o600); err != nil {
		t.Fatal(err)
	}
	k.ok(t, "", "create", "secret", "generic", "db-user-pass", "--from-literal=username=admin-7c1d",
		"--from-literal=password=S!B*d$zDsb=", "--from-file="+keyFile)
	if row := parseKubectlTable(t, k.ok(t, "", "get", "secret", "db-user-pass")).row(t, "db-user-pass"); row["TYPE"] != "Opaque" || row["DATA"] != "3" {
		t.Errorf("kubectl get secret: %v", row)
	}
	orchctl("create", "secret", "generic", "api-token", "--from-literal=token=tok-93ab")
	for _, tc := range []struct {
		yaml   string
		values []string
	}{
		{k.ok(t, "", "get", "secret", "db-user-pass", "-o", "yaml"), []string{"admin-7c1d", "S!B*d$zDsb=", "key-material-5f2e"}},
		{orchctl("get", "secret", "api-token", "-o", "yaml"), []string{"tok-93ab"}},
	} {
		for _, v := range tc.values {
			if !strings.Contains(tc.yaml, b64(v)) || strings.Contains(tc.yaml, v) {
				t.Errorf("get -o yaml does not show %q only base64-encoded:\n%s", v, tc.yaml)
			}
		}
		if !strings.Contains(tc.yaml, "type: Opaque") {
			t.Errorf("get -o yaml:\n%s", tc.yaml)
		}
	}

	// The docs' example, unchanged: the pod runs (nginx, pulled Always
	// through the mirror) and its container sees the docs' files.
	k.ok(t, "", "apply", "-f", "testdata/docs/secret.yaml")
	k.ok(t, "", "apply", "-f", "testdata/docs/secret-pod.yaml")
	docsPod := waitPodRunning(t, cl, "secret-test-pod")
	if cs, digest := containerStatus(docsPod, "test-container"), c.Mirror().Digests["docker.io/library/nginx:latest"]; digest == "" || cs == nil || !strings.Contains(cs.ImageID, digest) {
		t.Errorf("secret-test-pod's container status %+v, want the mirror's nginx image", cs)
	}
	if out := orchctl("exec", "secret-test-pod", "--", "ls", "/etc/secret-volume"); out != "password\nusername\n" {
		t.Errorf("secret-test-pod: ls /etc/secret-volume: %q", out)
	}
	for name, want := range map[string]string{"username": "my-app", "password": "39528$vdg7Jb"} {
		if out := orchctl("exec", "secret-test-pod", "--", "cat", "/etc/secret-volume/"+name); out != want {
			t.Errorf("secret-test-pod: cat /etc/secret-volume/%s: %q, want %q", name, out, want)
		}
	}
	docsVol := filepath.Join(nodes[0].StateDir, "pods", docsPod.UID, "volumes", "secret-volume")
	if m := mountTable(t); m[docsVol] != "tmpfs" {
		t.Errorf("the docs' pod's volume is %q in the node's mount table, want a tmpfs", m[docsVol])
	}

	// The same pod with the docs' variables from Secrets.
	spec, err := os.ReadFile("testdata/docs/secret-pod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	busybox := strings.NewReplacer("name: secret-test-pod", "name: secret-test-busybox", "name: test-container", "name: c",
		"image: nginx", `image: nginx
      command: ["sleep", "100000"]
      env:
        - name: SECRET_USERNAME
          valueFrom:
            secretKeyRef:
              name: db-user-pass
              key: username
      envFrom:
        - prefix: DB_
          secretRef:
            name: db-user-pass`).Replace(string(spec))
	k.ok(t, busybox, "apply", "-f", "-")
	pod := waitRunning(t, cl, "secret-test-busybox")
	if out := orchctl("exec", "secret-test-busybox", "--", "ls", "/etc/secret-volume"); out != "password\nusername\n" {
		t.Errorf("ls /etc/secret-volume: %q", out)
	}
	if out := orchctl("exec", "secret-test-busybox", "--", "cat", "/etc/secret-volume/username", "/etc/secret-volume/password"); out != "my-app39528$vdg7Jb" {
		t.Errorf("cat: %q", out)
	}
	env := orchctl("exec", "secret-test-busybox", "--", "env")
	for _, want := range []string{"SECRET_USERNAME=admin-7c1d", "DB_username=admin-7c1d", "DB_password=S!B*d$zDsb=", "DB_ssh-privatekey=key-material-5f2e"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
	if out := orchctl("exec", "secret-test-busybox", "--", "cat", "/proc/mounts"); !strings.Contains(out, " /etc/secret-volume tmpfs ro,") {
		t.Errorf("the container's /etc/secret-volume is not a read-only tmpfs:\n%s", out)
	}
	if _, _, err := c.Orchctl("", "exec", "secret-test-busybox", "--", "sh", "-c", "echo x > /etc/secret-volume/username"); err == nil {
		t.Error("a pod wrote into its secret volume")
	}
	// An update reaches the files within the bound, all at once.
	k.ok(t, "", "patch", "secret", "test-secret", "-p", `{"stringData":{"password":"n3w-Pa55"}}`)
	start := time.Now()
	waitFor(t, 30*time.Second, "the update in the volume", func() (bool, string) {
		out, _, _ := c.Orchctl("", "exec", "secret-test-busybox", "--", "cat", "/etc/secret-volume/username", "/etc/secret-volume/password")
		return out == "my-appn3w-Pa55", out
	})
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the update took %v to reach the volume (bound 10 s, plus polling)", d)
	}
	busyVol := filepath.Join(nodes[0].StateDir, "pods", pod.UID, "volumes", "secret-volume")
	if m := mountTable(t); m[busyVol] != "tmpfs" {
		t.Errorf("the busybox pod's volume is %q in the node's mount table, want a tmpfs", m[busyVol])
	}

	// A missing Secret: waiting with the kubelet's reason, then running.
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "early"}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: int64p(1),
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"},
			Env: []v1.EnvVar{{Name: "LEVEL", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{
				LocalObjectRef: v1.LocalObjectRef{Name: "late"}, Key: "level"}}}}}}}})
	waitFor(t, 60*time.Second, "early waits for its Secret", func() (bool, string) {
		cs := containerStatus(getPod(t, cl, "early"), "c")
		if cs == nil || cs.State.Waiting == nil {
			return false, "no waiting state"
		}
		w := cs.State.Waiting
		return w.Reason == "CreateContainerConfigError" && w.Message == `secret "late" not found`, w.Reason + ": " + w.Message
	})
	orchctl("create", "secret", "generic", "late", "--from-literal=level=7")
	waitRunning(t, cl, "early")
	if out := orchctl("exec", "early", "--", "sh", "-c", "echo $LEVEL"); out != "7\n" {
		t.Errorf("LEVEL = %q", out)
	}

	// Nothing of the volume's values on the node's disk: not in its state
	// directory outside its tmpfs mounts (saved pod specs, containerd's
	// metadata, container logs), not in the agent's log.
	scanForValues(t, nodes[0].StateDir, nodes[0].LogPath, "39528$vdg7Jb", b64("39528$vdg7Jb"), "n3w-Pa55", b64("n3w-Pa55"))

	// Gone with the pods: unmounted and removed.
	for _, name := range []string{"secret-test-pod", "secret-test-busybox"} {
		k.ok(t, "", "delete", "pod", name, "--grace-period=1")
	}
	waitFor(t, 60*time.Second, "the secret volumes unmounted and removed", func() (bool, string) {
		m := mountTable(t)
		for _, dir := range []string{docsVol, busyVol} {
			if m[dir] != "" {
				return false, dir + " still mounted"
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				return false, dir + " still there"
			}
		}
		return true, ""
	})
}

// A node's own credentials read only the Secrets its pods name (issue 16:
// nodes receive only the Secrets of pods bound to them): node-1 gets the
// Secret of its pod's environment, but not the Secret of a pod on node-2
// nor one no pod names; it can neither list nor watch Secrets, nor change
// the one it may read; once its pod is gone, that one is refused too.
func TestNodeReadsOnlyItsPodsSecrets(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 2, false, nil)
	admin := c.Client()
	for _, name := range []string{"for-node-1", "for-node-2", "unused"} {
		s := &v1.Secret{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default"}, StringData: map[string]string{"k": "value-of-" + name}}
		if err := admin.Create(ctxT(t, 5*time.Second), s); err != nil {
			t.Fatal(err)
		}
	}
	createPod(t, admin, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p1"}, Spec: v1.PodSpec{NodeName: nodes[0].Name,
		TerminationGracePeriodSeconds: int64p(1),
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"},
			Env: []v1.EnvVar{{Name: "K", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{
				LocalObjectRef: v1.LocalObjectRef{Name: "for-node-1"}, Key: "k"}}}}}}}})
	createPod(t, admin, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p2"}, Spec: v1.PodSpec{NodeName: nodes[1].Name,
		TerminationGracePeriodSeconds: int64p(1),
		Volumes:                       []v1.Volume{{Name: "s", Secret: &v1.SecretVolumeSource{SecretName: "for-node-2"}}},
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"},
			VolumeMounts: []v1.VolumeMount{{Name: "s", MountPath: "/s"}}}}}})
	waitRunning(t, admin, "p1")
	waitRunning(t, admin, "p2")

	n1, n2 := c.NodeClient(nodes[0]), c.NodeClient(nodes[1])
	get := func(cl *client.Client, name string) (*v1.Secret, error) {
		var s v1.Secret
		err := cl.Get(ctxT(t, 5*time.Second), "secrets", "default", name, &s)
		return &s, err
	}
	forbidden := func(t *testing.T, err error, says string) {
		t.Helper()
		if v1.CodeOf(err) != 403 || !strings.Contains(err.Error(), says) {
			t.Errorf("got %v, want 403 saying %q", err, says)
		}
	}
	if s, err := get(n1, "for-node-1"); err != nil || string(s.Data["k"]) != "value-of-for-node-1" {
		t.Errorf("node-1 reading its pod's Secret: %v %q", err, s.Data)
	}
	if s, err := get(n2, "for-node-2"); err != nil || string(s.Data["k"]) != "value-of-for-node-2" {
		t.Errorf("node-2 reading its pod's Secret: %v %q", err, s.Data)
	}
	noRel := "no relationship found between node 'node-1' and this object"
	_, err := get(n1, "for-node-2")
	forbidden(t, err, noRel)
	_, err = get(n1, "unused")
	forbidden(t, err, noRel)
	_, err = get(n2, "for-node-1")
	forbidden(t, err, "no relationship found between node 'node-2' and this object")
	for _, ns := range []string{"default", ""} {
		_, err = n1.List(ctxT(t, 5*time.Second), "secrets", ns, client.ListOptions{})
		forbidden(t, err, "node 'node-1' can only get individual secrets")
	}
	err = n1.Do(ctxT(t, 5*time.Second), "GET", "/api/v1/namespaces/default/secrets", url.Values{"watch": {"true"}}, nil, nil)
	forbidden(t, err, "can only get individual secrets")
	err = n1.Do(ctxT(t, 5*time.Second), "GET", "/api/v1/namespaces/default/secrets",
		url.Values{"watch": {"true"}, "fieldSelector": {"metadata.name=for-node-1"}}, nil, nil)
	forbidden(t, err, "can only get individual secrets")
	err = n1.Patch(ctxT(t, 5*time.Second), "secrets", "default", "for-node-1", []byte(`{"stringData":{"k":"changed"}}`), &v1.Secret{})
	forbidden(t, err, "can only get individual secrets")
	_, err = n1.Delete(ctxT(t, 5*time.Second), "secrets", "default", "for-node-1", nil)
	forbidden(t, err, "can only get individual secrets")

	// Once its pod is gone, node-1 reads the Secret no more.
	if _, err := admin.Delete(ctxT(t, 5*time.Second), "pods", "default", "p1", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "p1 gone", func() (bool, string) {
		err := admin.Get(ctxT(t, 5*time.Second), "pods", "default", "p1", &v1.Pod{})
		return v1.IsNotFound(err), errString(err)
	})
	_, err = get(n1, "for-node-1")
	forbidden(t, err, noRel)
}

// mountTable is the machine's mount table (the nodes share its mount
// namespace): mount point → file system type.
func mountTable(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if f == "-" && len(fields) > 4 && i+1 < len(fields) {
				out[unescapeMount(fields[4])] = fields[i+1]
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// unescapeMount undoes the octal escapes of mountinfo (\040 for a space).
func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// scanForValues fails the test when a file under dir that is not on a
// tmpfs mounted under it, or the file log, holds any of values.
func scanForValues(t *testing.T, dir, log string, values ...string) {
	t.Helper()
	tmpfs := map[string]bool{}
	for mp, fstype := range mountTable(t) {
		if fstype == "tmpfs" && strings.HasPrefix(mp, dir+"/") {
			tmpfs[mp] = true
		}
	}
	if len(tmpfs) == 0 {
		t.Fatalf("no tmpfs under %s: the scan would prove nothing", dir)
	}
	check := func(path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			return // gone meanwhile, or not readable as a file
		}
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds a Secret's value %q", path, v)
			}
		}
	}
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // removed meanwhile
		}
		if d.IsDir() && tmpfs[p] {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			files++
			check(p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no files under %s", dir)
	}
	check(log)
}
