package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/auth/rbac"
	"orch.io/orch/pki"
	"orch.io/orch/test/bench"
	"orch.io/orch/test/harness"
)

// benchWriter is the user whose writes the writers section times: a
// certificate user bound to the ClusterRole edit in the default
// namespace, so the RBAC authorizer decides every one of its writes. It is
// in the group system:monitoring too, for the section's reads of
// /metrics (leadership changes).
const benchWriter = "orchbench-writer"

// writersSection measures what authorization costs the write rate (issue
// 13's "the rate must not drop by more than 5%"): on one cluster it runs
// the throughput section's creates alternately as the admin (system:masters,
// allowed by the first authorizer) and as a user bound to edit (the Node
// authorizer has no opinion, RBAC decides), in the order ABBA ABBA ... so
// a drift of the machine's speed weighs on both, and prints each run, the
// medians and the ratio edit/admin.
func writersSection(ctx context.Context, t *runT, bins harness.Binaries, o options) error {
	var menv []string
	if o.masterEnv != "" {
		menv = strings.Split(o.masterEnv, ",")
	}
	c := harness.StartCluster(t, bins, harness.Options{MasterEnv: menv, MasterArgs: strings.Fields(o.masterArgs)})
	if t.failed {
		return errors.New(t.msg)
	}
	defer func() {
		for i := range c.Masters {
			c.Kill(i)
		}
	}()
	editor, err := editWriter(ctx, c)
	if err != nil {
		return fmt.Errorf("writers section: %w", err)
	}
	o.profileDir = "" // a profile needs the admin's credential
	fmt.Printf("orchbench writers: %d clients, warm-up %v, window %v, %d runs each as admin and as %s (edit in default)\n",
		o.clients, o.warmup, o.duration, o.runs, benchWriter)
	writers := []struct {
		name  string
		cfgOf func(int) *client.Config
	}{{"admin", func(i int) *client.Config { return c.Config(i) }}, {"edit", editor}}
	results := map[string][]bench.Result{}
	var ratios []float64
	seq := 0
	for r := 0; r < o.runs; r++ {
		order := []int{0, 1}
		if r%2 == 1 {
			order = []int{1, 0}
		}
		pair := map[string]float64{}
		for _, k := range order {
			w := writers[k]
			res, err := orchCreates(ctx, c, o, seq, w.cfgOf)
			seq++
			if err != nil {
				return fmt.Errorf("writers section, run %d as %s: %w", r+1, w.name, err)
			}
			fmt.Printf("run %d/%d  creates as %-5s %v\n", r+1, o.runs, w.name, res)
			results[w.name] = append(results[w.name], res)
			pair[w.name] = res.Rate
		}
		ratios = append(ratios, pair["edit"]/pair["admin"])
	}
	admin, edit := bench.Summarize(results["admin"]), bench.Summarize(results["edit"])
	fmt.Println()
	fmt.Println("== writers (medians) ==")
	fmt.Printf("creates as admin (system:masters): %s\n", admin)
	fmt.Printf("creates as a user bound to edit (RBAC decides): %s\n", edit)
	fmt.Printf("ratio edit/admin: rate %.3fx (goal >= 0.95x), median of the %d pairwise ratios %.3fx\n",
		edit.Rate/admin.Rate, len(ratios), bench.Median(ratios))
	return nil
}

// editWriter makes benchWriter a client certificate of the cluster CA,
// binds it to edit in the default namespace, waits until every master
// lets it list pods there, and returns its per-master client configs.
func editWriter(ctx context.Context, c *harness.Cluster) (func(int) *client.Config, error) {
	ca, err := pki.LoadClusterCA(c.PKIDir)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.NewClientKeyPair(pki.ClientCertificate{CommonName: benchWriter,
		Organizations: []string{rbac.MonitoringGroup}, Validity: 24 * time.Hour}, time.Now())
	if err != nil {
		return nil, err
	}
	cfgOf := func(i int) *client.Config {
		cfg := c.Config(i)
		cfg.Token, cfg.ClientCertificateData, cfg.ClientKeyData = "", certPEM, keyPEM
		return cfg
	}
	admin := c.Client()
	rb := &v1.RoleBinding{ObjectMeta: v1.ObjectMeta{Namespace: "default", Name: benchWriter + "-edit"},
		RoleRef:  v1.RoleRef{APIGroup: v1.RBACGroup, Kind: "ClusterRole", Name: rbac.Edit},
		Subjects: []v1.Subject{{Kind: "User", APIGroup: v1.RBACGroup, Name: benchWriter}}}
	if err := admin.Create(ctx, rb); err != nil {
		return nil, fmt.Errorf("bind %s to edit: %w", benchWriter, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := range c.Masters {
		cl, err := client.New(cfgOf(i))
		if err != nil {
			return nil, err
		}
		for {
			_, err := cl.List(ctx, "pods", "default", client.ListOptions{Limit: 1})
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				cl.CloseIdleConnections()
				return nil, fmt.Errorf("%s cannot list pods through master %d: %w", benchWriter, i, err)
			}
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				cl.CloseIdleConnections()
				return nil, err
			}
		}
		cl.CloseIdleConnections()
	}
	return cfgOf, nil
}
