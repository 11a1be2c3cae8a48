package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// A pod pulls from a private registry only through an image pull Secret,
// as Kubernetes' docs set it up: a docker-registry (htpasswd) runs in the
// node's network namespace, an image built in Go is pushed to it with the
// registry's credentials, `orchctl create secret docker-registry` makes
// the Secret. A pod without it, with a wrong password or naming a Secret
// that does not exist waits in ImagePullBackOff with the kubelet's
// reasons; a pod naming it (.dockerconfigjson, or a .dockercfg Secret)
// runs the pushed image, and so does a pod whose ServiceAccount names it.
// The node may read the Secrets its pods name and no other, and the
// password never reaches the node's disk.
func TestImagePullSecrets(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	nd := nodes[0]
	orchctl := func(args ...string) string {
		t.Helper()
		out, stderr, err := c.Orchctl("", args...)
		if err != nil {
			t.Fatalf("orchctl %v: %v %s", args, err, stderr)
		}
		return out
	}

	const user, pass = "puller", "pull-pw-6d1f0c9e"
	reg := nd.StartRegistry(map[string]string{user: pass})
	marker := "pulled with credentials"
	reg.PushBusybox(ctxT(t, time.Minute), "orch/private", "1", user, pass,
		map[string][]byte{"etc/orch-private": []byte(marker + "\n")})
	image := reg.Host + "/orch/private:1"
	// The image is private: without credentials the registry refuses it.
	if resp, err := http.Get(reg.URL + "/v2/orch/private/manifests/1"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous GET of the manifest: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}

	orchctl("create", "secret", "docker-registry", "regcred", "--docker-server="+reg.Host,
		"--docker-username="+user, "--docker-password="+pass, "--docker-email=puller@example.com")
	orchctl("create", "secret", "docker-registry", "wrongcred", "--docker-server="+reg.Host,
		"--docker-username="+user, "--docker-password=not-the-password")
	// The older .dockercfg format, with the auth field only.
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	if err := cl.Create(ctxT(t, 5*time.Second), &v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "legacycred", Namespace: "default"},
		Type: v1.SecretTypeDockercfg, Data: map[string][]byte{v1.DockerConfigKey: []byte(`{"http://` + reg.Host + `":{"auth":"` + auth + `"}}`)}}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Create(ctxT(t, 5*time.Second), &v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "unused", Namespace: "default"},
		Type: v1.SecretTypeOpaque, Data: map[string][]byte{"k": []byte("v")}}); err != nil {
		t.Fatal(err)
	}

	pod := func(name string, secrets ...string) *v1.Pod {
		p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name}, Spec: v1.PodSpec{
			TerminationGracePeriodSeconds: int64p(1),
			Containers: []v1.Container{{Name: "c", Image: image, ImagePullPolicy: v1.PullAlways,
				Command: []string{"sh", "-c", "cat /etc/orch-private; exec sleep 100000"}}}}}
		for _, s := range secrets {
			p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, v1.LocalObjectRef{Name: s})
		}
		return p
	}
	// The failing ones first: every pod pulls (Always), so none of them
	// can use an image another pod pulled.
	createPod(t, cl, pod("anonymous"))
	createPod(t, cl, pod("wrong", "wrongcred"))
	createPod(t, cl, pod("missing", "nosuch"))
	for _, name := range []string{"anonymous", "wrong", "missing"} {
		waitFor(t, 60*time.Second, name+" in ImagePullBackOff", func() (bool, string) {
			p := getPod(t, cl, name)
			cs := containerStatus(p, "c")
			if cs == nil || cs.State.Waiting == nil {
				return false, "not waiting"
			}
			w := cs.State.Waiting
			want := `Back-off pulling image "` + image + `": ErrImagePull: failed to pull and unpack image "` + image + `"`
			return w.Reason == "ImagePullBackOff" && strings.HasPrefix(w.Message, want) && strings.Contains(w.Message, "401 Unauthorized") &&
				p.Status.Phase == v1.PodPending, w.Reason + ": " + w.Message
		})
		// The node sends its events in batches: they may trail the status.
		waitFor(t, 30*time.Second, name+": the kubelet's events", func() (bool, string) {
			rs := reasons(eventsOf(t, cl, "Pod", name))
			// Failed: the pull, ErrImagePull, ImagePullBackOff.
			ok := rs["Pulling"] >= 1 && rs["Failed"] >= 3 && rs["BackOff"] >= 1
			if name == "missing" {
				ok = ok && rs["FailedToRetrieveImagePullSecret"] >= 1
			}
			return ok, fmt.Sprint(rs)
		})
	}

	// With credentials it runs the pushed image.
	createPod(t, cl, pod("with-secret", "wrongcred", "regcred"))
	createPod(t, cl, pod("legacy", "legacycred"))
	for _, name := range []string{"with-secret", "legacy"} {
		waitRunning(t, cl, name)
		if out := orchctl("exec", name, "--", "cat", "/etc/orch-private"); out != marker+"\n" {
			t.Errorf("%s: /etc/orch-private = %q", name, out)
		}
	}

	// A ServiceAccount's imagePullSecrets reach its pods that name none.
	orchctl("create", "serviceaccount", "builder")
	orchctl("patch", "serviceaccount", "builder", "-p", `{"imagePullSecrets":[{"name":"regcred"}]}`)
	// The admission reads the account as the master serving the create has
	// it (Kubernetes' reads its informer cache): let every master see the
	// patch first.
	c.WaitCaughtUp(30 * time.Second)
	viaSA := pod("via-account")
	viaSA.Spec.ServiceAccountName = "builder"
	createPod(t, cl, viaSA)
	if p := getPod(t, cl, "via-account"); len(p.Spec.ImagePullSecrets) != 1 || p.Spec.ImagePullSecrets[0].Name != "regcred" {
		t.Fatalf("via-account: imagePullSecrets %+v, want the account's regcred", p.Spec.ImagePullSecrets)
	}
	waitRunning(t, cl, "via-account")
	// A pod's own list wins over the account's.
	own := pod("own-list", "wrongcred")
	own.Spec.ServiceAccountName = "builder"
	createPod(t, cl, own)
	if p := getPod(t, cl, "own-list"); len(p.Spec.ImagePullSecrets) != 1 || p.Spec.ImagePullSecrets[0].Name != "wrongcred" {
		t.Fatalf("own-list: imagePullSecrets %+v, want its own wrongcred", p.Spec.ImagePullSecrets)
	}
	waitFor(t, 60*time.Second, "own-list in ImagePullBackOff", func() (bool, string) {
		cs := containerStatus(getPod(t, cl, "own-list"), "c")
		if cs == nil || cs.State.Waiting == nil {
			return false, "not waiting"
		}
		return cs.State.Waiting.Reason == "ImagePullBackOff", cs.State.Waiting.Reason
	})

	// The node reads the Secrets its pods name, and no other.
	ncl := c.NodeClient(nd)
	var s v1.Secret
	if err := ncl.Get(ctxT(t, 5*time.Second), "secrets", "default", "regcred", &s); err != nil {
		t.Errorf("node get regcred: %v", err)
	}
	if err := ncl.Get(ctxT(t, 5*time.Second), "secrets", "default", "unused", &s); v1.CodeOf(err) != http.StatusForbidden {
		t.Errorf("node get of a Secret no pod names: %v, want 403", err)
	}
	if _, _, err := client.ListTyped[v1.Secret](ctxT(t, 5*time.Second), ncl, "secrets", "default", client.ListOptions{}); v1.CodeOf(err) != http.StatusForbidden {
		t.Errorf("node list of secrets: %v, want 403", err)
	}

	// The password is in no file of the node's state (its containerd's
	// content store and metadata included), nor in the agent's log.
	checkNotOnDisk(t, nd.StateDir, []byte(pass))
	if log, err := os.ReadFile(nd.LogPath); err != nil || bytes.Contains(log, []byte(pass)) {
		t.Errorf("the agent's log holds the registry password (or cannot be read: %v)", err)
	}
}

// checkNotOnDisk fails the test when a regular file under dir holds
// needle.
func checkNotOnDisk(t *testing.T, dir string, needle []byte) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file removed while walking
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		files++
		if bytes.Contains(data, needle) {
			t.Errorf("%s holds the registry password", path)
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walk %s: %v (%d files)", dir, err, files)
	}
}
