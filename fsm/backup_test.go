package fsm

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestBackupRoundTrip(t *testing.T) {
	f := NewTestFSM(t)
	MustCreate(t, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default", UID: "ns"}})
	for i := 0; i < 5; i++ {
		MustCreate(t, f, uint64(2+i), &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "default", UID: fmt.Sprintf("u%d", i)},
			Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}})
	}
	var buf bytes.Buffer
	if err := f.Store().WriteBackup(&buf); err != nil {
		t.Fatal(err)
	}
	info, body, err := v1.ReadBackup(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if info.Index != 6 || info.Objects["pods"] != 5 || info.Objects["namespaces"] != 1 {
		t.Errorf("info = %+v", info)
	}
	// The body restores into a fresh FSM with the same objects.
	g := NewTestFSM(t)
	if err := g.Restore(io.NopCloser(bytes.NewReader(body))); err != nil {
		t.Fatal(err)
	}
	a, _ := f.Store().List("pods", ListOptions{})
	b, _ := g.Store().List("pods", ListOptions{})
	for i := range a.Items {
		ja, _ := a.Items[i].JSON()
		jb, _ := b.Items[i].JSON()
		if !bytes.Equal(ja, jb) {
			t.Errorf("restored pod differs:\n%s\n%s", ja, jb)
		}
	}

	for _, tc := range []struct{ name, data, want string }{
		{"flipped byte", strings.Replace(buf.String(), `"p3"`, `"p9"`, 1), "checksum mismatch"},
		{"truncated", buf.String()[:buf.Len()/2], "not a checksum"},
		{"empty", "", "no trailer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := v1.ReadBackup(strings.NewReader(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
