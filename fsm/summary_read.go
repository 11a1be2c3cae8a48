package fsm

import (
	"bytes"
	"encoding/json"
	"strconv"

	v1 "orch.io/orch/api/v1"
)

// readSummary reads a summary from an object's JSON as encoding/json
// writes it (the keys as its tags spell them), decoding the summary's
// fields and skipping every other value unread. ok is false when raw does
// not read so (the caller then decodes the whole object) or names no kind.
//
// It scans the bytes itself rather than through jsoniter: jsoniter's strict
// Skip reads every key of a skipped object into a new string, and the
// values a summary skips (annotations, managedFields, the spec) hold most
// of an object's keys, so a pod's summary cost ~65 allocations through it
// and costs the ones it keeps here (its strings, labels and references).
func readSummary(raw []byte) (_ *Summary, ok bool) {
	sc := summaryScanner{b: raw}
	s := &Summary{}
	var kind, scheduler, phase, typ string
	sc.object(func(field []byte) {
		switch string(field) {
		case "kind":
			kind = sc.str()
		case "type":
			// A Secret's is a string; another kind's (if any) is read
			// only when it is one.
			if c := sc.peek(); c == '"' || c == 'n' {
				typ = sc.str()
			} else {
				sc.skip()
			}
		case "metadata":
			sc.meta(&s.Meta)
		case "spec":
			scheduler = sc.stringField("schedulerName")
		case "status":
			phase = sc.stringField("phase")
		default:
			sc.skip()
		}
	})
	if sc.failed || kind == "" {
		return nil, false
	}
	sc.ws()
	if sc.i != len(sc.b) {
		return nil, false // something after the object
	}
	switch kind {
	case "Pod":
		s.SchedulerName, s.Phase = scheduler, phase
	case "Secret":
		s.SecretType = v1.SecretType(typ)
	}
	return s, true
}

// summaryScanner reads a JSON document in place. Any byte it does not
// expect sets failed, after which every read returns zero values and
// consumes nothing, so a malformed document ends the scan (the caller
// then decodes the object with encoding/json, which says what is wrong).
type summaryScanner struct {
	b      []byte
	i      int
	failed bool
}

// fail marks the document unreadable.
func (sc *summaryScanner) fail() { sc.failed, sc.i = true, len(sc.b) }

// ws skips whitespace.
func (sc *summaryScanner) ws() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace (0 at the end).
func (sc *summaryScanner) peek() byte {
	sc.ws()
	if sc.i >= len(sc.b) {
		return 0
	}
	return sc.b[sc.i]
}

// expect consumes c, the next byte after whitespace, or fails.
func (sc *summaryScanner) expect(c byte) {
	if sc.peek() != c {
		sc.fail()
		return
	}
	sc.i++
}

// null consumes a null and reports whether the next value was one.
func (sc *summaryScanner) null() bool {
	if sc.peek() == 'n' && bytes.HasPrefix(sc.b[sc.i:], []byte("null")) {
		sc.i += 4
		return true
	}
	return false
}

// object reads an object (or a null), calling field with each key, which
// must consume the key's value; the key's bytes are valid only during the
// call.
func (sc *summaryScanner) object(field func(key []byte)) {
	if sc.null() {
		return
	}
	sc.expect('{')
	if sc.peek() == '}' {
		sc.i++
		return
	}
	for !sc.failed {
		start, end, escaped := sc.stringToken()
		if sc.failed {
			return
		}
		key := sc.b[start+1 : end-1]
		if escaped {
			var k string
			if err := json.Unmarshal(sc.b[start:end], &k); err != nil {
				sc.fail()
				return
			}
			key = []byte(k)
		}
		sc.expect(':')
		if sc.failed {
			return
		}
		field(key)
		switch sc.peek() {
		case ',':
			sc.i++
		case '}':
			sc.i++
			return
		default:
			sc.fail()
		}
	}
}

// array reads an array (or a null), calling item for each element, which
// must consume it.
func (sc *summaryScanner) array(item func()) {
	if sc.null() {
		return
	}
	sc.expect('[')
	if sc.peek() == ']' {
		sc.i++
		return
	}
	for !sc.failed {
		item()
		switch sc.peek() {
		case ',':
			sc.i++
		case ']':
			sc.i++
			return
		default:
			sc.fail()
		}
	}
}

// stringToken consumes a string and returns where its token starts and
// ends (quotes included) and whether it holds an escape or a byte that is
// not printable ASCII (which encoding/json's decoding may change).
func (sc *summaryScanner) stringToken() (start, end int, escaped bool) {
	sc.expect('"')
	start = sc.i - 1
	for sc.i < len(sc.b) {
		c := sc.b[sc.i]
		sc.i++
		switch {
		case c == '"':
			return start, sc.i, escaped
		case c == '\\':
			escaped = true
			sc.i++ // the escaped byte; \uXXXX's digits are plain bytes
		case c < 0x20 || c >= 0x80:
			escaped = true
		}
	}
	sc.fail()
	return 0, 0, false
}

