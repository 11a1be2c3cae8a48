package fsm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strings"
	"testing"
)

// validJSONCases are inputs on both sides of json.Valid's line.
var validJSONCases = []string{
	``, ` `, `{}`, `[]`, ` [ ] `, `{"a":1}`, `{"a":1,}`, `{"a" : [1, 2.5, -0, -0.0e+1, 1E5, true, false, null]}`,
	`{"a":{"b":{"c":[[],{}]}}}`, `[1,]`, `[,1]`, `[1 2]`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`,
	`"x"`, `"\u00e9\n\t\"\\\/\b\f\r"`, `"\u00g0"`, `"\x"`, `"a` + "\x01" + `"`, "\"\xff\xfe\"", "\"\x7f\"",
	`01`, `-`, `1.`, `.5`, `+1`, `1e`, `1e+`, `-01`, `0.1e-2`, `truex`, `[truex]`, `nul`, `nulll`,
	`{"a":1}}`, `[[1]`, `{"a":[}`, `[]]`, `{"a":1}x`, "\t{\"a\"\r\n:\n1}\r\n",
	strings.Repeat("[", 64) + strings.Repeat("]", 64), strings.Repeat("[", 65) + strings.Repeat("]", 65),
	strings.Repeat("[", 200) + strings.Repeat("]", 199),
}

// validJSON answers as json.Valid; scanValid accepts nothing json.Valid
// refuses and, nested no deeper than it follows, all it accepts.
func TestValidJSON(t *testing.T) {
	raw, err := json.Marshal(benchPod("p"))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range append(validJSONCases, string(raw)) {
		checkValidJSON(t, []byte(in))
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, in := range validJSONCases {
		f.Add([]byte(in))
	}
	f.Fuzz(checkValidJSON)
}

func checkValidJSON(t *testing.T, data []byte) {
	want := json.Valid(data)
	if got := validJSON(data); got != want {
		t.Fatalf("validJSON(%q) = %v, json.Valid %v", data, got, want)
	}
	scan := scanValid(data)
	if scan && !want {
		t.Fatalf("scanValid(%q) accepts what json.Valid refuses", data)
	}
	if shallow := bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) <= scanMaxDepth; shallow && scan != want {
		t.Fatalf("scanValid(%q) = %v, json.Valid %v", data, scan, want)
	}
}

// TestSpecialBytes: in a word of ordinary bytes with one byte b at
// position p (and any byte after it), specialBytes' first mark is at p
// exactly when b is a quote, a backslash or a control character; there
// is none before p.
func TestSpecialBytes(t *testing.T) {
	special := func(b byte) bool { return b == '"' || b == '\\' || b < 0x20 }
	for _, after := range []byte{'a', 0, '"', 0xff} {
		for p := range 8 {
			for b := range 256 {
				word := []byte("abcdefgh")
				word[p] = byte(b)
				for q := p + 1; q < 8; q++ {
					word[q] = after
				}
				m := specialBytes(binary.LittleEndian.Uint64(word))
				first := bits.TrailingZeros64(m) >> 3 // 8: none
				want := 8
				switch {
				case special(byte(b)):
					want = p
				case special(after) && p < 7:
					want = p + 1
				}
				if first != want {
					t.Fatalf("word %q: first special byte marked at %d, want %d", word, first, want)
				}
			}
		}
	}
}
