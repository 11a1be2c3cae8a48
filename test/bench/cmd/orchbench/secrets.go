package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/bench"
	"orch.io/orch/test/harness"
)

// secretPayload is the data of every object the secrets section writes:
// four values of 256 bytes (~1 KiB, as the throughput section's pods).
func secretPayload() map[string][]byte {
	data := map[string][]byte{}
	for i := range 4 {
		data[fmt.Sprintf("key-%d", i)] = bytes.Repeat([]byte{byte('a' + i)}, 256)
	}
	return data
}

// secretsSection measures what encryption at rest costs the write path
// (issue 16: "write rate of Secrets against ConfigMaps of the same size,
// within 10%"): it creates ConfigMaps whose binaryData and Secrets whose
// data are the same bytes (so the request bodies are the same size, base64
// in JSON either way), one pair of runs on each fresh cluster (a cluster
// holding the earlier runs' objects writes slower, with bigger snapshots,
// which would weigh on whichever kind runs later), in the order AB BA AB
// ..., so a drift of the machine's speed weighs on both, and prints
// each run, the medians, the ratio of the medians and the median of the
// pairwise ratios secrets/configmaps. It fails when a master does not
// encrypt with AES-GCM, a write fails, or a Secret does not read back.
func secretsSection(ctx context.Context, t *runT, bins harness.Binaries, o options, rep *results) error {
	cpuBefore, err := takeTree()
	if err != nil {
		return err
	}
	var menv []string
	if o.masterEnv != "" {
		menv = strings.Split(o.masterEnv, ",")
	}
	payload := secretPayload()
	kinds := []secretKind{
		{"configmaps", func(name string) v1.Object {
			return &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default"}, BinaryData: payload}
		}},
		{"secrets", func(name string) v1.Object {
			return &v1.Secret{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default"}, Data: payload}
		}},
	}
	fmt.Printf("orchbench secrets: %d clients, warm-up %v, window %v, %d runs each of ConfigMap and Secret creates (4 values of 256 bytes)\n",
		o.clients, o.warmup, o.duration, o.runs)
	results := map[string][]bench.Result{}
	var ratios []float64
	for r := 0; r < o.runs; r++ {
		c, err := secretsCluster(t, bins, menv)
		if err != nil {
			return err
		}
		err = secretsPair(ctx, c, o, r, kinds, payload, results, &ratios)
		for i := range c.Masters {
			c.Kill(i)
		}
		if err != nil {
			return err
		}
	}
	cms, secrets := bench.Summarize(results["configmaps"]), bench.Summarize(results["secrets"])
	fmt.Println()
	fmt.Println("== secrets (medians) ==")
	fmt.Printf("ConfigMap creates (binaryData, stored in clear): %s\n", cms)
	fmt.Printf("Secret creates (data, AES-GCM before proposing): %s\n", secrets)
	fmt.Printf("ratio secrets/configmaps: rate %.3fx (goal >= 0.90x), median of the %d pairwise ratios %.3fx\n",
		secrets.Rate/cms.Rate, len(ratios), bench.Median(ratios))
	cpuAfter, err := takeTree()
	if err != nil {
		return err
	}
	rep.goal("Secret / ConfigMap write rate", fmt.Sprintf("%.3fx", secrets.Rate/cms.Rate), ">= 0.90x",
		secrets.Rate/cms.Rate >= 0.9, cpuAfter.use(cpuBefore).Noisy())
	return nil
}

// kindCreates runs the closed-loop creates of objects made by obj (named
// prefix-w<worker>-<seq>), each worker talking to master worker%3; a
// failed create fails the run. With profilePrefix set, every master's CPU
// is profiled over the window into -profile's <profilePrefix><master>.cpu.pprof.
func kindCreates(ctx context.Context, c *harness.Cluster, o options, prefix, profilePrefix string, obj func(name string) v1.Object) (bench.Result, error) {
	clients := make([]*client.Client, len(c.Masters))
	for i := range c.Masters {
		cfg := c.Config(i)
		cfg.MaxIdleConnsPerHost = o.clients
		cl, err := client.New(cfg)
		if err != nil {
			return bench.Result{}, err
		}
		defer cl.CloseIdleConnections()
		clients[i] = cl
	}
	pick := func(worker int) *client.Client { return clients[worker%len(clients)] }
	if o.target == "leader" {
		leader := clients[c.WaitLeader(10*time.Second)]
		pick = func(int) *client.Client { return leader }
	}
	op := func(ctx context.Context, worker, seq int) error {
		return pick(worker).Create(ctx, obj(fmt.Sprintf("%s-w%d-%d", prefix, worker, seq)))
	}
	var wg sync.WaitGroup
	profErrs := make([]error, len(c.Masters))
	if profilePrefix != "" {
		for i, m := range c.Masters {
			wg.Go(func() {
				if err := profile(ctx, clients[i], o.warmup, o.duration, filepath.Join(o.profileDir, profilePrefix+m.Name+".cpu.pprof")); err != nil {
					profErrs[i] = fmt.Errorf("profile %s: %w", m.Name, err)
				}
			})
		}
	}
	res := bench.Run(ctx, o.clients, o.duration, o.warmup, op)
	wg.Wait()
	return res, errors.Join(append(profErrs, opErrors("creates", res), ctx.Err())...)
}

// secretKind is one kind the secrets section creates.
type secretKind struct {
	name string
	obj  func(name string) v1.Object
}

// secretsCluster starts a cluster for one pair of runs and checks that
// every master encrypts Secrets with AES-GCM.
func secretsCluster(t *runT, bins harness.Binaries, menv []string) (*harness.Cluster, error) {
	c := harness.StartCluster(t, bins, harness.Options{MasterEnv: menv})
	if t.failed {
		return nil, errors.New(t.msg)
	}
	for i := range c.Masters {
		var raw []byte
		if err := c.Client(i).Do(context.Background(), "GET", "/metrics", nil, nil, &raw); err != nil {
			return nil, fmt.Errorf("secrets section: metrics of master %d: %w", i, err)
		}
		if !strings.Contains(string(raw), `orch_secrets_encryption_primary_key_info{key="key1",provider="aesgcm"} 1`) {
			return nil, fmt.Errorf("secrets section: master %d does not encrypt Secrets with aesgcm key1", i)
		}
	}
	return c, nil
}

// secretsPair runs pair r: both kinds, ConfigMaps first in even pairs,
// then reads a Secret back whole.
func secretsPair(ctx context.Context, c *harness.Cluster, o options, r int, kinds []secretKind, payload map[string][]byte,
	results map[string][]bench.Result, ratios *[]float64) error {
	order := []int{0, 1}
	if r%2 == 1 {
		order = []int{1, 0}
	}
	pair := map[string]float64{}
	for _, k := range order {
		kind := kinds[k]
		profilePrefix := ""
		if o.profileDir != "" && r == o.profileRun-1 {
			profilePrefix = kind.name + "-"
		}
		res, err := kindCreates(ctx, c, o, fmt.Sprintf("r%d", r), profilePrefix, kind.obj)
		if err != nil {
			return fmt.Errorf("secrets section, run %d of %s: %w", r+1, kind.name, err)
		}
		fmt.Printf("run %d/%d  creates of %-10s %v\n", r+1, o.runs, kind.name, res)
		results[kind.name] = append(results[kind.name], res)
		pair[kind.name] = res.Rate
	}
	*ratios = append(*ratios, pair["secrets"]/pair["configmaps"])
	// Every Secret of the run reads back whole (the first worker's first).
	var got v1.Secret
	if err := c.Client().Get(ctx, "secrets", "default", fmt.Sprintf("r%d-w0-0", r), &got); err != nil {
		return fmt.Errorf("secrets section, run %d: read back: %w", r+1, err)
	}
	for key, want := range payload {
		if !bytes.Equal(got.Data[key], want) {
			return fmt.Errorf("secrets section, run %d: secret data[%s] read back as %q", r+1, key, got.Data[key])
		}
	}
	return nil
}
