package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// Write clients of the create figure (-write-client).
const (
	// writeClientRaw sends each pod as JSON bytes made once from the typed
	// pod (only the name differs) and checks the answer's status and that
	// it names the pod, as the etcd side of the same figure sends prebuilt
	// put bodies and checks its answers: the load generator's own work is
	// then about the same on both sides of the ratio.
	writeClientRaw = "raw"
	// writeClientTyped encodes the typed pod per create and decodes the
	// stored pod back into it, as a typed client does.
	writeClientTyped = "typed"
)

// namePlaceholder stands for the pod's name in the template; it is a JSON
// string without escapes, so it appears once, verbatim, in the encoding.
const namePlaceholder = "orchbench-name-placeholder"

// rawPods makes the create bodies of writeClientRaw.
type rawPods struct {
	prefix, suffix []byte // the encoded pod around its name
}

// newRawPods encodes podBody once around a placeholder name.
func newRawPods() (*rawPods, error) {
	p := podBody(namePlaceholder)
	v1.SetTypeMeta(p)
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode the pod template: %w", err)
	}
	quoted := []byte(`"` + namePlaceholder + `"`)
	if bytes.Count(b, quoted) != 1 {
		return nil, fmt.Errorf("the pod template names its placeholder %d times, want once", bytes.Count(b, quoted))
	}
	i := bytes.Index(b, quoted)
	return &rawPods{prefix: b[:i+1], suffix: b[i+len(quoted)-1:]}, nil
}

// body appends the encoding of podBody(name) to dst; name must need no
// JSON escapes (the figure's names are letters, digits and dashes).
func (r *rawPods) body(dst []byte, name string) []byte {
	dst = append(dst, r.prefix...)
	dst = append(dst, name...)
	return append(dst, r.suffix...)
}

// rawCreator is one worker's state: its buffers are reused from create
// to create (each create returns before the next begins).
type rawCreator struct {
	pods        *rawPods
	body, reply []byte
}

// create posts the pod named name through cl and checks the answer names it.
func (w *rawCreator) create(ctx context.Context, cl *client.Client, name string) error {
	if strings.ContainsAny(name, `"\`) {
		return fmt.Errorf("pod name %q needs JSON escapes", name)
	}
	w.body = w.pods.body(w.body[:0], name)
	if err := cl.Do(ctx, http.MethodPost, "/api/v1/namespaces/default/pods", nil, w.body, &w.reply); err != nil {
		return err
	}
	if !bytes.Contains(w.reply, []byte(`"name":"`+name+`"`)) {
		return fmt.Errorf("create %s: the answer does not name the pod: %.200s", name, w.reply)
	}
	return nil
}
