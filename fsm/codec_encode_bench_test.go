package fsm

import (
	"bytes"
	"encoding/json"
	"testing"
)

// BenchmarkEncode measures encoding an object as NewCreate and Verify do:
// the fast encoder against encoding/json into a reused buffer.
func BenchmarkEncode(b *testing.B) {
	for _, obj := range verifyBenchObjects() {
		b.Run(benchName(obj)+"/fast", func(b *testing.B) {
			e := getEncoder()
			loopCPU(b, func() {
				if _, err := encodeInto(e, obj); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(benchName(obj)+"/encoding-json", func(b *testing.B) {
			var buf bytes.Buffer
			loopCPU(b, func() {
				buf.Reset()
				if err := json.NewEncoder(&buf).Encode(obj); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
