package podsecurity

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	v1 "orch.io/orch/api/v1"
)

// decisionPods are pods of every kind of outcome: silent at every level,
// violating one control or another, through the spec or the annotations,
// with annotations.
func decisionPods() []*v1.Pod {
	return []*v1.Pod{
		restrictedPod("p"),
		plainPod("p"),
		hostNetPod("p"),
		podWith(func(p *v1.Pod) { container(p).Privileged = ptr(true) }),
		podWith(func(p *v1.Pod) { container(p).Capabilities.Add = []v1.Capability{"NET_ADMIN"} }),
		podWith(func(p *v1.Pod) { container(p).RunAsUser = ptr(int64(0)) }),
		podWith(func(p *v1.Pod) { container(p).AllowPrivilegeEscalation = nil }),
		podWith(func(p *v1.Pod) { p.Spec.SecurityContext.RunAsNonRoot = nil }),
		podWith(func(p *v1.Pod) {
			p.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}
		}),
		podWith(func(p *v1.Pod) {
			p.Annotations = map[string]string{"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}
		}),
		podWith(func(p *v1.Pod) { p.Annotations = map[string]string{"note": "x"} }),
		podWith(func(p *v1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Host: "127.0.0.1", Port: v1.IntOrString{IntVal: 1}}}}
		}),
	}
}

// decisionNamespaces are namespaces at every level and version in each
// mode, with bad labels, and one exempt by the configuration.
func decisionNamespaces() []*v1.Namespace {
	var out []*v1.Namespace
	for _, level := range []string{"", LevelPrivileged, LevelBaseline, LevelRestricted} {
		for _, version := range []string{"", "latest", "v1.22", "v1.25", "v1.30"} {
			for _, mode := range []string{enforce, warn, audit} {
				labels := []string{}
				if level != "" {
					labels = append(labels, mode, level)
				}
				if version != "" {
					labels = append(labels, mode+"-version", version)
				}
				out = append(out, namespace(fmt.Sprintf("ns-%d", len(out)), labels...))
			}
		}
	}
	out = append(out,
		namespace(fmt.Sprintf("ns-%d", len(out)), enforce, "restricted", warn, "baseline", audit, "privileged"),
		namespace(fmt.Sprintf("ns-%d", len(out)+1), enforce, "no-such-level"),
		namespace(fmt.Sprintf("ns-%d", len(out)+2), enforce, "baseline", "pod-security.kubernetes.io/enforce-version", "v1.0x"),
		namespace("exempt", enforce, "restricted"))
	return out
}

// admitted is what one admission answered: its error's message, its
// warnings.
func admitted(warnings []string, err error) string {
	msg := "allowed"
	if err != nil {
		msg = fmt.Sprintf("refused (%d): %v", v1.CodeOf(err), err)
	}
	return msg + " " + strings.Join(warnings, " | ")
}

// TestDecisionsDecideAsTheLibrary admits every pod in every namespace
// twice (the second time from the remembered decisions where there are
// some) under several configurations, and compares each answer, the
// audit log and the metrics with an admission that remembers nothing.
// A namespace whose labels change between the rounds is decided by its
// new labels.
func TestDecisionsDecideAsTheLibrary(t *testing.T) {
	for _, cfg := range []Config{{}, {Enforce: "restricted:v1.30", Warn: "baseline:v1.25"}, {Enforce: "privileged", Audit: "restricted", ExemptNamespaces: []string{"exempt"}}} {
		t.Run(cfg.Enforce, func(t *testing.T) {
			nss := decisionNamespaces()
			store := newFakeStore(nss...)
			var cachedLog, plainLog bytes.Buffer
			noTime := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}
			cachedReg, plainReg := prometheus.NewRegistry(), prometheus.NewRegistry()
			cached, err := New(cfg, store, slog.New(slog.NewJSONHandler(&cachedLog, noTime)), cachedReg)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := New(cfg, store, slog.New(slog.NewJSONHandler(&plainLog, noTime)), plainReg)
			if err != nil {
				t.Fatal(err)
			}
			plain.decisions = nil
			hits := 0
			for round := 0; round < 3; round++ {
				if round == 2 {
					// Relabelled: a silent namespace turns restricted.
					for _, ns := range nss {
						relabelled := *ns
						relabelled.Labels = map[string]string{enforce: LevelRestricted, warn: LevelRestricted}
						store.mu.Lock()
						store.nss[ns.Name] = &relabelled
						store.mu.Unlock()
					}
				}
				for _, ns := range nss {
					for i, p := range decisionPods() {
						p.Namespace = ns.Name
						// Twice in a row: the second is remembered if the
						// first was silent, however many came between
						// rounds.
						for rep := 0; rep < 2; rep++ {
							p.Name = fmt.Sprintf("p-%d-%d-%d", round, i, rep)
							req := Request{Operation: Create, Resource: "pods", Namespace: ns.Name, Name: p.Name, Object: p}
							before := cached.decisions.cache.Len()
							_, remembered := cached.decisions.get(mustKey(t, store, p))
							got := admitted(cached.Admit(context.Background(), req))
							want := admitted(plain.Admit(context.Background(), req))
							if got != want {
								t.Fatalf("round %d, namespace %v, pod %d: remembering decisions %s, not %s", round, ns.Labels, i, got, want)
							}
							if remembered {
								hits++
							} else if cached.decisions.cache.Len() > before && got != "allowed " {
								t.Fatalf("remembered %s", got)
							}
						}
					}
				}
			}
			if hits == 0 {
				t.Fatal("no decision was remembered")
			}
			if cachedLog.String() != plainLog.String() {
				t.Errorf("audit logs differ:\n%s\nnot\n%s", cachedLog.String(), plainLog.String())
			}
			names := []string{"pod_security_evaluations_total", "pod_security_exemptions_total", "pod_security_errors_total"}
			if err := testutil.GatherAndCompare(cachedReg, expositionOf(t, plainReg), names...); err != nil {
				t.Errorf("metrics differ: %v", err)
			}
		})
	}
}

// mustKey is the decision key of the create of p in its namespace as the
// store holds it.
func mustKey(t *testing.T, store *fakeStore, p *v1.Pod) []byte {
	t.Helper()
	ns, err := store.Namespace(context.Background(), p.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := specJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := decisionKey(ns, p, spec)
	return []byte(key)
}

// expositionOf is reg's metrics in the text exposition format.
func expositionOf(t *testing.T, reg *prometheus.Registry) *strings.Reader {
	t.Helper()
	var b strings.Builder
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return strings.NewReader(b.String())
}
