package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// A configMap volume is updated many times while a reader loop in the pod
// reads two of its files that must always match (issue 16, Done-when 2):
// the reader pins one version of the volume (its ..data directory) and
// reads both files there, and never sees them differ nor a file cut short;
// it sees several versions go by, and the last update reaches the volume
// within the node's bound (ConfigMapSyncPeriod + ConfigMapCacheTTL, 10 s).
func TestConfigMapVolumeReaderSeesWholeUpdates(t *testing.T) {
	parallel(t)
	c, _ := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	const padLen = 16 << 10
	pad := strings.Repeat("x", padLen)
	value := func(i int) string { return fmt.Sprintf("v%d:%s", i, pad) }
	cm := &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "pair", Namespace: "default"}, Data: map[string]string{"a": value(0), "b": value(0)}}
	if err := cl.Create(ctxT(t, 5*time.Second), cm); err != nil {
		t.Fatal(err)
	}
	// Each pass: enter the current version, read a and b there; a pass
	// whose version was swapped away meanwhile (its files removed) is not
	// counted. /tmp/state: passes, mismatches, versions seen, the last.
	reader := fmt.Sprintf(`n=0; bad=0; changes=0; last=
while :; do
  if cd /cfg/..data 2>/dev/null; then
    if a=$(cat a 2>/dev/null) && b=$(cat b 2>/dev/null); then
      n=$((n+1))
      v=${a%%%%:*}
      if [ "$a" != "$b" ] || [ ${#a} -ne $((${#v} + 1 + %d)) ]; then
        bad=$((bad+1)); echo "mismatch: ${#a} bytes of ${a%%%%:*}, ${#b} bytes of ${b%%%%:*}"
      fi
      if [ "$v" != "$last" ]; then changes=$((changes+1)); last=$v; fi
      echo "$n $bad $changes $last" > /tmp/state
    fi
    cd /
  fi
done`, padLen)
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "reader"}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: int64p(1),
		Volumes:                       []v1.Volume{{Name: "cfg", ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectRef: v1.LocalObjectRef{Name: "pair"}}}},
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sh", "-c", reader},
			VolumeMounts: []v1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}}}}}})
	waitRunning(t, cl, "reader")
	type state struct {
		passes, bad, changes int
		last                 string
	}
	read := func() (state, error) {
		out, stderr, err := c.Orchctl("", "exec", "reader", "--", "cat", "/tmp/state")
		if err != nil {
			return state{}, fmt.Errorf("%v %s", err, stderr)
		}
		f := strings.Fields(out)
		if len(f) != 4 {
			return state{}, fmt.Errorf("state %q", out)
		}
		var s state
		var errs [3]error
		s.passes, errs[0] = strconv.Atoi(f[0])
		s.bad, errs[1] = strconv.Atoi(f[1])
		s.changes, errs[2] = strconv.Atoi(f[2])
		s.last = f[3]
		for _, err := range errs {
			if err != nil {
				return state{}, fmt.Errorf("state %q: %v", out, err)
			}
		}
		return s, nil
	}
	waitFor(t, 30*time.Second, "the reader reading v0", func() (bool, string) {
		s, err := read()
		return err == nil && s.last == "v0", fmt.Sprintf("%+v %v", s, err)
	})

	// Many updates, both files to the same new value each time, spread
	// over several of the node's sync periods.
	const updates = 40
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for i := 1; i <= updates; i++ {
		<-tick.C
		patch := fmt.Sprintf(`{"data":{"a":%q,"b":%q}}`, value(i), value(i))
		if err := cl.Patch(ctxT(t, 5*time.Second), "configmaps", "default", "pair", []byte(patch), &v1.ConfigMap{}); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	last := time.Now()
	var s state
	waitFor(t, 30*time.Second, "the last update in the volume", func() (bool, string) {
		var err error
		s, err = read()
		return err == nil && s.last == fmt.Sprintf("v%d", updates), fmt.Sprintf("%+v %v", s, err)
	})
	if d := time.Since(last); d > 15*time.Second {
		t.Errorf("the last update took %v to reach the reader (bound 10 s, plus polling)", d)
	}
	if s.bad != 0 {
		logs, _, _ := c.Orchctl("", "logs", "reader")
		t.Errorf("the reader saw the two files differ or cut short %d times in %d passes:\n%s", s.bad, s.passes, logs)
	}
	if s.changes < 3 || s.passes < 100 {
		t.Errorf("the reader saw %d versions in %d passes; the test proves little", s.changes, s.passes)
	}
	t.Logf("reader: %d passes, %d versions seen, no mismatch", s.passes, s.changes)
}