// skipString consumes a string without looking into it: the next quote
// not escaped by an odd number of backslashes ends it.
func (sc *summaryScanner) skipString() {
	sc.expect('"')
	for !sc.failed {
		j := bytes.IndexByte(sc.b[sc.i:], '"')
		if j < 0 {
			sc.fail()
			return
		}
		end, slashes := sc.i+j, 0
		for p := end - 1; p >= sc.i && sc.b[p] == '\\'; p-- {
			slashes++
		}
		sc.i = end + 1
		if slashes%2 == 0 {
			return
		}
	}
}

// str reads a string, or a null as "" (as encoding/json leaves a string
// field that is null).
func (sc *summaryScanner) str() string {
	if sc.null() {
		return ""
	}
	start, end, escaped := sc.stringToken()
	if sc.failed {
		return ""
	}
	if !escaped {
		return string(sc.b[start+1 : end-1])
	}
	var v string
	if err := json.Unmarshal(sc.b[start:end], &v); err != nil {
		sc.fail()
		return ""
	}
	return v
}

// token consumes a number or a literal and returns its bytes.
func (sc *summaryScanner) token() []byte {
	sc.ws()
	start := sc.i
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return sc.b[start:sc.i]
		case '"', '{', '[', ':':
			sc.fail()
			return nil
		}
		sc.i++
	}
	return sc.b[start:sc.i]
}

// int64 reads an integer; anything else fails, as encoding/json refuses
// it for an int64.
func (sc *summaryScanner) int64() int64 {
	v, err := strconv.ParseInt(string(sc.token()), 10, 64)
	if err != nil {
		sc.fail()
	}
	return v
}

// bool reads true or false.
func (sc *summaryScanner) bool() bool {
	switch string(sc.token()) {
	case "true":
		return true
	case "false":
		return false
	}
	sc.fail()
	return false
}

// time reads a timestamp with v1.Time's own decoding.
func (sc *summaryScanner) time(t *v1.Time) {
	sc.ws()
	start := sc.i
	sc.skip()
	if sc.failed {
		return
	}
	if err := t.UnmarshalJSON(sc.b[start:sc.i]); err != nil {
		sc.fail()
	}
}

// skip consumes one value of any kind.
func (sc *summaryScanner) skip() {
	switch sc.peek() {
	case '"':
		sc.skipString()
	case '{', '[':
		// Count brackets outside strings; the document is checked only as
		// far as a summary needs (the bytes were valid JSON when stored).
		depth := 0
		for sc.i < len(sc.b) {
			switch sc.b[sc.i] {
			case '"':
				sc.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			sc.i++
			if depth == 0 {
				return
			}
		}
		sc.fail()
	default:
		if len(sc.token()) == 0 {
			sc.fail()
		}
	}
}

// stringField reads an object and returns its string field name.
func (sc *summaryScanner) stringField(name string) string {
	var v string
	sc.object(func(field []byte) {
		if string(field) == name {
			v = sc.str()
		} else {
			sc.skip()
		}
	})
	return v
}

// meta reads metadata into m as encoding/json would decode it into
// v1.ObjectMeta, leaving Annotations and ManagedFields (and any field
// ObjectMeta does not have) unread.
func (sc *summaryScanner) meta(m *v1.ObjectMeta) {
	sc.object(func(field []byte) {
		switch string(field) {
		case "name":
			m.Name = sc.str()
		case "generateName":
			m.GenerateName = sc.str()
		case "namespace":
			m.Namespace = sc.str()
		case "uid":
			m.UID = sc.str()
		case "resourceVersion":
			m.ResourceVersion = sc.str()
		case "generation":
			if !sc.null() {
				m.Generation = sc.int64()
			}
		case "creationTimestamp":
			sc.time(&m.CreationTimestamp)
		case "deletionTimestamp":
			if !sc.null() {
				m.DeletionTimestamp = new(v1.Time)
				sc.time(m.DeletionTimestamp)
			}
		case "deletionGracePeriodSeconds":
			if !sc.null() {
				v := sc.int64()
				m.DeletionGracePeriodSeconds = &v
			}
		case "labels":
			if !sc.null() {
				m.Labels = map[string]string{}
				sc.object(func(k []byte) { m.Labels[string(k)] = sc.str() })
			}
		case "ownerReferences":
			if !sc.null() {
				m.OwnerReferences = []v1.OwnerReference{}
				sc.array(func() {
					var ref v1.OwnerReference
					sc.ownerReference(&ref)
					m.OwnerReferences = append(m.OwnerReferences, ref)
				})
			}
		case "finalizers":
			if !sc.null() {
				m.Finalizers = []string{}
				sc.array(func() { m.Finalizers = append(m.Finalizers, sc.str()) })
			}
		default: // annotations, managedFields
			sc.skip()
		}
	})
}

// ownerReference reads one metadata.ownerReferences item.
func (sc *summaryScanner) ownerReference(ref *v1.OwnerReference) {
	sc.object(func(field []byte) {
		switch string(field) {
		case "apiVersion":
			ref.APIVersion = sc.str()
		case "kind":
			ref.Kind = sc.str()
		case "name":
			ref.Name = sc.str()
		case "uid":
			ref.UID = sc.str()
		case "controller":
			if !sc.null() {
				v := sc.bool()
				ref.Controller = &v
			}
		case "blockOwnerDeletion":
			if !sc.null() {
				v := sc.bool()
				ref.BlockOwnerDeletion = &v
			}
		default:
			sc.skip()
		}
	})
}
