package rbac

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	rbacvalidation "k8s.io/component-helpers/auth/rbac/validation"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// fsmProposer applies commands to a test FSM as raft would commit them.
type fsmProposer struct{ p *testPolicy }

func (fp fsmProposer) Apply(_ context.Context, cmd []byte) (any, error) {
	fp.p.index++
	res := fsm.ApplyCommand(fp.p.t, fp.p.f, fp.p.index, cmd)
	if r, ok := res.(fsm.Result); ok && r.Err != nil {
		return nil, r.Err
	}
	return res, nil
}

func TestDefaultsReconcile(t *testing.T) {
	p := &testPolicy{t: t, f: fsm.NewTestFSM(t)}
	d := &Defaults{Store: p.f.Store, Proposer: fsmProposer{p}}
	if err := d.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := p.f.Store()
	if n, want := st.Count("clusterroles"), len(DefaultClusterRoles()); n != want {
		t.Fatalf("%d cluster roles, want %d", n, want)
	}
	if n, want := st.Count("clusterrolebindings"), len(DefaultClusterRoleBindings()); n != want {
		t.Fatalf("%d cluster role bindings, want %d", n, want)
	}
	// A second pass changes nothing.
	before := st.Index()
	if err := d.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.Index() != before {
		t.Fatalf("a second pass wrote: index %d -> %d", before, st.Index())
	}
	// A deleted role comes back; a role missing a rule gets it back; one
	// with autoupdate=false is left alone.
	p.delete("clusterroles", "", Edit)
	update := func(name string, change func(*v1.ClusterRole)) {
		rec, err := st.Get("clusterroles", "", name)
		if err != nil {
			t.Fatal(err)
		}
		cr := v1.DeepCopy(rec.Object().(*v1.ClusterRole))
		change(cr)
		cmd, err := fsm.NewUpdate(cr, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (fsmProposer{p}).Apply(context.Background(), cmd); err != nil {
			t.Fatal(err)
		}
	}
	update(Admin, func(cr *v1.ClusterRole) { cr.Rules = cr.Rules[:1] })
	update(View, func(cr *v1.ClusterRole) {
		cr.Rules = []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}
		cr.Annotations[AutoUpdateAnnotation] = "false"
	})
	if err := d.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	rules := func(name string) []rbacv1.PolicyRule {
		rec, err := st.Get("clusterroles", "", name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return rec.Object().(*v1.ClusterRole).Rules
	}
	if !v1.JSONEqual(rules(Edit), editRules) {
		t.Errorf("edit not recreated: %v", rules(Edit))
	}
	if ok, _ := coversAll(rules(Admin), adminRules); !ok {
		t.Errorf("admin not repaired: %v", rules(Admin))
	}
	if len(rules(View)) != 1 {
		t.Errorf("view with autoupdate=false was changed: %v", rules(View))
	}
}

func coversAll(owner, want []rbacv1.PolicyRule) (bool, []rbacv1.PolicyRule) {
	return rbacvalidation.Covers(owner, want)
}
