package node

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestContainerSpecMounts(t *testing.T) {
	hostDir := t.TempDir()
	typ := func(s v1.HostPathType) *v1.HostPathType { return &s }
	emptyDir := func(name string) v1.Volume {
		return v1.Volume{Name: name, EmptyDir: &v1.EmptyDirVolumeSource{}}
	}
	type want struct {
		source  string // relative to the pod dir unless absolute
		options []string
		ro      bool
	}
	etc := want{options: fileMountOptions(), ro: true}
	cases := []struct {
		name    string
		volumes []v1.Volume
		mounts  []v1.VolumeMount
		setup   func(t *testing.T, podDir string)
		want    map[string]want // by destination; every mount of the spec
		wantErr string
	}{
		{
			name: "emptyDir", volumes: []v1.Volume{emptyDir("data")},
			mounts: []v1.VolumeMount{{Name: "data", MountPath: "/data"}},
			want: map[string]want{
				"/data":      {source: "volumes/data", options: volumeMountOptions()},
				"/dev/shm":   {source: "shm", options: shmMountOptions()},
				"/etc/hosts": etc, "/etc/resolv.conf": etc, "/etc/hostname": etc,
			},
		},
		{
			name: "read-only emptyDir", volumes: []v1.Volume{emptyDir("data")},
			mounts: []v1.VolumeMount{{Name: "data", MountPath: "/data", ReadOnly: true}},
			want: map[string]want{
				"/data":      {source: "volumes/data", options: volumeMountOptions(), ro: true},
				"/dev/shm":   {source: "shm", options: shmMountOptions()},
				"/etc/hosts": etc, "/etc/resolv.conf": etc, "/etc/hostname": etc,
			},
		},
		{
			name:    "Memory emptyDir as /dev/shm",
			volumes: []v1.Volume{{Name: "mem", EmptyDir: &v1.EmptyDirVolumeSource{Medium: v1.MediumMemory}}},
			mounts:  []v1.VolumeMount{{Name: "mem", MountPath: "/dev/shm/"}},
			want: map[string]want{
				"/dev/shm/":  {source: "volumes/mem", options: volumeMountOptions()},
				"/etc/hosts": etc, "/etc/resolv.conf": etc, "/etc/hostname": etc,
			},
		},
		{
			name:    "hostPath",
			volumes: []v1.Volume{{Name: "h", HostPath: &v1.HostPathVolumeSource{Path: filepath.Join(hostDir, "made"), Type: typ(v1.HostPathDirectoryOrCreate)}}},
			mounts:  []v1.VolumeMount{{Name: "h", MountPath: "/host"}},
			want: map[string]want{
				"/host":      {source: filepath.Join(hostDir, "made")},
				"/dev/shm":   {source: "shm", options: shmMountOptions()},
				"/etc/hosts": etc, "/etc/resolv.conf": etc, "/etc/hostname": etc,
			},
		},
		{
			name:    "hostPath failing its type check",
			volumes: []v1.Volume{{Name: "h", HostPath: &v1.HostPathVolumeSource{Path: filepath.Join(hostDir, "nope"), Type: typ(v1.HostPathDirectory)}}},
			mounts:  []v1.VolumeMount{{Name: "h", MountPath: "/host"}},
			wantErr: `MountVolume.SetUp failed for volume "h" : hostPath ` + filepath.Join(hostDir, "nope") + ` doesn't exist`,
		},
		{
			name: "subPath of an emptyDir", volumes: []v1.Volume{emptyDir("data")},
			mounts: []v1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "data", MountPath: "/sub", SubPath: "x/y"}},
			want: map[string]want{
				"/data":      {source: "volumes/data", options: volumeMountOptions()},
				"/sub":       {source: "volume-subpaths/data/c/1", options: volumeMountOptions()},
				"/dev/shm":   {source: "shm", options: shmMountOptions()},
				"/etc/hosts": etc, "/etc/resolv.conf": etc, "/etc/hostname": etc,
			},
		},
		{
			name: "subPath swapped for a symlink to the host", volumes: []v1.Volume{emptyDir("data")},
			mounts: []v1.VolumeMount{{Name: "data", MountPath: "/sub", SubPath: "x"}},
			setup: func(t *testing.T, podDir string) {
				if err := os.Symlink(hostDir, filepath.Join(podDir, volumesDir, "data", "x")); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: `failed to prepare subPath for volumeMount "data" of container "c"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lw := newLifecycleWorker(t, nil)
			w := lw.podWorker
			podDir := w.a.podDir(w.uid)
			t.Cleanup(func() {
				if err := unmountPod(podDir); err != nil {
					t.Error(err)
				}
			})
			for _, v := range tc.volumes {
				if v.EmptyDir != nil {
					if err := os.MkdirAll(filepath.Join(podDir, volumesDir, v.Name), 0o777); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tc.setup != nil {
				tc.setup(t, podDir)
			}
			c := v1.Container{Name: "c", Image: "busybox", VolumeMounts: tc.mounts}
			pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p", Namespace: "default", UID: "u"},
				Spec: v1.PodSpec{Volumes: tc.volumes, Containers: []v1.Container{c}}}
			spec, err := w.containerSpec(context.Background(), pod, &c, 0)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), hostDir) && strings.Contains(tc.name, "subPath") {
					t.Errorf("the subPath error names a host path: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]Mount{}
			for _, m := range spec.Mounts {
				if _, dup := got[m.Destination]; dup {
					t.Errorf("two mounts at %s", m.Destination)
				}
				got[m.Destination] = m
			}
			if len(got) != len(tc.want) {
				t.Errorf("mounts %+v, want %d", spec.Mounts, len(tc.want))
			}
			for dst, wm := range tc.want {
				m, ok := got[dst]
				if !ok {
					t.Errorf("no mount at %s", dst)
					continue
				}
				src := wm.source
				if src != "" && !filepath.IsAbs(src) {
					src = filepath.Join(podDir, src)
				}
				if src != "" && m.Source != src {
					t.Errorf("%s: source %s, want %s", dst, m.Source, src)
				}
				if !slices.Equal(m.Options, wm.options) || m.ReadOnly != wm.ro {
					t.Errorf("%s: options %v ro %v, want %v ro %v", dst, m.Options, m.ReadOnly, wm.options, wm.ro)
				}
			}
		})
	}
	if st, err := os.Stat(filepath.Join(hostDir, "made")); err != nil || !st.IsDir() {
		t.Errorf("DirectoryOrCreate did not make the directory: %v", err)
	}
}

func TestNeedsShm(t *testing.T) {
	shmMount := []v1.VolumeMount{{Name: "m", MountPath: "/dev/shm"}}
	cases := []struct {
		name        string
		init, conts [][]v1.VolumeMount
		want        bool
	}{
		{"no volume at /dev/shm", nil, [][]v1.VolumeMount{nil}, true},
		{"every container mounts one", [][]v1.VolumeMount{shmMount}, [][]v1.VolumeMount{shmMount, shmMount}, false},
		{"one container does not", nil, [][]v1.VolumeMount{shmMount, nil}, true},
		{"an init container does not", [][]v1.VolumeMount{nil}, [][]v1.VolumeMount{shmMount}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{}
			for _, m := range tc.init {
				pod.Spec.InitContainers = append(pod.Spec.InitContainers, v1.Container{VolumeMounts: m})
			}
			for _, m := range tc.conts {
				pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{VolumeMounts: m})
			}
			if got := needsShm(pod); got != tc.want {
				t.Errorf("needsShm = %v, want %v", got, tc.want)
			}
		})
	}
}
