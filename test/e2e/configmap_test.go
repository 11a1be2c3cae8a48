package e2e

import (
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// ConfigMaps reach pods as Kubernetes' users expect: kubectl creates one
// from literals and shows it; a container gets variables from envFrom
// (with a prefix) and configMapKeyRef, and files from a configMap volume;
// an update reaches the files within the node's bound (ConfigMapSyncPeriod
// + ConfigMapCacheTTL, 10 s) while a subPath mount keeps its file; a pod
// naming a ConfigMap that does not exist waits in CreateContainerConfigError
// and starts once it is created; kube-root-ca.crt is in every namespace.
func TestConfigMapsInPods(t *testing.T) {
	parallel(t)
	c, _ := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	orchctl := func(args ...string) string {
		t.Helper()
		out, stderr, err := c.Orchctl("", args...)
		if err != nil {
			t.Fatalf("orchctl %v: %v %s", args, err, stderr)
		}
		return out
	}
	orchctl("create", "configmap", "game", "--from-literal=lives=3", "--from-literal=game.properties=mode=easy")
	if out := orchctl("get", "configmap", "game"); !strings.Contains(out, "DATA") || !strings.Contains(out, "game   2") {
		t.Errorf("get configmap:\n%s", out)
	}
	waitFor(t, 30*time.Second, "kube-root-ca.crt published in default", func() (bool, string) {
		var cm v1.ConfigMap
		err := cl.Get(ctxT(t, 5*time.Second), "configmaps", "default", v1.RootCAConfigMap, &cm)
		return err == nil && strings.Contains(cm.Data[v1.RootCAKey], "BEGIN CERTIFICATE"), errString(err)
	})

	yes := true
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "player"}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: int64p(1),
		Volumes: []v1.Volume{{Name: "cfg", ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectRef: v1.LocalObjectRef{Name: "game"}}},
			{Name: "extra", ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectRef: v1.LocalObjectRef{Name: "not-there"}, Optional: &yes}}},
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"},
			EnvFrom: []v1.EnvFromSource{{Prefix: "GAME_", ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectRef: v1.LocalObjectRef{Name: "game"}}}},
			Env: []v1.EnvVar{{Name: "LIVES", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{
				LocalObjectRef: v1.LocalObjectRef{Name: "game"}, Key: "lives"}}}},
			VolumeMounts: []v1.VolumeMount{{Name: "cfg", MountPath: "/etc/game"},
				{Name: "cfg", MountPath: "/etc/lives", SubPath: "lives"}, {Name: "extra", MountPath: "/etc/extra"}}}}}})
	waitRunning(t, cl, "player")
	env := orchctl("exec", "player", "--", "env")
	for _, want := range []string{"GAME_lives=3", "GAME_game.properties=mode=easy", "LIVES=3"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
	if out := orchctl("exec", "player", "--", "cat", "/etc/game/game.properties", "/etc/game/lives", "/etc/lives"); out != "mode=easy33" {
		t.Errorf("files: %q", out)
	}
	if out := orchctl("exec", "player", "--", "ls", "-A", "/etc/extra"); strings.TrimSpace(out) != "" && !strings.HasPrefix(out, "..") {
		t.Errorf("optional volume of a missing ConfigMap: %q", out)
	}

	// An update: every file at once within the bound; the subPath stays.
	orchctl("patch", "configmap", "game", "--type=merge", "-p", `{"data":{"lives":"5","game.properties":"mode=hard"}}`)
	start := time.Now()
	waitFor(t, 30*time.Second, "the update in the volume", func() (bool, string) {
		out, _, _ := c.Orchctl("", "exec", "player", "--", "cat", "/etc/game/game.properties", "/etc/game/lives")
		return out == "mode=hard5", out
	})
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the update took %v to reach the volume (bound 10 s, plus polling)", d)
	}
	if out := orchctl("exec", "player", "--", "cat", "/etc/lives"); out != "3" {
		t.Errorf("the subPath file changed: %q", out)
	}
	// The files are read-only for the pod.
	if _, _, err := c.Orchctl("", "exec", "player", "--", "sh", "-c", "echo x > /etc/game/lives"); err == nil {
		t.Error("a pod wrote into its configMap volume")
	}

	// A missing ConfigMap: waiting with the kubelet's reason, then running.
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "early"}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: int64p(1),
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"},
			Env: []v1.EnvVar{{Name: "LEVEL", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{
				LocalObjectRef: v1.LocalObjectRef{Name: "late"}, Key: "level"}}}}}}}})
	waitFor(t, 60*time.Second, "early waits for its ConfigMap", func() (bool, string) {
		cs := containerStatus(getPod(t, cl, "early"), "c")
		if cs == nil || cs.State.Waiting == nil {
			return false, "no waiting state"
		}
		w := cs.State.Waiting
		return w.Reason == "CreateContainerConfigError" && w.Message == `configmap "late" not found`, w.Reason + ": " + w.Message
	})
	orchctl("create", "configmap", "late", "--from-literal=level=7")
	waitRunning(t, cl, "early")
	if out := orchctl("exec", "early", "--", "sh", "-c", "echo $LEVEL"); out != "7\n" {
		t.Errorf("LEVEL = %q", out)
	}

	// An immutable ConfigMap refuses a change of its data with Kubernetes' words.
	orchctl("create", "-f", manifest(t, "frozen.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: frozen
immutable: true
data:
  a: "1"
`))
	_, stderr, err := c.Orchctl("", "patch", "configmap", "frozen", "--type=merge", "-p", `{"data":{"a":"2"}}`)
	if err == nil || !strings.Contains(stderr, "field is immutable when `immutable` is set") {
		t.Errorf("patching an immutable ConfigMap: %v %s", err, stderr)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
