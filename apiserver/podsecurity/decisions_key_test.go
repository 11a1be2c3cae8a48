package podsecurity

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"k8s.io/pod-security-admission/api"

	v1 "orch.io/orch/api/v1"
)

// marshalSpec is specJSON as it was: json.Marshal of the spec.
func marshalSpec(p *v1.Pod) ([]byte, error) { return json.Marshal(&p.Spec) }

// oldDecisionKey is decisionKey as it was before it was written into a
// reused buffer: appendDecisionKey must write the same bytes.
func oldDecisionKey(ns *v1.Namespace, p *v1.Pod, spec []byte) (string, bool) {
	n := len(ns.Name) + len(spec) + 8
	for k, v := range ns.Labels {
		n += len(k) + len(v) + 8
	}
	for k, v := range p.Annotations {
		n += len(k) + len(v) + 8
	}
	if n > maxDecisionKeyBytes {
		return "", false
	}
	b := make([]byte, 0, n+32)
	str := func(s string) {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	sorted := func(m map[string]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = strconv.AppendInt(b, int64(len(keys)), 10)
		b = append(b, '{')
		for _, k := range keys {
			str(k)
			str(m[k])
		}
	}
	str(ns.Name)
	sorted(ns.Labels)
	sorted(p.Annotations)
	b = append(b, spec...)
	return string(b), true
}

// randomText is a short string of ASCII, digits, colons, braces, quotes,
// escapes and non-ASCII (the key's separators among them).
func randomText(r *rand.Rand, max int) string {
	const alphabet = "ab:{}0123456789\"\\\u00e9\u2028<>&\x00 "
	runes := []rune(alphabet)
	n := r.IntN(max + 1)
	out := make([]rune, n)
	for i := range out {
		out[i] = runes[r.IntN(len(runes))]
	}
	return string(out)
}

func randomMap(r *rand.Rand, n int) map[string]string {
	if n == 0 && r.IntN(2) == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for len(m) < n {
		m[randomText(r, 12)+strconv.Itoa(len(m))] = randomText(r, 20)
	}
	return m
}

// randomSpecPod is one of decisionPods with random names, images,
// commands, env and security settings.
func randomSpecPod(r *rand.Rand) *v1.Pod {
	pods := decisionPods()
	p := pods[r.IntN(len(pods))]
	p.Annotations = randomMap(r, r.IntN(12))
	c := &p.Spec.Containers[0]
	c.Name, c.Image = randomText(r, 10), randomText(r, 30)
	for range r.IntN(4) {
		c.Command = append(c.Command, randomText(r, 16))
	}
	for range r.IntN(3) {
		c.Env = append(c.Env, v1.EnvVar{Name: randomText(r, 8), Value: randomText(r, 40)})
	}
	if r.IntN(3) == 0 {
		p.Spec.NodeSelector = randomMap(r, r.IntN(3))
	}
	if r.IntN(4) == 0 {
		p.Spec.HostPID = true
	}
	if r.IntN(5) == 0 {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: randomText(r, 5), Image: randomText(r, 5)})
	}
	return p
}

// TestSpecJSONMatchesMarshal holds the spec's JSON, which keys both caches
// and is what a pod's spec is converted from, to json.Marshal's bytes on
// the pods of every outcome and on random ones.
func TestSpecJSONMatchesMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 3))
	pods := decisionPods()
	for range 2000 {
		pods = append(pods, randomSpecPod(r))
	}
	buf := []byte("left in front")
	for i, p := range pods {
		want, werr := marshalSpec(p)
		got, gerr := specJSON(p)
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("pod %d: spec JSON %s (%v), json.Marshal %s (%v)", i, got, gerr, want, werr)
		}
		got, gerr = appendSpecJSON(buf[:5], p)
		if gerr != nil || string(got[:5]) != "left " || !bytes.Equal(got[5:], want) {
			t.Fatalf("pod %d: appended %s (%v), want %q + %s", i, got, gerr, "left ", want)
		}
	}
}

