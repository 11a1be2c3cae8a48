package hollow

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orch.io/orch/node"
)

func TestRuntimeLifecycle(t *testing.T) {
	ctx := context.Background()
	r := NewRuntime(nil)
	logPath := filepath.Join(t.TempDir(), "0.log")
	spec := &node.ContainerSpec{PodUID: "u1", PodNamespace: "ns", PodName: "p", Name: "c", Attempt: 2, SpecHash: "h",
		Image: "busybox:1.36", LogPath: logPath}
	id, err := r.StartContainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := r.ListContainers(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("list: %v %v", cs, err)
	}
	c := cs[0]
	for k, want := range map[string]string{node.LabelPodUID: "u1", node.LabelPodNamespace: "ns", node.LabelPodName: "p",
		node.LabelContainer: "c", node.LabelAttempt: "2", node.LabelSpecHash: "h"} {
		if c.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], want)
		}
	}
	if c.ID != id || c.State != node.StateRunning || !strings.HasPrefix(c.ImageID, "sha256:") || c.StartedAt.IsZero() {
		t.Errorf("container %+v", c)
	}
	if b, err := os.ReadFile(logPath); err != nil || !strings.Contains(string(b), " stdout F hollow container c of ns/p started\n") {
		t.Errorf("log %q %v", b, err)
	}
	if code, out, err := r.Exec(ctx, id, []string{"true"}); err != nil || code != 0 || len(out) != 0 {
		t.Errorf("exec: %d %q %v", code, out, err)
	}
	if _, err := r.ExecStream(ctx, id, []string{"sh"}, node.StreamIO{}); err == nil || !strings.Contains(err.Error(), "runs no container processes") {
		t.Errorf("exec stream: %v", err)
	}
	if err := r.RemoveContainer(ctx, id); err == nil {
		t.Error("removed a running container")
	}
	wait, err := r.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-wait:
		t.Fatalf("exited before stop: %+v", st)
	default:
	}
	if err := r.StopContainer(ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-wait:
		if st.Code != 143 || st.FinishedAt.IsZero() {
			t.Errorf("exit %+v", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit after stop")
	}
	// A wait after the exit gets it at once; stopping again is a no-op.
	late, err := r.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st := <-late; st.Code != 143 {
		t.Errorf("late wait %+v", st)
	}
	if err := r.StopContainer(ctx, id, 0); err != nil {
		t.Error(err)
	}
	if _, _, err := r.Exec(ctx, id, []string{"true"}); err == nil {
		t.Error("exec in an exited container")
	}
	if r.Running() != 0 {
		t.Errorf("running %d", r.Running())
	}
	for i := 0; i < 2; i++ {
		if err := r.RemoveContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if cs, _ := r.ListContainers(ctx); len(cs) != 0 {
		t.Errorf("left %v", cs)
	}
	if _, err := r.Wait(ctx, id); err == nil {
		t.Error("wait on a removed container")
	}
}

func TestRuntimeRefuses(t *testing.T) {
	ctx := context.Background()
	r := NewRuntime(nil)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	log := filepath.Join(t.TempDir(), "l")
	tests := []struct {
		name string
		ctx  context.Context
		spec node.ContainerSpec
	}{
		{"no pod uid", ctx, node.ContainerSpec{Name: "c", Image: "i", LogPath: log}},
		{"no log path", ctx, node.ContainerSpec{PodUID: "u", Name: "c", Image: "i"}},
		{"no image", ctx, node.ContainerSpec{PodUID: "u", Name: "c", LogPath: log}},
		{"log dir missing", ctx, node.ContainerSpec{PodUID: "u", Name: "c", Image: "i", LogPath: filepath.Join(log, "x", "y")}},
		{"context ended", canceled, node.ContainerSpec{PodUID: "u", Name: "c", Image: "i", LogPath: log}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := r.StartContainer(tt.ctx, &tt.spec); err == nil {
				t.Fatal("started")
			}
			if cs, _ := r.ListContainers(ctx); len(cs) != 0 {
				t.Fatalf("left %v", cs)
			}
		})
	}
	if _, err := r.ImportImages(ctx, strings.NewReader("")); err == nil {
		t.Error("imported images")
	}
}

// Many containers start and stop at once (run with -race).
func TestRuntimeConcurrent(t *testing.T) {
	ctx := context.Background()
	r := NewRuntime(nil)
	dir := t.TempDir()
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		go func() {
			id, err := r.StartContainer(ctx, &node.ContainerSpec{PodUID: "u", Name: "c", Image: "i", LogPath: filepath.Join(dir, "log")})
			if err == nil {
				err = r.StopContainer(ctx, id, 0)
			}
			if err == nil {
				err = r.RemoveContainer(ctx, id)
			}
			errs <- err
		}()
	}
	for i := 0; i < 50; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if cs, _ := r.ListContainers(ctx); len(cs) != 0 {
		t.Fatalf("left %d", len(cs))
	}
}
