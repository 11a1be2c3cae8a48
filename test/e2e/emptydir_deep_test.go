package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

// A pod cannot hide its emptyDir usage from its sizeLimit by nesting
// directories until the path to its data is longer than PATH_MAX: the node
// still measures the volume and evicts the pod. (The container builds the
// tree in three chains of ten 200-byte names, each short enough to name,
// then moves them into one another.)
func TestEmptyDirSizeLimitDeepTree(t *testing.T) {
	parallel(t)
	c, _ := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	small := resource.MustParse("1Mi")
	script := `n=$(printf "%0200d" 0 | tr 0 d); p=$n; i=1; while [ $i -lt 10 ]; do p=$p/$n; i=$((i+1)); done
cd /scratch && for c in c1 c2 c3; do mkdir -p $c/$p || exit 1; done
dd if=/dev/urandom of=c3/$p/big bs=1M count=3 2>/dev/null && mv c3 c2/$p/ && mv c2 c1/$p/ && echo deep written
sleep 100000`
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "deep-hog"}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: int64p(1),
		Volumes:                       []v1.Volume{{Name: "scratch", EmptyDir: &v1.EmptyDirVolumeSource{SizeLimit: &small}}},
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
			VolumeMounts: []v1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}},
			Command:      []string{"sh", "-c", script}}}}})
	waitFor(t, 60*time.Second, "deep-hog wrote its data", func() (bool, string) {
		out, stderr, err := c.Orchctl("", "logs", "deep-hog")
		return err == nil && strings.Contains(out, "deep written"), out + stderr
	})
	var p *v1.Pod
	// The node measures every 10 s.
	waitFor(t, 60*time.Second, "deep-hog evicted", func() (bool, string) {
		p = getPod(t, cl, "deep-hog")
		return p.Status.Phase == v1.PodFailed, fmt.Sprintf("%s %s", p.Status.Phase, p.Status.Reason)
	})
	want := `Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". `
	if p.Status.Reason != "Evicted" || p.Status.Message != want {
		t.Errorf("reason %q message %q, want Evicted %q", p.Status.Reason, p.Status.Message, want)
	}
}
