package fsm

import (
	"testing"

	v1 "orch.io/orch/api/v1"
)

func debugger(name, image string) v1.EphemeralContainer {
	return v1.EphemeralContainer{EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: name, Image: image},
		TargetContainerName: "c"}
}

// The ephemeral containers command changes only spec.ephemeralContainers,
// only by additions, with the resourceVersion as precondition; a regular
// update keeps the stored list whatever it carries.
func TestApplyUpdateEphemeralContainers(t *testing.T) {
	tests := []struct {
		name    string
		before  []v1.EphemeralContainer
		after   []v1.EphemeralContainer
		staleRV bool
		wantErr int // HTTP code, 0 for success
	}{
		{name: "add the first", after: []v1.EphemeralContainer{debugger("d1", "busybox")}},
		{name: "add a second", before: []v1.EphemeralContainer{debugger("d1", "busybox")},
			after: []v1.EphemeralContainer{debugger("d1", "busybox"), debugger("d2", "busybox")}},
		{name: "remove", before: []v1.EphemeralContainer{debugger("d1", "busybox")}, wantErr: 422},
		{name: "change", before: []v1.EphemeralContainer{debugger("d1", "busybox")},
			after: []v1.EphemeralContainer{debugger("d1", "alpine")}, wantErr: 422},
		{name: "stale resourceVersion", after: []v1.EphemeralContainer{debugger("d1", "busybox")}, staleRV: true, wantErr: 409},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewTestFSM(t)
			p := podObj("default", "p", nil)
			p.Spec.EphemeralContainers = tt.before
			MustCreate(t, f, 1, nsObj("default"))
			MustCreate(t, f, 2, p)
			rec, _ := f.Store().Get("pods", "default", "p")
			next := v1.DeepCopy(rec.Object().(*v1.Pod))
			next.Spec.EphemeralContainers = tt.after
			next.Spec.Containers[0].Image = "ignored:1" // only the list is taken
			if tt.staleRV {
				next.ResourceVersion = "1"
			}
			cmd, err := NewUpdateEphemeralContainers(next)
			if err != nil {
				t.Fatal(err)
			}
			res := ApplyCommand(t, f, 3, cmd).(Result)
			if v1.CodeOf(res.Err) != tt.wantErr && !(tt.wantErr == 0 && res.Err == nil) {
				t.Fatalf("got %v, want code %d", res.Err, tt.wantErr)
			}
			got, _ := f.Store().Get("pods", "default", "p")
			gp := got.Object().(*v1.Pod)
			want := tt.before
			if tt.wantErr == 0 {
				want = tt.after
			}
			if !v1.JSONEqual(gp.Spec.EphemeralContainers, want) {
				t.Errorf("stored ephemeral containers %+v, want %+v", gp.Spec.EphemeralContainers, want)
			}
			if gp.Spec.Containers[0].Image != "busybox:1.36" {
				t.Errorf("the command changed the image to %s", gp.Spec.Containers[0].Image)
			}
		})
	}
}

func TestUpdateKeepsEphemeralContainers(t *testing.T) {
	f := NewTestFSM(t)
	p := podObj("default", "p", nil)
	p.Spec.EphemeralContainers = []v1.EphemeralContainer{debugger("d1", "busybox")}
	MustCreate(t, f, 1, nsObj("default"))
	MustCreate(t, f, 2, p)
	up := podObj("default", "p", map[string]string{"a": "b"}) // no ephemeral containers, no resourceVersion
	cmd, err := NewUpdate(up, false)
	if err != nil {
		t.Fatal(err)
	}
	if res := ApplyCommand(t, f, 3, cmd).(Result); res.Err != nil {
		t.Fatal(res.Err)
	}
	got, _ := f.Store().Get("pods", "default", "p")
	gp := got.Object().(*v1.Pod)
	if gp.Labels["a"] != "b" || len(gp.Spec.EphemeralContainers) != 1 {
		t.Errorf("after the update: labels %v, ephemeral containers %+v", gp.Labels, gp.Spec.EphemeralContainers)
	}
}
