package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

// Config.MountTmpfs gets every tmpfs the agent mounts (shm, Memory
// emptyDir, projected and configMap volumes) with its options; one that
// mounts nothing leaves plain directories the agent writes as usual.
func TestMountTmpfsHook(t *testing.T) {
	type call struct{ source, dir, data string }
	var calls []call
	a := &Agent{cfg: Config{
		Capacity: v1.ResourceList{v1.ResourceMemory: resource.MustParse("1Gi")},
		MountTmpfs: func(source, dir string, _ uintptr, data string) error {
			calls = append(calls, call{source, dir, data})
			return nil
		},
	}}
	root := t.TempDir()
	pod := &v1.Pod{}
	mem := &v1.Volume{Name: "mem", EmptyDir: &v1.EmptyDirVolumeSource{Medium: v1.MediumMemory}}
	disk := &v1.Volume{Name: "disk", EmptyDir: &v1.EmptyDirVolumeSource{}}
	steps := []struct {
		name, dir, source, data string // data "" means no mount wanted
		run                     func(dir string) error
	}{
		{"shm", filepath.Join(root, "shm"), "shm", "mode=1777,size=67108864", a.setupShm},
		{"projected", filepath.Join(root, "proj"), "tmpfs", "mode=0755,size=", a.setupProjectedDir},
		{"memory emptyDir", filepath.Join(root, "mem"), "tmpfs", "mode=1777,size=1073741824",
			func(dir string) error { return a.setupEmptyDir(pod, mem, dir) }},
		{"disk emptyDir", filepath.Join(root, "disk"), "", "",
			func(dir string) error { return a.setupEmptyDir(pod, disk, dir) }},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			calls = nil
			if err := s.run(s.dir); err != nil {
				t.Fatal(err)
			}
			if st, err := os.Stat(s.dir); err != nil || !st.IsDir() {
				t.Fatalf("%s is not a directory: %v", s.dir, err)
			}
			if s.data == "" {
				if len(calls) != 0 {
					t.Fatalf("mounted %v, want no mount", calls)
				}
				return
			}
			if len(calls) != 1 || calls[0].source != s.source || calls[0].dir != s.dir || !strings.HasPrefix(calls[0].data, s.data) {
				t.Fatalf("mounts %v, want one of %s on %s with %s…", calls, s.source, s.dir, s.data)
			}
			if err := os.WriteFile(filepath.Join(s.dir, "f"), []byte("x"), 0o644); err != nil {
				t.Fatalf("write into the plain directory: %v", err)
			}
		})
	}
}