// FuzzSpecJSON decodes a spec from the fuzzer's bytes (leniently, as
// json.Unmarshal reads them) and compares its JSON with json.Marshal's.
func FuzzSpecJSON(f *testing.F) {
	for _, p := range decisionPods() {
		b, err := json.Marshal(&p.Spec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"containers":[{"name":"\u2028<&>","image":"\ud800","command":["\x7f"]}],"hostNetwork":true}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		p := &v1.Pod{}
		if json.Unmarshal(in, &p.Spec) != nil {
			return
		}
		want, werr := marshalSpec(p)
		got, gerr := specJSON(p)
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("spec JSON %s (%v), json.Marshal %s (%v)", got, gerr, want, werr)
		}
	})
}

// TestAppendDecisionKeyMatchesOld compares the key written into a reused
// buffer with the key as it was built, on namespaces and pods with no,
// few and many labels and annotations (more than the sort's stack array),
// separators in their strings, and keys too large to keep.
func TestAppendDecisionKeyMatchesOld(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 8))
	var buf []byte
	kept, refused := 0, 0
	for i := range 3000 {
		ns := &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: randomText(r, 10), Labels: randomMap(r, r.IntN(20))}}
		p := randomSpecPod(r)
		p.Annotations = randomMap(r, r.IntN(20))
		if i%50 == 0 {
			p.Annotations = map[string]string{"big": string(bytes.Repeat([]byte("x"), r.IntN(2*maxDecisionKeyBytes)))}
		}
		spec, err := specJSON(p)
		if err != nil {
			t.Fatal(err)
		}
		want, wok := oldDecisionKey(ns, p, spec)
		buf = append(buf[:0], "stale"...)
		got, gok := appendDecisionKey(buf[:0], ns, p, spec)
		if gok != wok || (wok && string(got) != want) {
			t.Fatalf("case %d: key %q (%v), was %q (%v)", i, got, gok, want, wok)
		}
		if s, ok := decisionKey(ns, p, spec); ok != wok || s != want {
			t.Fatalf("case %d: decisionKey %q (%v), was %q (%v)", i, s, ok, want, wok)
		}
		if wok {
			kept++
		} else {
			refused++
		}
		buf = got
	}
	if kept == 0 || refused == 0 {
		t.Fatalf("kept %d keys, refused %d: both cases must be tested", kept, refused)
	}
}

// TestDecisionsCompareTheWholeKey stores a decision under the hash of one
// key but holding another (as two keys of one hash would meet): it is not
// served for the key hashed, and the key stored is served.
func TestDecisionsCompareTheWholeKey(t *testing.T) {
	a, err := New(Config{}, newFakeStore(namespace("ns")), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := a.decisions
	lv := api.LevelVersion{Level: api.LevelBaseline, Version: api.LatestVersion()}
	counter := a.silentCounter(lv)
	d.add([]byte("key-a"), lv, counter)
	if got, ok := d.get([]byte("key-a")); !ok || got.key != "key-a" || got.enforce != lv {
		t.Fatalf("get key-a: %+v %v", got, ok)
	}
	if _, ok := d.get([]byte("key-b")); ok {
		t.Fatal("key-b served without being added")
	}
	// key-b's decision stored where key-a's hash points.
	d.cache.Add(d.hash([]byte("key-a")), &decision{key: "key-b", enforce: lv, counter: counter})
	if got, ok := d.get([]byte("key-a")); ok {
		t.Fatalf("key-a served the decision of %q", got.key)
	}
}

// TestSilentAdmissionsShareBuffersSafely admits pods of several specs at
// once with remembered decisions (run with -race): each answer is the
// one the pod gets alone.
func TestSilentAdmissionsShareBuffersSafely(t *testing.T) {
	a, err := New(Config{}, newFakeStore(namespace("ns")), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pods := decisionPods()
	want := make([]string, len(pods))
	for i, p := range pods {
		p.Namespace = "ns"
		want[i] = admitted(a.Admit(context.Background(), Request{Operation: Create, Resource: "pods", Namespace: "ns", Name: p.Name, Object: p}))
	}
	done := make(chan error, 4)
	for g := range 4 {
		go func() {
			for rep := range 50 {
				i := (g + rep) % len(pods)
				p := pods[i]
				got := admitted(a.Admit(context.Background(), Request{Operation: Create, Resource: "pods", Namespace: "ns", Name: p.Name, Object: p}))
				if got != want[i] {
					done <- fmt.Errorf("pod %d: %s, alone %s", i, got, want[i])
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
