package fsm

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
)

// validJSON reports whether data is one JSON value: exactly json.Valid's
// answer, in less time. A committed create is checked so on every master
// (its bytes are stored as they came), and json.Valid's scanner takes a few
// nanoseconds a byte, which for a pod is a sizeable part of its apply.
// scanValid accepts only what json.Valid accepts and is several times
// faster; what it does not accept (invalid input, or nesting deeper than
// it tracks) goes to json.Valid, so the answer is json.Valid's whatever
// the input, as every master's must be.
func validJSON(data []byte) bool {
	return scanValid(data) || json.Valid(data)
}

// scanMaxDepth is the deepest nesting scanValid follows (one bit a level).
const scanMaxDepth = 64

// scanValid reports whether data is one JSON value (RFC 8259, as
// encoding/json's scanner reads it: any byte but a control character may
// stand in a string, UTF-8 or not) nested at most scanMaxDepth deep; false
// means "not shown valid", not "invalid".
func scanValid(data []byte) bool {
	end, ok := scanValue(data, 0)
	return ok && skipSpace(data, end) == len(data)
}

// scanValue reads the JSON value that starts at or after data[i] (after
// whitespace), nested at most scanMaxDepth deep, and returns the index just
// past it; ok false means "not shown valid", not "invalid".
func scanValue(data []byte, i int) (end int, ok bool) {
	// objects has bit d set when the container at depth d+1 is an object
	// (else an array).
	var objects uint64
	depth, n := 0, len(data)
	ok = true
	// The loop reads a value, then what may follow it in its container.
	for {
		i = skipSpace(data, i)
		if i >= n {
			return i, false
		}
		switch c := data[i]; {
		case c == '{' || c == '[':
			if depth == scanMaxDepth {
				return i, false
			}
			i = skipSpace(data, i+1)
			if c == '{' {
				objects |= 1 << depth
			} else {
				objects &^= 1 << depth
			}
			depth++
			if i < n && data[i] == c+2 { // '}' is '{'+2, ']' is '['+2
				i++
				depth--
				break
			}
			if c == '{' {
				if i, ok = scanKey(data, i); !ok {
					return i, false
				}
			}
			continue
		case c == '"':
			i, ok = scanString(data, i)
		case c == '-' || isDigit(c):
			i, ok = scanNumber(data, i)
		case c == 't':
			i, ok = scanWord(data, i, "true")
		case c == 'f':
			i, ok = scanWord(data, i, "false")
		case c == 'n':
			i, ok = scanWord(data, i, "null")
		default:
			return i, false
		}
		if !ok {
			return i, false
		}
		// After a value: close containers, or go on to the next element.
	next:
		if depth == 0 {
			return i, true
		}
		i = skipSpace(data, i)
		if i >= n {
			return i, false
		}
		inObject := objects&(1<<(depth-1)) != 0
		switch c := data[i]; {
		case c == ',':
			if inObject {
				if i, ok = scanKey(data, skipSpace(data, i+1)); !ok {
					return i, false
				}
			} else {
				i++
			}
		case inObject && c == '}', !inObject && c == ']':
			i++
			depth--
			goto next
		default:
			return i, false
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanKey reads an object's key (a string at i) and the colon after it.
func scanKey(data []byte, i int) (int, bool) {
	if i >= len(data) || data[i] != '"' {
		return i, false
	}
	i, ok := scanString(data, i)
	if !ok {
		return i, false
	}
	i = skipSpace(data, i)
	if i >= len(data) || data[i] != ':' {
		return i, false
	}
	return i + 1, true
}

// scanString reads a string whose opening quote is at i.
func scanString(data []byte, i int) (int, bool) {
	for i++; i < len(data); {
		// Eight bytes at a time up to the first that is not ordinary.
		for i+8 <= len(data) {
			if m := specialBytes(binary.LittleEndian.Uint64(data[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(data) {
			break
		}
		c := data[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			i++ // most of a string: no switch for each byte
			continue
		}
		switch {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(data) {
				return i, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) {
					return i, false
				}
				for _, h := range data[i+2 : i+6] {
					if !isHex(h) {
						return i, false
					}
				}
				i += 6
			default:
				return i, false
			}
		default: // a control character
			return i, false
		}
	}
	return i, false
}

// Word-at-a-time byte tests (Hacker's Delight 6-1; "Bit Twiddling Hacks":
// haszero, hasless): each sets the high bit of the bytes of a
// little-endian word that hold a quote, a backslash or a control
// character. Bytes above the first one set may be set wrongly (a borrow
// carries upwards), the first is always right: scanString moves to it and
// reads it byte by byte.
const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// specialBytes marks the bytes of w (little-endian) a string's fast path
// must stop at: '"', '\' or below 0x20.
func specialBytes(w uint64) uint64 {
	quote := w ^ ('"' * lowBits)
	backslash := w ^ ('\\' * lowBits)
	return ((quote-lowBits)&^quote |
		(backslash-lowBits)&^backslash |
		(w-0x20*lowBits)&^w) & highBits
}

// scanNumber reads a number that starts at i.
func scanNumber(data []byte, i int) (int, bool) {
	n := len(data)
	if data[i] == '-' {
		i++
	}
	switch {
	case i < n && data[i] == '0':
		i++
	case i < n && data[i] >= '1' && data[i] <= '9':
		for i < n && isDigit(data[i]) {
			i++
		}
	default:
		return i, false
	}
	if i < n && data[i] == '.' {
		i++
		if i >= n || !isDigit(data[i]) {
			return i, false
		}
		for i < n && isDigit(data[i]) {
			i++
		}
	}
	if i < n && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < n && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= n || !isDigit(data[i]) {
			return i, false
		}
		for i < n && isDigit(data[i]) {
			i++
		}
	}
	return i, true
}

// scanWord reads the literal word at i.
func scanWord(data []byte, i int, word string) (int, bool) {
	if len(data)-i < len(word) || string(data[i:i+len(word)]) != word {
		return i, false
	}
	return i + len(word), true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
