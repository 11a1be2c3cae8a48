package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	v1 "orch.io/orch/api/v1"
)

// The fast snapshot writer and reader against the old ones
// (snapshot_oracle_test.go): the same bytes and errors from the same store,
// the same store and errors from the same bytes.

// oddStrings are keys, uids and node names a store may hold: HTML
// characters, line separators, other Unicode, invalid UTF-8, quotes,
// backslashes, control characters and spaces.
var oddStrings = []string{
	"a", "default/web", "<b>&amp;</b>", "x\u2028y\u2029", "é€😀", "bad\xff\xfe", "\xe2\x80", `q"\`, "tab\there",
	" spaced out ", "\x00\x1f\x7f", "K\u212a", "n\u00e9ud-1", strings.Repeat("k", 300), "\xe2\x80\xa8", "/",
}

// formVariants returns raw (valid JSON) written in other valid forms: with
// whitespace between tokens, HTML characters, U+2028 and U+2029 unescaped,
// spaces inside strings; and raw with things appended that leave it valid or
// not.
func formVariants(raw []byte) [][]byte {
	s := string(raw)
	var indented bytes.Buffer
	_ = json.Indent(&indented, raw, "", "\t")
	out := [][]byte{
		raw,
		indented.Bytes(),
		[]byte(" " + s),
		[]byte(s + "\n"),
		[]byte(strings.ReplaceAll(s, `":`, `": `)),
		[]byte(strings.ReplaceAll(s, `,"`, "\r\n,\"")),
		[]byte(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(s, `\u003c`, `<`), `\u003e`, `>`), `\u0026`, `&`)),
		[]byte(strings.ReplaceAll(strings.ReplaceAll(s, `\u2028`, "\u2028"), `\u2029`, "\u2029")),
		[]byte(strings.ReplaceAll(s, `":"`, `":" spaced \" \\ `)),
		[]byte(strings.ReplaceAll(s, `":"`, `":"\\\\",   "x":"`)),
		[]byte(s[:len(s)-1] + `,"e":"€ \u2027 ` + "\xe2\x80\xa7\xe2\x80" + `"}`),
		[]byte(s[:len(s)-1] + `,"sep":"` + "\u2028" + `"}`),
		[]byte(s[:len(s)-1] + `,"sep":"` + "\u2029" + `","a":1}`),
	}
	return append(out, alterations(raw)...)
}

