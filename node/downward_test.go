package node

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/net/podnet"
)

// Fields of the pod read as fieldpath.ExtractFieldPathAsString and the
// kubelet's env resolution read them.
func TestFieldRef(t *testing.T) {
	w := newLifecycleWorker(t, nil)
	w.a.cfg.NodeIP = "192.0.2.10"
	w.sandbox = &podnet.Sandbox{IP: net.ParseIP("10.244.1.7")}
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p", Namespace: "team", UID: "u-1",
		Labels:      map[string]string{"zone": "us-est-coast", "cluster": "test-cluster1", "rack": "rack-22"},
		Annotations: map[string]string{"build": "two", "builder": "john-doe", "quote": "say \"hi\"\n"}},
		Spec: v1.PodSpec{NodeName: "node-1", ServiceAccountName: "builder"}}
	for _, tc := range []struct {
		path, want, err string
	}{
		{"metadata.name", "p", ""},
		{"metadata.namespace", "team", ""},
		{"metadata.uid", "u-1", ""},
		{"metadata.labels", "cluster=\"test-cluster1\"\nrack=\"rack-22\"\nzone=\"us-est-coast\"", ""},
		{"metadata.annotations", "build=\"two\"\nbuilder=\"john-doe\"\nquote=\"say \\\"hi\\\"\\n\"", ""},
		{"metadata.labels['rack']", "rack-22", ""},
		{"metadata.labels['missing']", "", ""},
		{"metadata.annotations['builder']", "john-doe", ""},
		{"spec.nodeName", "node-1", ""},
		{"spec.serviceAccountName", "builder", ""},
		{"status.podIP", "10.244.1.7", ""},
		{"status.podIPs", "10.244.1.7", ""},
		{"status.hostIP", "192.0.2.10", ""},
		{"status.hostIPs", "192.0.2.10", ""},
		{"metadata.name['x']", "", `fieldPath "metadata.name['x']" does not support subscript`},
		{"status.phase", "", "unsupported fieldPath: status.phase"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			got, err := w.fieldRef(pod, tc.path)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("fieldRef = %q, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("fieldRef = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if got, _ := podMetadataField(&v1.Pod{}, "metadata.labels"); got != "" {
		t.Errorf("no labels read as %q, want empty", got)
	}
}

// Resources as Kubernetes' ExtractContainerResourceValue: divided and
// rounded up, a missing limit read as the node's allocatable.
func TestContainerResourceValue(t *testing.T) {
	q := resource.MustParse
	r := v1.ResourceRequirements{
		Requests: v1.ResourceList{v1.ResourceCPU: q("125m"), v1.ResourceMemory: q("32Mi")},
		Limits:   v1.ResourceList{v1.ResourceCPU: q("250m"), v1.ResourceMemory: q("64Mi")},
	}
	onlyRequests := v1.ResourceRequirements{Requests: r.Requests}
	alloc := v1.ResourceList{v1.ResourceCPU: q("2"), v1.ResourceMemory: q("4Gi")}
	for _, tc := range []struct {
		name, resource, divisor string
		r                       v1.ResourceRequirements
		want                    string
	}{
		{"limits.cpu in millicores", "limits.cpu", "1m", r, "250"},
		{"requests.cpu in millicores", "requests.cpu", "1m", r, "125"},
		{"limits.cpu in cores rounds up", "limits.cpu", "", r, "1"},
		{"limits.memory in Mi", "limits.memory", "1Mi", r, "64"},
		{"requests.memory in Mi", "requests.memory", "1Mi", r, "32"},
		{"requests.memory in bytes", "requests.memory", "", r, "33554432"},
		{"requests.memory in Gi rounds up", "requests.memory", "1Gi", r, "1"},
		{"limits.memory in M", "limits.memory", "1M", r, "68"},
		{"missing cpu limit is allocatable", "limits.cpu", "", onlyRequests, "2"},
		{"missing memory limit is allocatable", "limits.memory", "1Mi", onlyRequests, "4096"},
		{"missing request is 0", "requests.cpu", "1m", v1.ResourceRequirements{}, "0"},
		{"ephemeral-storage beyond allocatable is 0", "limits.ephemeral-storage", "", r, "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := &v1.ResourceFieldSelector{Resource: tc.resource}
			if tc.divisor != "" {
				fs.Divisor = q(tc.divisor)
			}
			got, err := containerResourceValue(fs, tc.r, alloc)
			if err != nil || got != tc.want {
				t.Fatalf("value = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := containerResourceValue(&v1.ResourceFieldSelector{Resource: "limits.pods"}, r, alloc); err == nil {
		t.Error("limits.pods resolved")
	}
}

// A downwardAPI volume and a projected downwardAPI source hold the pod's
// fields and resources with their modes, and follow its labels.
func TestDownwardAPIVolume(t *testing.T) {
	a := newConfigMapAgent(t, &configMapServer{}, time.Now)
	w := newPodWorker(a, "pod-uid", nil)
	t.Cleanup(func() {
		if err := unmountPod(a.podDir("pod-uid")); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	q := resource.MustParse
	cpuLimit := &v1.ResourceFieldSelector{ContainerName: "client-container", Resource: "limits.cpu", Divisor: q("1m")}
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "team", UID: "pod-uid",
		Labels: map[string]string{"zone": "us-est-coast"}, Annotations: map[string]string{"build": "two"}},
		Spec: v1.PodSpec{
			Containers: []v1.Container{{Name: "client-container", VolumeMounts: []v1.VolumeMount{{Name: "podinfo", MountPath: "/etc/podinfo"}},
				Resources: v1.ResourceRequirements{
					Limits: v1.ResourceList{v1.ResourceCPU: q("250m")}, Requests: v1.ResourceList{v1.ResourceMemory: q("32Mi")}}}},
			Volumes: []v1.Volume{
				{Name: "podinfo", DownwardAPI: &v1.DownwardAPIVolumeSource{Items: []v1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
					{Path: "meta/annotations", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.annotations"}, Mode: new(int32(0o400))},
					{Path: "cpu_limit", ResourceFieldRef: cpuLimit},
					{Path: "mem_request", ResourceFieldRef: &v1.ResourceFieldSelector{ContainerName: "client-container",
						Resource: "requests.memory", Divisor: q("1Mi")}},
				}}},
				{Name: "proj", Projected: &v1.ProjectedVolumeSource{DefaultMode: new(int32(0o440)), Sources: []v1.VolumeProjection{
					{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{
						{Path: "zone", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels['zone']"}},
						{Path: "cpu", ResourceFieldRef: cpuLimit},
					}}}}}},
			}}}
	v1.Default(pod)
	if err := makePrivateDirs(a.podDir("pod-uid"), filepath.Join(a.podDir("pod-uid"), volumesDir)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	next, err := w.syncProjected(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if next != DownwardAPISyncPeriod {
		t.Errorf("next sync in %v, want %v", next, DownwardAPISyncPeriod)
	}
	vol := func(name string) string { return filepath.Join(a.podDir("pod-uid"), volumesDir, name) }
	for _, tc := range []struct {
		vol, file, want string
		mode            os.FileMode
	}{
		{"podinfo", "labels", `zone="us-est-coast"`, 0o644},
		{"podinfo", "meta/annotations", `build="two"`, 0o400},
		{"podinfo", "cpu_limit", "250", 0o644},
		{"podinfo", "mem_request", "32", 0o644},
		{"proj", "zone", "us-est-coast", 0o440},
		{"proj", "cpu", "250", 0o440},
	} {
		if got := readVolumeFile(t, vol(tc.vol), tc.file); got != tc.want {
			t.Errorf("%s/%s = %q, want %q", tc.vol, tc.file, got, tc.want)
		}
		if st, err := os.Stat(filepath.Join(vol(tc.vol), tc.file)); err != nil || st.Mode().Perm() != tc.mode {
			t.Errorf("%s/%s: mode %v (%v), want %v", tc.vol, tc.file, st.Mode().Perm(), err, tc.mode)
		}
	}
	mounts, err := w.volumeMounts(pod, &pod.Spec.Containers[0])
	if err != nil || len(mounts) != 1 || mounts[0].Source != vol("podinfo") || !mounts[0].ReadOnly {
		t.Fatalf("the container's mounts: %+v, %v; want podinfo read-only", mounts, err)
	}
	// New labels reach the files on the next sync.
	pod.Labels = map[string]string{"zone": "eu-west", "rack": "rack-1"}
	if _, err := w.syncProjected(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if got := readVolumeFile(t, vol("podinfo"), "labels"); got != "rack=\"rack-1\"\nzone=\"eu-west\"" {
		t.Errorf("labels after the change: %q", got)
	}
	if got := readVolumeFile(t, vol("proj"), "zone"); got != "eu-west" {
		t.Errorf("zone after the change: %q", got)
	}
	// A resource of a container the pod lacks fails the volume.
	pod.Spec.Volumes[0].DownwardAPI.Items[2].ResourceFieldRef = &v1.ResourceFieldSelector{ContainerName: "nope", Resource: "limits.cpu"}
	if _, err := w.syncProjected(ctx, pod); err == nil || err.Error() !=
		`MountVolume.SetUp failed for volume "podinfo" : error collecting data for cpu_limit: container nope not found` {
		t.Errorf("sync with a missing container: %v", err)
	}
}
