package fsm

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	v1 "orch.io/orch/api/v1"
)

// verifyBenchObjects are the objects the Verify and decode benchmarks
// measure: the API benchmark's pod, a deployment, and a configmap holding
// 1 MiB of data.
func verifyBenchObjects() []v1.Object {
	data := make(map[string]string, 64)
	for i := range 64 {
		data[fmt.Sprintf("key-%02d", i)] = strings.Repeat(string(rune('a'+i%26)), 16<<10)
	}
	objs := []v1.Object{benchPod("web"), deployObj("default", "web", 3), &v1.ConfigMap{ObjectMeta: testMeta("default", "big"), Data: data}}
	for _, o := range objs {
		v1.SetTypeMeta(o)
	}
	return objs
}

// benchName names a benchmark of obj: its kind, and its size when large.
func benchName(obj v1.Object) string {
	if cm, ok := obj.(*v1.ConfigMap); ok {
		return fmt.Sprintf("ConfigMap%dKiB", len(cm.Data)*len(cm.Data["key-00"])>>10)
	}
	return v1.KindOf(obj)
}

// benchBytes encodes obj with encode and names its resource, for the
// benchmarks that decode it.
func benchBytes(b *testing.B, obj v1.Object, encode func(v1.Object) ([]byte, error)) ([]byte, v1.Resource) {
	raw, err := encode(obj)
	if err != nil {
		b.Fatal(err)
	}
	res, err := v1.ResourceOf(obj)
	if err != nil {
		b.Fatal(err)
	}
	return raw, res
}

// storedJSON is obj's bytes as a record stores them.
func storedJSON(obj v1.Object) ([]byte, error) { return NewRecord(obj, nil).JSON() }

// processCPU returns the CPU time the process has used: a benchmark's CPU
// per operation, with the garbage collector's share, is the difference
// over b.N, which other work on a shared machine does not inflate as it
// inflates the elapsed time.
func processCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopCPU runs op b.N times and reports its CPU per run (cpu-ns/op).
func loopCPU(b *testing.B, op func()) {
	b.ReportAllocs()
	start := processCPU(b)
	for b.Loop() {
		op()
	}
	b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkVerifyCreate measures the proof a master makes before
// proposing a create: decode the object, encode it again, compare.
func BenchmarkVerifyCreate(b *testing.B) {
	for _, obj := range verifyBenchObjects() {
		cmd, err := NewCreate(obj)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(benchName(obj), func(b *testing.B) {
			loopCPU(b, func() {
				if err := Verify(cmd); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkRecordObject measures decoding a stored object, as every
// reader of a record's object does once per record.
func BenchmarkRecordObject(b *testing.B) {
	for _, obj := range verifyBenchObjects() {
		raw, res := benchBytes(b, obj, storedJSON)
		b.Run(benchName(obj), func(b *testing.B) {
			loopCPU(b, func() {
				if NewLazyRecord(res, raw).Object() == nil {
					b.Fatal("no object")
				}
			})
		})
	}
}

// BenchmarkVerifyEqualityVsEncode compares the two ways to finish the proof
// once the bytes are decoded: encode the decoded object again and compare
// bytes (what Verify does), or compare the decoded object with the one the
// caller encoded (reflect.DeepEqual). The second is no cheaper on a pod or a
// deployment, so Verify keeps the encode.
func BenchmarkVerifyEqualityVsEncode(b *testing.B) {
	for _, obj := range verifyBenchObjects() {
		raw, res := benchBytes(b, obj, storedJSON)
		decoded := res.New()
		if err := decodeObject(raw, decoded); err != nil {
			b.Fatal(err)
		}
		b.Run(benchName(obj)+"/DeepEqual", func(b *testing.B) {
			loopCPU(b, func() {
				if !reflect.DeepEqual(decoded, obj) {
					b.Fatal("the decoded object differs")
				}
			})
		})
		b.Run(benchName(obj)+"/Encode", func(b *testing.B) {
			loopCPU(b, func() {
				buf := getEncoder()
				if _, err := encodeInto(buf, decoded); err != nil {
					b.Fatal(err)
				}
				putEncoder(buf)
			})
		})
	}
}

// BenchmarkDecodeRequest measures the API's decode of a typed client's
// request body (json.Marshal of orch's own types), before any write.
func BenchmarkDecodeRequest(b *testing.B) {
	for _, obj := range verifyBenchObjects() {
		raw, res := benchBytes(b, obj, func(o v1.Object) ([]byte, error) { return json.Marshal(o) })
		b.Run(benchName(obj), func(b *testing.B) {
			loopCPU(b, func() {
				if !DecodeRequest(raw, res.New()) {
					b.Fatal("refused")
				}
			})
		})
	}
}
