package sched

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

func accountUID(t *testing.T, s *fsm.Store, ns string) string {
	t.Helper()
	rec, err := s.Get("serviceaccounts", ns, "default")
	if v1.IsNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return rec.UID()
}

// Every active namespace gets "default"; a terminating one gets none; a
// deleted account comes back with a new uid.
func TestServiceAccountsPass(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "team", UID: "ns-team"}, Status: v1.NamespaceStatus{Phase: v1.NamespaceActive}})
	p.create(t, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "old", UID: "ns-old"}, Status: v1.NamespaceStatus{Phase: v1.NamespaceTerminating}})
	c := NewServiceAccountsController(ServiceAccountsConfig{Store: p.store, Proposer: p, Now: func() time.Time { return t0 }})
	if err := c.Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	s := p.store()
	if accountUID(t, s, "team") == "" || accountUID(t, s, "default") != "sa-default" || accountUID(t, s, "old") != "" {
		t.Fatalf("accounts: team %q default %q old %q", accountUID(t, s, "team"), accountUID(t, s, "default"), accountUID(t, s, "old"))
	}
	rec, _ := s.Get("serviceaccounts", "team", "default")
	sa := rec.Object().(*v1.ServiceAccount)
	if sa.Kind != "ServiceAccount" || sa.APIVersion != "v1" || !sa.CreationTimestamp.Equal(t0) {
		t.Errorf("made %+v", sa)
	}
	first := sa.UID
	cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "serviceaccounts", Namespace: "team", Name: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	if err := c.Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	if uid := accountUID(t, p.store(), "team"); uid == "" || uid == first {
		t.Fatalf("re-created account uid %q (first %q)", uid, first)
	}
}

// Run reacts to a new namespace.
func TestServiceAccountsRunFollowsNamespaces(t *testing.T) {
	p := newFakeProposer(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewServiceAccountsController(ServiceAccountsConfig{Store: p.store, Proposer: p}).Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	p.create(t, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "late", UID: "ns-late"}, Status: v1.NamespaceStatus{Phase: v1.NamespaceActive}})
	deadline := time.Now().Add(10 * time.Second)
	for accountUID(t, p.store(), "late") == "" {
		if time.Now().After(deadline) {
			t.Fatal("no default account in a new namespace within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The replication manager's pods go through the ServiceAccount admission:
// they get the token volume, and a template naming a missing account is a
// refused create.
func TestReplicationPodsServiceAccount(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, loopRC("web", 2))
	ghost := loopRC("ghost", 1)
	ghost.UID = "ghost-uid"
	ghost.Spec.Template.Spec.ServiceAccountName = "nobody"
	p.create(t, ghost)
	m := NewReplicationManager(ReplicationConfig{Store: p.store, Proposer: p})
	if err := m.Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	pods := ownedActive(t, p, "web")
	if len(pods) != 2 {
		t.Fatalf("%d pods, want 2", len(pods))
	}
	for _, pod := range pods {
		v := pod.Spec.Volumes[len(pod.Spec.Volumes)-1]
		if pod.Spec.ServiceAccountName != "default" || !strings.HasPrefix(v.Name, "kube-api-access-") || v.Projected == nil ||
			pod.Spec.Containers[0].VolumeMounts[0].MountPath != v1.DefaultAPITokenMountPath {
			t.Errorf("pod %s: account %q volumes %+v", pod.Name, pod.Spec.ServiceAccountName, pod.Spec.Volumes)
		}
	}
	if n := len(ownedActive(t, p, "ghost")); n != 0 || m.RefusedCreates() == 0 {
		t.Fatalf("ghost: %d pods, %d refused creates", n, m.RefusedCreates())
	}
	rec, _ := p.store().Get("replicationcontrollers", "default", "ghost")
	rc := rec.Object().(*v1.ReplicationController)
	if len(rc.Status.Conditions) == 0 || !strings.Contains(rc.Status.Conditions[0].Message, `serviceaccount "nobody" not found`) {
		t.Errorf("ghost conditions %+v", rc.Status.Conditions)
	}
}

// The replication manager's pods get their account's imagePullSecrets
// when the template names none, and keep the template's own otherwise.
func TestReplicationPodsImagePullSecrets(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, &v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Name: "builder", Namespace: "default", UID: "sa-builder"},
		ImagePullSecrets: []v1.LocalObjectRef{{Name: "regcred"}}})
	inherit := loopRC("inherit", 1)
	inherit.Spec.Template.Spec.ServiceAccountName = "builder"
	p.create(t, inherit)
	own := loopRC("own", 1)
	own.Spec.Template.Spec.ServiceAccountName = "builder"
	own.Spec.Template.Spec.ImagePullSecrets = []v1.LocalObjectRef{{Name: "mine"}}
	p.create(t, own)
	m := NewReplicationManager(ReplicationConfig{Store: p.store, Proposer: p})
	if err := m.Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	for rc, want := range map[string]string{"inherit": "regcred", "own": "mine"} {
		pods := ownedActive(t, p, rc)
		if len(pods) != 1 {
			t.Fatalf("%s: %d pods, want 1", rc, len(pods))
		}
		if s := pods[0].Spec.ImagePullSecrets; len(s) != 1 || s[0].Name != want {
			t.Errorf("%s: pod imagePullSecrets %+v, want [%s]", rc, s, want)
		}
	}
}
