package sched

import (
	"context"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

func rootCA(t *testing.T, s *fsm.Store, ns string) *v1.ConfigMap {
	t.Helper()
	rec, err := s.Get("configmaps", ns, v1.RootCAConfigMap)
	if v1.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return rec.Object().(*v1.ConfigMap)
}

// Every active namespace gets kube-root-ca.crt with the CA; a terminating
// one gets none; an edited one is put back, a deleted one made again, and
// a right one is not written.
func TestRootCAPublisherPass(t *testing.T) {
	const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	p := newFakeProposer(t)
	p.create(t, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "team", UID: "ns-team"}, Status: v1.NamespaceStatus{Phase: v1.NamespaceActive}})
	p.create(t, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "old", UID: "ns-old"}, Status: v1.NamespaceStatus{Phase: v1.NamespaceTerminating}})
	c := NewRootCAPublisher(RootCAConfig{Store: p.store, Proposer: p, CAPEM: []byte(pem), Now: func() time.Time { return t0 }})
	pass := func() {
		t.Helper()
		if err := c.Pass(context.Background(), p.store()); err != nil {
			t.Fatal(err)
		}
	}
	pass()
	s := p.store()
	for _, ns := range []string{"team", "default"} {
		cm := rootCA(t, s, ns)
		if cm == nil || cm.Data[v1.RootCAKey] != pem || cm.Annotations[v1.DescriptionAnnotation] != RootCADescription || cm.UID == "" {
			t.Fatalf("%s: %+v", ns, cm)
		}
	}
	if cm := rootCA(t, s, "old"); cm != nil {
		t.Fatalf("terminating namespace got %+v", cm)
	}
	// Nothing to do: no write.
	idx := p.store().Index()
	pass()
	if got := p.store().Index(); got != idx {
		t.Fatalf("an idle pass wrote (index %d → %d)", idx, got)
	}
	// Edited: put back, same object.
	cm := rootCA(t, p.store(), "team")
	edited := *cm
	edited.Data = map[string]string{v1.RootCAKey: "forged", "extra": "x"}
	cmd, err := fsm.NewUpdate(&edited, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	pass()
	if got := rootCA(t, p.store(), "team"); got.UID != cm.UID || len(got.Data) != 1 || got.Data[v1.RootCAKey] != pem {
		t.Fatalf("after an edit: %+v", got)
	}
	// Deleted: made again.
	cmd, err = fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "configmaps", Namespace: "team", Name: v1.RootCAConfigMap})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	pass()
	if got := rootCA(t, p.store(), "team"); got == nil || got.UID == cm.UID || got.Data[v1.RootCAKey] != pem {
		t.Fatalf("after a delete: %+v", got)
	}
}

func TestNeedsRootCACheck(t *testing.T) {
	rec := func(obj v1.Object) *fsm.Record { return fsm.NewRecord(obj, nil) }
	tests := []struct {
		e    fsm.Event
		want bool
	}{
		{fsm.Event{Type: v1.Added, Resource: "namespaces", Record: rec(&v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "a"}})}, true},
		{fsm.Event{Type: v1.Deleted, Resource: "namespaces", Record: rec(&v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "a"}})}, false},
		{fsm.Event{Type: v1.Deleted, Resource: "configmaps", Record: rec(&v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: v1.RootCAConfigMap, Namespace: "a"}})}, true},
		{fsm.Event{Type: v1.Modified, Resource: "configmaps", Record: rec(&v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "app", Namespace: "a"}})}, false},
		{fsm.Event{Type: v1.Modified, Resource: "pods", Record: rec(&v1.Pod{ObjectMeta: v1.ObjectMeta{Name: v1.RootCAConfigMap, Namespace: "a"}})}, false},
	}
	for i, tt := range tests {
		if got := needsRootCACheck(tt.e); got != tt.want {
			t.Errorf("%d: needsRootCACheck(%s %s) = %v", i, tt.e.Type, tt.e.Resource, got)
		}
	}
}