// adversarialRaws are stored bytes of every form, valid JSON or not.
var adversarialRaws = []string{
	`{}`, `null`, `[]`, `"str"`, `123`, `true`, ``, ` `, `{`, `{"a":1} x`, `{"a":1}{}`, `{"a":"\u00zz"}`,
	`{"a":"x y"}`, `{"a":"\" y"}`, `{"a":"\\" , "b":1}`, `{"a":"\\\\"}`, `{"a":"\\\" "}`, "{\"a\":\"\xe2\x80\xa8\"}",
	"{\"a\":\"\xe2\x80\xa9\"}", "{\"a\":\"\xe2\x80\xaa\"}", "{\"a\":\"\xe2\x80\"}", "{\"a\":\"\xe2\"}", "{\"a\":\"\xff\"}",
	"{\"a\":\"<>&\"}", "{\"a\":\"\x01\"}", "{\"a\":\"\t\"}", `{"a":[1, 2]}`, `{"a" :1}`, `{"a":1 }`, "{\"a\":1}\t",
	strings.Repeat("[", 65) + strings.Repeat("]", 65), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"a":1e400}`, `{"a":-0}`, `{"a":01}`, `{"a":"\ud800"}`,
}

// testRecord is a record of resource res to put in a test store.
type testRecord struct {
	res v1.Resource
	rec *Record
}

// recordsOf returns records of raw, an object of res, made every way a
// store makes them: keyed (as a create or a restore makes them) when raw is
// valid JSON, lazy with its index fields set and nothing known of raw, from
// an object with its bytes given, and lazy without index fields. n numbers
// the keys, which a table needs unique.
func recordsOf(res v1.Resource, raw []byte, n *int, rng *rand.Rand, keyless bool) []testRecord {
	odd := func() string {
		if rng.IntN(3) == 0 {
			return ""
		}
		return oddStrings[rng.IntN(len(oddStrings))]
	}
	key := func() string { *n++; return fmt.Sprintf("%s-%d", oddStrings[rng.IntN(len(oddStrings))], *n) }
	var out []testRecord
	if json.Valid(raw) {
		out = append(out, testRecord{res, newKeyedRecord(res, raw, key(), odd(), odd())})
	}
	lazy := NewLazyRecord(res, raw)
	lazy.key, lazy.uid, lazy.nodeName = key(), odd(), odd()
	out = append(out, testRecord{res, lazy})
	if obj := res.New(); json.Unmarshal(raw, obj) == nil {
		meta := obj.GetObjectMeta()
		meta.Name = key()
		out = append(out, testRecord{res, NewRecord(obj, raw)})
		if keyless {
			if named, err := json.Marshal(obj); err == nil {
				out = append(out, testRecord{res, NewLazyRecord(res, named)})
			}
		}
	}
	return out
}

// testStore returns a store holding recs and masters.
func testStore(t testing.TB, recs []testRecord, masters []MasterInfo) *Store {
	t.Helper()
	s, err := newStore(FeedLimits{Events: 16})
	if err != nil {
		t.Fatal(err)
	}
	txn := s.db.Txn(true)
	for _, r := range recs {
		if err := txn.Insert(r.res.Name, r.rec); err != nil {
			t.Fatalf("insert %s %q: %v", r.res.Name, r.rec.Key(), err)
		}
	}
	for i := range masters {
		if err := txn.Insert(tableMasters, &masters[i]); err != nil {
			t.Fatal(err)
		}
	}
	txn.Commit()
	s.publish(uint64(len(recs)) * 7919)
	return s
}

// snapshotBoth writes s's snapshot with WriteSnapshot (twice: once with
// what its records know of their bytes, once with what the first write
// found out) and with the old writer, and fails unless the three agree:
// the same bytes, or the same error.
func snapshotBoth(t *testing.T, s *Store) []byte {
	t.Helper()
	txn, index := s.read()
	var first, second, old bytes.Buffer
	for _, b := range []*bytes.Buffer{&first, &second, &old} {
		b.Grow(1 << 20)
	}
	errFirst := WriteSnapshot(txn, index, &first)
	errOld := oldWriteSnapshot(txn, index, &old)
	errSecond := WriteSnapshot(txn, index, &second)
	if (errOld == nil) != (errFirst == nil) || (errOld == nil) != (errSecond == nil) ||
		errOld != nil && (errOld.Error() != errFirst.Error() || errOld.Error() != errSecond.Error()) {
		t.Fatalf("errors: old %v, new %v, new again %v", errOld, errFirst, errSecond)
	}
	if errOld != nil {
		return nil
	}
	for _, got := range []*bytes.Buffer{&first, &second} {
		if !bytes.Equal(got.Bytes(), old.Bytes()) {
			t.Fatalf("snapshot differs from the old writer's:\n%s", firstDiff(got.Bytes(), old.Bytes()))
		}
	}
	return old.Bytes()
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.SplitAfter(string(got), "\n"), strings.SplitAfter(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got  %q\n want %q", i+1, gl, wl)
		}
	}
	return "no line differs"
}

// randomStoreRecords returns records of random objects of every kind, in
// every form formVariants gives that is valid JSON.
func randomStoreRecords(t testing.TB, seed int64, perKind int) []testRecord {
	rng := rand.New(rand.NewPCG(uint64(seed), 17))
	n := 0
	var recs []testRecord
	for _, objs := range randomValues(seed, perKind) {
		for _, obj := range objs {
			res, err := v1.ResourceOf(obj)
			if err != nil {
				t.Fatal(err)
			}
			rec := NewRecord(obj, nil)
			rec.key = fmt.Sprintf("obj-%d", n)
			n++
			recs = append(recs, testRecord{res, rec})
			raw, err := json.Marshal(obj)
			if err != nil {
				continue
			}
			for _, v := range formVariants(raw) {
				if json.Valid(v) {
					recs = append(recs, recordsOf(res, v, &n, rng, true)...)
				}
			}
		}
	}
	return recs
}

func TestWriteSnapshotMatchesOldWriter(t *testing.T) {
	masters := []MasterInfo{{ID: "m1", RaftAddr: "10.0.0.1:7000", APIAddr: "10.0.0.1:6443"}}
	for _, s := range oddStrings {
		masters = append(masters, MasterInfo{ID: s + "-id", RaftAddr: s, APIAddr: s})
	}
	t.Run("empty", func(t *testing.T) {
		snapshotBoth(t, testStore(t, nil, nil))
	})
	t.Run("masters only", func(t *testing.T) {
		snapshotBoth(t, testStore(t, nil, masters))
	})
	t.Run("populated", func(t *testing.T) {
		snapshotBoth(t, populated(t).f.Store())
	})
	for seed := range int64(scaled(3)) {
		t.Run(fmt.Sprintf("random/%d", seed), func(t *testing.T) {
			recs := randomStoreRecords(t, seed, 3)
			snapshotBoth(t, testStore(t, recs, masters))
			// The records were written both ways.
			forms := map[uint32]int{}
			for _, r := range recs {
				forms[r.rec.form.Load()]++
			}
			if len(recs) < 1000 || forms[rawCompact] < len(recs)/10 || forms[rawLoose] < len(recs)/10 {
				t.Errorf("%d records, by form %v", len(recs), forms)
			}
		})
	}
	// Bytes no encoder wrote: each in a store of its own, since a record
	// the old writer refuses ends the snapshot.
	rng := rand.New(rand.NewPCG(1, 2))
	pods, _ := v1.ResourceByName("pods")
	raws := slices.Clone(adversarialRaws)
	for _, v := range formVariants(mustJSON(t, podObj("default", "web", map[string]string{"a": "b"}))) {
		raws = append(raws, string(v))
	}
	for i, raw := range raws {
		t.Run(fmt.Sprintf("adversarial/%d", i), func(t *testing.T) {
			n := 0
			for _, r := range recordsOf(pods, []byte(raw), &n, rng, false) {
				snapshotBoth(t, testStore(t, []testRecord{r}, masters[:1]))
			}
		})
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCompactFormMatchesEncoder checks compactForm against what a
// json.Encoder writes for a json.RawMessage, on valid JSON of every form.
func TestCompactFormMatchesEncoder(t *testing.T) {
	var inputs [][]byte
	for _, s := range adversarialRaws {
		inputs = append(inputs, []byte(s))
	}
	for _, objs := range randomValues(5, 4) {
		for _, obj := range objs {
			if raw, err := json.Marshal(obj); err == nil {
				inputs = append(inputs, formVariants(raw)...)
			}
		}
	}
	compact := 0
	for _, b := range inputs {
		if checkCompactForm(t, b) {
			compact++
		}
	}
	if compact == 0 || compact == len(inputs) {
		t.Errorf("%d of %d inputs compact: the inputs do not test both answers", compact, len(inputs))
	}
}

// checkCompactForm fails unless compactForm(b) says whether a json.Encoder
// writes b as it is, for valid b, and reports whether it does.
func checkCompactForm(t *testing.T, b []byte) bool {
	t.Helper()
	if !json.Valid(b) {
		return false
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(json.RawMessage(b)); err != nil {
		t.Fatalf("encode %q: %v", b, err)
	}
	want := bytes.Equal(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), b)
	if got := compactForm(b) == rawCompact; got != want {
		t.Errorf("compactForm(%q) compact = %v, encoder writes %q", b, got, buf.Bytes())
	}
	return want
}

func FuzzCompactForm(f *testing.F) {
	for _, s := range adversarialRaws {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkCompactForm(t, b) })
}

// FuzzWriteSnapshot writes a snapshot of a store holding one object with
// the fuzzer's bytes and index fields, made every way recordsOf makes
// records, with WriteSnapshot and the old writer.
func FuzzWriteSnapshot(f *testing.F) {
	for i, s := range adversarialRaws {
		f.Add([]byte(s), oddStrings[i%len(oddStrings)], oddStrings[(i+3)%len(oddStrings)], oddStrings[(i+7)%len(oddStrings)])
	}
	pods, _ := v1.ResourceByName("pods")
	f.Fuzz(func(t *testing.T, raw []byte, key, uid, node string) {
		recs := []testRecord{{pods, NewLazyRecord(pods, raw)}}
		recs[0].rec.key, recs[0].rec.uid, recs[0].rec.nodeName = "k"+key, uid, node
		if json.Valid(raw) {
			recs = append(recs, testRecord{pods, newKeyedRecord(pods, raw, "v"+key, uid, node)})
		}
		for _, r := range recs {
			snapshotBoth(t, testStore(t, []testRecord{r}, nil))
		}
	})
}

// storeState describes everything a restore puts in a store: its index,
// every row of every table by every index (a record's index fields, what
// is known of its bytes, its bytes and the object they decode to) and the
// uid map.
func storeState(t testing.TB, s *Store) []string {
	t.Helper()
	txn, index := s.read()
	out := []string{fmt.Sprintf("index %d", index)}
	sch := schema()
	for _, table := range slices.Sorted(maps.Keys(sch.Tables)) {
		for _, idx := range slices.Sorted(maps.Keys(sch.Tables[table].Indexes)) {
			it, err := txn.Get(table, idx)
			if err != nil {
				out = append(out, fmt.Sprintf("%s %s: %v", table, idx, err))
				continue
			}
			for raw := it.Next(); raw != nil; raw = it.Next() {
				out = append(out, table+" "+idx+" "+describeRow(raw))
			}
		}
	}
	var uids []string
	for k, rec := range s.uids.m {
		uids = append(uids, fmt.Sprintf("uid %s %q: %s", k.table, k.key, describeRow(rec)))
	}
	slices.Sort(uids)
	return append(out, uids...)
}

// describeRow describes a row of a table.
func describeRow(raw any) string {
	rec, ok := raw.(*Record)
	if !ok {
		return fmt.Sprintf("%#v", raw)
	}
	b, err := rec.JSON()
	obj, _ := json.Marshal(rec.Object())
	return fmt.Sprintf("key %q uid %q node %q form %d json %q %v object %s decode error %v",
		rec.key, rec.uid, rec.nodeName, rec.form.Load(), b, err, obj, rec.DecodeError())
}

// restoreBoth restores data with restoreInto and with the old reader, and
// fails unless both give the same error, or stores in the same state.
func restoreBoth(t testing.TB, data []byte, wrap func(io.Reader) io.Reader) (ok bool) {
	t.Helper()
	oldStore, _ := newStore(FeedLimits{Events: 16})
	newStore, _ := newStore(FeedLimits{Events: 16})
	oldIndex, errOld := oldRestoreInto(oldStore, wrap(bytes.NewReader(data)))
	newIndex, errNew := restoreInto(newStore, wrap(bytes.NewReader(data)))
	if (errOld == nil) != (errNew == nil) || errOld != nil && errOld.Error() != errNew.Error() || oldIndex != newIndex {
		t.Fatalf("restore of %q:\n old %d, %v\n new %d, %v", clip(data), oldIndex, errOld, newIndex, errNew)
	}
	if errOld != nil {
		return false
	}
	if o, n := storeState(t, oldStore), storeState(t, newStore); !slices.Equal(o, n) {
		for i := range max(len(o), len(n)) {
			if i >= len(o) || i >= len(n) || o[i] != n[i] {
				t.Fatalf("restore of %q: stores differ at row %d of %d/%d:\n old %s\n new %s", clip(data), i, len(o), len(n), at(o, i), at(n, i))
			}
		}
	}
	return true
}

func at(rows []string, i int) string {
	if i < len(rows) {
		return rows[i]
	}
	return "(none)"
}

// clip shortens data for a message.
func clip(data []byte) []byte {
	if len(data) > 600 {
		return append(slices.Clip(data[:300]), append([]byte("..."), data[len(data)-300:]...)...)
	}
	return data
}

func noWrap(r io.Reader) io.Reader { return r }

// lineMutations returns snapshot (a valid one, as lines) changed in the
// ways a decoder reads otherwise than a line-by-line reader might:
// fields escaped, reordered, repeated, in another case or unknown; other
// values; other whitespace; other resource names; lines split, joined,
// truncated, added.
func lineMutations(lines []string, rng *rand.Rand) [][]byte {
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1] // what SplitAfter leaves after the last newline
	}
	var out [][]byte
	with := func(i int, line string) {
		l := slices.Clone(lines)
		l[i] = line
		out = append(out, []byte(strings.Join(l, "")))
	}
	h := lines[0]
	for _, r := range []struct{ old, new string }{
		{`{"version":1,"index":`, `{"index":0,"version":1,"index":`}, {`{`, ` {`}, {`{`, `{"Version":2,`},
		{`"index":`, `"index":0`}, {`"index":`, `"index":-`}, {`"index":`, `"index":1e`}, {`"index":`, `"index":"`},
		{`"index":`, `"index":18446744073709551615`}, {`"version":1`, `"version":2`}, {`"version":1`, `"version":1.0`},
		{`"version":1`, `"Version":1`}, {"}\n", "}"}, {"}\n", "}\r\n"}, {"}\n", ".5}\n"}, {"}\n", `,"x":[]}` + "\n"},
		{"}\n", "} \n\n"}, {"}\n", "}"}, {`"index":`, `"index": `},
	} {
		with(0, strings.Replace(h, r.old, r.new, 1))
	}
	with(0, `{"version":1,"index":18446744073709551616}`+"\n")
	with(0, `{"version":1,"index":00}`+"\n")
	with(0, "\n")
	out = append(out, []byte(strings.Join(lines[1:], "")))
	if len(lines) < 2 {
		return out
	}
	objectEdits := []struct{ old, new string }{
		{`{"r":"pods"`, `{"r":"pod"`}, {`{"r":"pods"`, `{"r":"Pod"`}, {`{"r":"pods"`, `{"r":"po"`}, {`{"r":`, `{"R":`},
		{`{"r":"`, `{"r":"widgets`}, {`{"r":"`, `{"r":"\u0070`}, {`{"r":`, `{"x":1,"r":`}, {`{"r":`, ` {"r":`},
		{`"k":"`, `"k":"\u0061`}, {`"k":"`, `"k":"` + "\xff"}, {`"k":"`, `"k":"` + "\x01"}, {`"k":"`, `"k":"\t`},
		{`"k":"`, `"K":"`}, {`"k":"`, `"k":"","k":"`}, {`"k":"`, `"k":"x","k":"`}, {`,"k":"`, `,"k":null,"k":"`},
		{`,"u":"`, `,"u":"é`}, {`,"u":"`, `,"u":"` + "\xe2\x80\xa8"}, {`,"n":"`, `,"n":"\"`},
		{`,"o":`, `,"o":null,"o":`}, {`,"o":`, `,"k":"",` + `"o":`}, {`,"o":`, `,"o" :`}, {`,"o":`, `,"o": `}, {`,"o":`, `,"o":\t`}, {`,"o":`, `,"O":`},
		{`,"o":{`, `,"o":{"metadata":"x",`}, {`,"o":{`, `,"o":[{`}, {`,"o":{`, `,"o":{ `}, {`,"o":{`, `,"o":{}}` + "\n" + `{"r":"pods","o":{`},
		{"}}\n", "}}"}, {"}}\n", "} }\n"}, {"}}\n", "}}\r\n"}, {"}}\n", "}}\n\n"}, {"}}\n", "}} \n"}, {"}}\n", "}}}\n"},
		{"}}\n", "}},\n"}, {"}}\n", `},"x":1}` + "\n"}, {"}}\n", "}}{}\n"}, {"}}\n", "}}\n" + `{"r":"masters","o":[]}` + "\n"},
		{"}}\n", "}}\n" + `{"r":"masters","o":{"id":"m9","apiAddr":"<&>"}}` + "\n"},
		{"}}\n", "}}\n" + `{"r":"pods","k":"a/b","o":null}` + "\n"}, {"}}\n", "}}\n" + `{"r":"pods","o":null}` + "\n"},
		{"}}\n", "}}\n" + `{"r":"pods","o":{"metadata":{"name":"x"}}}` + "\n"}, {"}}\n", "}}\n" + `{"r":"","k":"a","o":{}}` + "\n"},
		{"}}\n", "}}\n" + `{"r":"pods","k":"a","o":"str"}` + "\n"}, {"}}\n", "}}\n" + `{"r":"pods","k":"a","o":{}}`},
	}
	for range 40 {
		i := 1 + rng.IntN(len(lines)-1)
		e := objectEdits[rng.IntN(len(objectEdits))]
		if strings.Contains(lines[i], e.old) {
			with(i, strings.Replace(lines[i], e.old, e.new, 1))
		}
	}
	for _, e := range objectEdits {
		for i := 1; i < len(lines); i++ {
			if strings.Contains(lines[i], e.old) {
				with(i, strings.Replace(lines[i], e.old, e.new, 1))
				break
			}
		}
	}
	// Lines split, truncated, joined; the snapshot truncated.
	for range 10 {
		i := 1 + rng.IntN(len(lines)-1)
		cut := rng.IntN(len(lines[i]))
		with(i, lines[i][:cut]+"\n"+lines[i][cut:])
		with(i, lines[i][:cut])
		if i+1 < len(lines) {
			with(i, strings.TrimSuffix(lines[i], "\n"))
		}
	}
	all := strings.Join(lines, "")
	for range 10 {
		out = append(out, []byte(all[:rng.IntN(len(all))]))
	}
	out = append(out, []byte(all+"\n \n"), []byte(all+"x"), []byte(all+`{"r":"pods"`))
	return out
}

// bigObjectRecords returns pods longer than a restore's read buffer.
func bigObjectRecords(t testing.TB) []testRecord {
	pods, _ := v1.ResourceByName("pods")
	var recs []testRecord
	for i, n := range []int{1 << 16, 1<<16 + 100, 3 << 16} {
		p := podObj("default", fmt.Sprintf("big-%d", i), nil)
		p.Annotations = map[string]string{"big": strings.Repeat("b", n)}
		recs = append(recs, testRecord{pods, newKeyedRecord(pods, mustJSON(t, p), "default/"+p.Name, p.UID, "")})
	}
	return recs
}

func TestRestoreMatchesOldReader(t *testing.T) {
	masters := []MasterInfo{{ID: "m1", RaftAddr: "10.0.0.1:7000", APIAddr: "<&>\u2028"}, {ID: "m2"}}
	stores := map[string]*Store{
		"empty":     testStore(t, nil, nil),
		"masters":   testStore(t, nil, masters),
		"populated": populated(t).f.Store(),
		"big":       testStore(t, bigObjectRecords(t), masters),
	}
	for seed := range int64(scaled(2)) {
		// Random objects of at most 2 KiB (randomValues makes some of
		// megabytes), mutated below.
		var small []testRecord
		for _, r := range randomStoreRecords(t, seed, 2) {
			if b, err := r.rec.JSON(); err == nil && len(b) <= 2<<10 && len(small) < 400 {
				small = append(small, r)
			}
		}
		stores[fmt.Sprintf("random/%d", seed)] = testStore(t, small, masters)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, name := range slices.Sorted(maps.Keys(stores)) {
		t.Run(name, func(t *testing.T) {
			data := snapshotBoth(t, stores[name])
			if !restoreBoth(t, data, noWrap) {
				t.Fatal("the snapshot does not restore")
			}
			// The fast path reads every line WriteSnapshot wrote but those
			// with an escape in a key, uid or node name.
			fast, slow := inPlaceLines(t, data)
			if !strings.HasPrefix(name, "random") && slow > 0 {
				t.Errorf("%d lines read in place, %d not", fast, slow)
			}
			// Reads of a byte, of half what was asked, and a read error.
			restoreBoth(t, data, iotest.OneByteReader)
			restoreBoth(t, data, iotest.HalfReader)
			for _, n := range []int64{0, 10, int64(len(data) / 2), int64(len(data) - 1)} {
				restoreBoth(t, data, func(r io.Reader) io.Reader {
					return io.MultiReader(io.LimitReader(r, n), iotest.ErrReader(errors.New("disk gone")))
				})
			}
			restored, refused := 0, 0
			for i, m := range lineMutations(strings.SplitAfter(string(data), "\n"), rng) {
				if raceDetector && i%3 != 0 {
					continue // a third of them under the race detector
				}
				if restoreBoth(t, m, noWrap) {
					restored++
				} else {
					refused++
				}
			}
			t.Logf("%d bytes; mutations: %d restored, %d refused", len(data), restored, refused)
			if restored == 0 || refused == 0 {
				t.Errorf("mutations: %d restored, %d refused: they test one answer only", restored, refused)
			}
		})
	}
	// Random objects of any size, in every form, restored once.
	for seed := range int64(scaled(2)) {
		t.Run(fmt.Sprintf("random-large/%d", seed), func(t *testing.T) {
			data := snapshotBoth(t, testStore(t, randomStoreRecords(t, seed+10, 1), masters))
			if !restoreBoth(t, data, noWrap) {
				t.Fatal("the snapshot does not restore")
			}
			t.Logf("%d bytes", len(data))
		})
	}
}

// inPlaceLines counts the lines of a snapshot after its header that
// readObjectLine reads and those it does not; it fails if readHeaderLine
// does not read the header.
func inPlaceLines(t testing.TB, data []byte) (fast, slow int) {
	lines := strings.SplitAfter(string(data), "\n")
	if _, ok := readHeaderLine([]byte(lines[0])); !ok {
		t.Errorf("header %q not read in place", lines[0])
	}
	for _, l := range lines[1:] {
		if _, ok := readObjectLine([]byte(l)); ok {
			fast++
		} else if l != "" {
			slow++
		}
	}
	return fast, slow
}

// FuzzRestoreSnapshot restores arbitrary bytes with restoreInto and with
// the old reader: the same error, or stores in the same state.
func FuzzRestoreSnapshot(f *testing.F) {
	pods, _ := v1.ResourceByName("pods")
	n := 0
	rng := rand.New(rand.NewPCG(5, 6))
	recs := recordsOf(pods, mustJSON(f, podObj("default", "web", map[string]string{"<a>": "é"})), &n, rng, false)
	var buf bytes.Buffer
	txn, index := testStore(f, recs, []MasterInfo{{ID: "m1"}}).read()
	if err := WriteSnapshot(txn, index, &buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	for _, m := range lineMutations(strings.SplitAfter(buf.String(), "\n"), rng) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, data []byte) { restoreBoth(t, data, noWrap) })
}

// scaled is n, or a third of it (at least one) under the race detector:
// how many random stores the snapshot oracles' tests take.
func scaled(n int) int {
	if raceDetector {
		return max(1, n/3)
	}
	return n
}
